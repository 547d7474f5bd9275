"""Rate tables and their rates, one at a time (bulk CSV lives in ``rate_import``).

Issue 5 adds how a table reads time (``time_of_day_mode``, ``time_zone``) and, per rate, a flat
price of the first period (``first_price``), a minimum billed duration (``min_duration``) and a
time-of-day window (``profile``). A profile is checked by the rating code's own parser
(``softswitch.billing.profiles``, through ``rate_csv.profile_error`` like a CSV import), so a
window the API accepts is one the call path can read.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

from softswitch.manage.entities import Dependent, EntitySpec, Reference
from softswitch.manage.errors import Invalid
from softswitch.manage.fields import (
    Code,
    Currency,
    Memo,
    Name,
    NonNegativeMoney,
    partial,
)
from softswitch.manage.rate_csv import MAX_MIN_DURATION, MAX_PROFILE_LENGTH, profile_error
from softswitch.operators import Actor, Resource
from softswitch.storage.models import Account, Agent, Rate, RateTable, RoutingGateway

__all__ = [
    "RATE",
    "RATE_TABLE",
    "Profile",
    "TimeZone",
    "check_profile",
    "check_time_zone",
]


def check_time_zone(value: str | None) -> str | None:
    """``value`` when it names an IANA time zone this machine knows (``Europe/London``);
    raises ``ValueError`` saying so otherwise. None passes (a PATCH null, refused later by the
    column's nullability)."""
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"{value!r} is not a known IANA time zone (e.g. UTC, Europe/London, America/New_York)"
        ) from None
    return value


def check_profile(value: str | None) -> str | None:
    """``value`` stripped, when it is empty (any time) or a window the rating code reads
    (``mon-fri 08:00-18:00``, see ``softswitch.billing.profiles``); raises ``ValueError`` with
    the reason otherwise (the same check as a CSV import's)."""
    if value is None:
        return None
    text = value.strip()
    reason = profile_error(text) if text else None
    if reason is not None:
        raise ValueError(reason)
    return text


TimeZone = Annotated[
    str,
    Field(min_length=1, max_length=64, description="IANA time zone the profiles are read in"),
    AfterValidator(check_time_zone),
]

Profile = Annotated[
    str,
    Field(
        max_length=MAX_PROFILE_LENGTH,
        description="time-of-day window, e.g. 'mon-fri 08:00-18:00'; empty: at any time",
    ),
    AfterValidator(check_profile),
]


class RateTableCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Code
    currency: Currency
    time_of_day_mode: Literal["answer", "split"] = Field(
        default="answer",
        description="answer: the rate in force at answer prices the whole call; split: the "
        "call is cut at the profiles' boundaries and each part priced by its own rate",
    )
    time_zone: TimeZone = "UTC"
    memo: Memo = ""


class RateTableOut(RateTableCreate):
    model_config = ConfigDict(extra="ignore")

    id: int
    created_at: datetime
    updated_at: datetime


RATE_TABLE = EntitySpec(
    name="rate_table",
    title="rate table",
    model=RateTable,
    resource=Resource.RATE_TABLE,
    create=RateTableCreate,
    update=partial(RateTableCreate, "RateTableUpdate"),
    out=RateTableOut,
    natural_key="name",
    unique=(("name",),),
    dependents=(
        Dependent(Account, "rate_table_id", "account"),
        Dependent(Agent, "rate_table_id", "agent"),
        Dependent(RoutingGateway, "rate_table_id", "routing gateway"),
    ),
    filters=("name", "currency", "time_of_day_mode", "time_zone"),
    sorts=("id", "name", "created_at"),
    default_sort="name",
)


class RateCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prefix: str = Field(
        min_length=1,
        max_length=32,
        pattern=r"^[0-9]+$",
        description="digits of the callee (as rewritten) this price applies to",
    )
    area_name: Name = ""
    rate_per_minute: NonNegativeMoney
    initial_increment: int = Field(default=60, ge=1, le=3600, description="seconds")
    subsequent_increment: int = Field(default=60, ge=1, le=3600, description="seconds")
    connection_fee: NonNegativeMoney = Decimal(0)
    first_price: NonNegativeMoney | None = Field(
        default=None,
        description="flat price of the whole first period (initial_increment seconds); "
        "null: the first period is priced at rate_per_minute",
    )
    free_seconds: int = Field(default=0, ge=0, le=86400)
    min_duration: int = Field(
        default=0,
        ge=0,
        le=MAX_MIN_DURATION,
        description="seconds an answered call with billable time is billed for at least",
    )
    profile: Profile = ""
    effective_from: AwareDatetime | None = Field(default=None, description="default: now")
    effective_to: AwareDatetime | None = None


class RateOut(RateCreate):
    model_config = ConfigDict(extra="ignore")

    id: int
    rate_table_id: int
    effective_from: datetime


def _check_rate(values: Mapping[str, Any]) -> None:
    start, end = values.get("effective_from"), values.get("effective_to")
    if start is not None and end is not None and end <= start:
        raise Invalid("effective_to must be after effective_from", field="effective_to")


def _prepare_rate(values: dict[str, Any], actor: Actor, now: datetime) -> None:
    if values.get("effective_from") is None:
        values["effective_from"] = now


RATE = EntitySpec(
    name="rate",
    title="rate",
    model=Rate,
    resource=Resource.RATE_TABLE,
    create=RateCreate,
    update=partial(RateCreate, "RateUpdate"),
    out=RateOut,
    natural_key="prefix",
    references=(Reference("rate_table_id", RateTable, "rate table"),),
    filters=("prefix", "area_name", "profile"),
    sorts=("id", "prefix", "area_name", "rate_per_minute", "effective_from", "profile"),
    default_sort="prefix",
    parent="rate_table_id",
    # effective_from last: a duplicate is refused naming it, as before profiles existed.
    unique=(("rate_table_id", "prefix", "profile", "effective_from"),),
    check=_check_rate,
    prepare=_prepare_rate,
)
