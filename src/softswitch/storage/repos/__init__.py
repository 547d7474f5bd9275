"""Repositories: the queries the services and the API run, one module per concern (layer L3).

They take a session factory and plain values (ids, names, texts), never a request or an actor
object of an upper layer, and each write runs in one transaction with its audit-log row.
"""

from softswitch.storage.repos.audit import record_audit
from softswitch.storage.repos.changes import Change, ChangeFeedRepo, record_change
from softswitch.storage.repos.params import PARAM_ENTITY, Editor, ParamOverrideRepo
from softswitch.storage.repos.registrations import RegistrationRepo, StoredBinding
from softswitch.storage.repos.tokens import TokenOwner, TokenRepo, hash_token

__all__ = [
    "PARAM_ENTITY",
    "Change",
    "ChangeFeedRepo",
    "Editor",
    "ParamOverrideRepo",
    "RegistrationRepo",
    "StoredBinding",
    "TokenOwner",
    "TokenRepo",
    "hash_token",
    "record_audit",
    "record_change",
]
