"""Every configuration entity, in dependency order (a row only refers to rows listed earlier):
what the API mounts and what ``config export``/``apply`` walk."""

from __future__ import annotations

from softswitch.manage.customers import ACCOUNT, AGENT, PHONE
from softswitch.manage.entities import EntitySpec
from softswitch.manage.gateways import MAPPING_GATEWAY, ROUTING_GATEWAY
from softswitch.manage.rates import RATE, RATE_TABLE
from softswitch.manage.security_lists import SECURITY_LIST_ENTRY

__all__ = ["ENTITIES"]

ENTITIES: tuple[EntitySpec, ...] = (
    RATE_TABLE,
    RATE,
    AGENT,
    ACCOUNT,
    PHONE,
    MAPPING_GATEWAY,
    ROUTING_GATEWAY,
    SECURITY_LIST_ENTRY,
)
