"""Field types shared by the entity schemas: money, currencies, codes, dial strings, addresses,
rewrite rules, and the partial ("patch") form of a schema.

Each type refuses bad input with a message that says what is allowed, so an API answer or a
``config apply`` error names the field and the fix.
"""

from __future__ import annotations

import ipaddress
from decimal import Decimal
from typing import Annotated, Any, Optional

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, create_model
from pydantic.fields import FieldInfo

from softswitch.routing import RewriteError, parse_rules

__all__ = [
    "MAX_ID",
    "Code",
    "Count",
    "Currency",
    "DialPrefix",
    "Host",
    "Memo",
    "Name",
    "NonNegativeMoney",
    "RowId",
    "RuleList",
    "Secret",
    "SipCodeList",
    "SourceList",
    "Username",
    "partial",
]

_MONEY_PLACES = 6


# The validators pass None through: in a PATCH body (``partial``) they also see an explicit
# null, which the service then accepts or refuses by the column's nullability.


def _money(value: Decimal | None) -> Decimal | None:
    if value is None:
        return None
    if not value.is_finite():
        raise ValueError("must be a finite amount")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -_MONEY_PLACES:
        raise ValueError(f"at most {_MONEY_PLACES} decimal places")
    return value


MAX_MONEY = Decimal(10) ** 12
"""Far above any balance or price, far below what a BIGINT of micro-units holds."""

NonNegativeMoney = Annotated[Decimal, Field(ge=0, le=MAX_MONEY), AfterValidator(_money)]
"""An amount ≥ 0 with at most six decimal places (what the database stores exactly)."""

Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code, e.g. USD")]

Code = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._@-]*$",
        description="letters, digits and . _ @ - (not first)",
    ),
]
"""Identifiers operators type and files refer to: account codes, gateway and table names."""

MAX_ID = 2**31 - 1
"""Row ids are 32-bit integers on PostgreSQL."""

RowId = Annotated[int, Field(ge=1, le=MAX_ID)]
"""A reference to another row."""

Count = Annotated[int, Field(ge=0, le=1_000_000)]
"""Call counts and line limits."""


def _text(value: str | None) -> str | None:
    if value is not None and any(ord(char) < 32 and char not in "\t\n" for char in value):
        raise ValueError("control characters are not allowed")
    return value


Name = Annotated[str, Field(max_length=128), AfterValidator(_text)]
Memo = Annotated[str, Field(max_length=2000), AfterValidator(_text)]
Host = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[A-Za-z0-9.:_\[\]-]+$")]
"""A host name or an IPv4/IPv6 address."""
Secret = Annotated[str, Field(min_length=6, max_length=128), AfterValidator(_text)]
Username = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9+*#._@-]+$")]

DialPrefix = Annotated[
    str, Field(min_length=1, max_length=32, pattern=r"^[0-9*#+]+$", description="digits, + * #")
]


def _sources(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    canonical = []
    for text in values:
        try:
            canonical.append(str(ipaddress.ip_network(text.strip(), strict=False)))
        except ValueError:
            raise ValueError(f"{text!r} is not an IP address or CIDR block") from None
    return canonical


SourceList = Annotated[list[str], Field(max_length=256), AfterValidator(_sources)]
"""IP addresses or CIDR blocks, stored in canonical network form (10.0.0.1 → 10.0.0.1/32)."""


def _rules(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    try:
        parse_rules(values)
    except RewriteError as exc:
        raise ValueError(str(exc)) from None
    return [value.strip() for value in values]


RuleList = Annotated[
    list[str],
    Field(max_length=64, description="rewrite rules: strip N | add P | prefix FROM TO | regex P R"),
    AfterValidator(_rules),
]


def _sip_codes(values: list[int] | None) -> list[int] | None:
    if values is None:
        return None
    for code in values:
        if not 300 <= code <= 699:
            raise ValueError(f"{code} is not a SIP final failure status (300-699)")
    return sorted(set(values))


SipCodeList = Annotated[list[int], AfterValidator(_sip_codes)]


def partial(model: type[BaseModel], name: str) -> type[BaseModel]:
    """``model`` with every field optional and defaulting to unset: the body of a PATCH.

    Constraints are kept (they apply to the values given); whether null is allowed is decided by
    the service from the column, so clearing an optional field works and nulling a required one
    is refused by name.
    """
    fields: dict[str, Any] = {}
    for field_name, info in model.model_fields.items():
        copy = FieldInfo.merge_field_infos(info, default=None)
        copy.default_factory = None
        fields[field_name] = (Optional[info.annotation], copy)  # noqa: UP045 (a runtime form)
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)
