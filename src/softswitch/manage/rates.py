"""Rate tables and their rates, one at a time (bulk CSV lives in ``rate_import``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

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
from softswitch.operators import Actor, Resource
from softswitch.storage.models import Account, Agent, Rate, RateTable, RoutingGateway

__all__ = ["RATE", "RATE_TABLE"]


class RateTableCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Code
    currency: Currency
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
    filters=("name", "currency"),
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
    free_seconds: int = Field(default=0, ge=0, le=86400)
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
    filters=("prefix", "area_name"),
    sorts=("id", "prefix", "area_name", "rate_per_minute", "effective_from"),
    default_sort="prefix",
    parent="rate_table_id",
    unique=(("rate_table_id", "prefix", "effective_from"),),
    check=_check_rate,
    prepare=_prepare_rate,
)
