"""Static black- and whitelist entries (issue 6 §1): their schemas and spec.

An entry blocks (blacklist) or exempts from the automatic defences (whitelist) a caller or
callee number prefix or a source network, for every call (no ``account_id``) or for one
account's calls; ``softswitch.security.lists`` has the rules. Values are stored canonical
(``parse_entry_value``), so ``10.0.0.1`` and ``10.0.0.1/32`` are one entry and an API answer
shows what the call path will match.

Switch-wide data: operators and admins only. Deleting an account is refused while it has
entries (like its phones), so an account's exceptions never silently become nobody's.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from softswitch.manage.entities import EntitySpec, Reference
from softswitch.manage.errors import Invalid
from softswitch.manage.fields import Name, RowId, partial
from softswitch.operators import Resource
from softswitch.security.lists import EntryKind, parse_entry_value
from softswitch.storage.models import (
    Account,
    SecurityEntryKind,
    SecurityListEntry,
    SecurityListType,
)

__all__ = ["SECURITY_LIST_ENTRY", "SecurityListEntryCreate", "SecurityListEntryOut"]

_VALUE_HELP = (
    "caller/callee: a number prefix (digits, optionally a leading +); "
    "ip: an IP address or network in CIDR form (stored as a network: 10.0.0.1 → 10.0.0.1/32)"
)


def _canonical(value: str | None) -> str | None:
    # The canonical form of a value does not depend on its kind (a prefix has no '.' or ':',
    # an address always has one), so it is found here, where a PATCH that changes only the
    # value has no kind at hand; whether it suits the kind is ``_check``'s business.
    if value is None:
        return None
    for kind in (EntryKind.CALLER, EntryKind.IP):
        try:
            return parse_entry_value(kind, value)
        except ValueError:
            continue
    raise ValueError(
        f"{value!r} is neither a number prefix (digits, optionally a leading +) "
        "nor an IP address or network (CIDR)"
    )


EntryValue = Annotated[
    str, Field(min_length=1, max_length=64, description=_VALUE_HELP), AfterValidator(_canonical)
]


class SecurityListEntryCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    list_type: SecurityListType = Field(
        description="blacklist: blocked; whitelist: exempt from the automatic defences and "
        "from shorter blacklisted prefixes"
    )
    kind: SecurityEntryKind = Field(
        description="caller/callee: the number (after ingress rewrite), by prefix; "
        "ip: the source address of SIP packets"
    )
    value: EntryValue
    account_id: RowId | None = Field(
        default=None, description="only this account's calls; null: every call (global)"
    )
    note: Name = ""


class SecurityListEntryOut(SecurityListEntryCreate):
    model_config = ConfigDict(extra="ignore")

    id: int
    created_at: datetime
    updated_at: datetime


def _check(values: Mapping[str, Any]) -> None:
    kind, value = values.get("kind"), values.get("value")
    if kind is None or value is None:
        return
    try:
        parse_entry_value(EntryKind(kind.value), value)
    except ValueError as exc:
        raise Invalid(f"{exc} (kind {kind.value})", field="value") from None


SECURITY_LIST_ENTRY = EntitySpec(
    name="security_list_entry",
    title="security list entry",
    model=SecurityListEntry,
    resource=Resource.SECURITY_LIST,
    create=SecurityListEntryCreate,
    update=partial(SecurityListEntryCreate, "SecurityListEntryUpdate"),
    out=SecurityListEntryOut,
    natural_key="value",
    unique=(("list_type", "kind", "account_id", "value"),),
    null_is_value=frozenset({"account_id"}),
    references=(Reference("account_id", Account, "account"),),
    filters=("list_type", "kind", "account_id", "value"),
    sorts=("id", "list_type", "kind", "account_id", "value", "created_at"),
    default_sort="value",
    check=_check,
)
