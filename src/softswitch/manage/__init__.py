"""Management services (layer L4): the operator's hands on accounts, agents, phones, gateways,
rate tables, payments, CDRs and the whole configuration.

The HTTP API and the CLI call these; they own the rules (role policy, validation, one
transaction per request with its audit rows, change-feed rows for routing-relevant writes).
"""

from softswitch.manage.changes import ChangeFeed, Subscriber
from softswitch.manage.context import ManageContext, Who
from softswitch.manage.errors import (
    Conflict,
    Forbidden,
    Invalid,
    ManageError,
    NotFound,
    Unavailable,
)

__all__ = [
    "ChangeFeed",
    "Conflict",
    "Forbidden",
    "Invalid",
    "ManageContext",
    "ManageError",
    "NotFound",
    "Subscriber",
    "Unavailable",
    "Who",
]
