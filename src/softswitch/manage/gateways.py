"""Mapping gateways (customer trunks, ingress) and routing gateways (carriers, egress): their
schemas and specs. The storage models document how routing uses each field."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from softswitch.manage.entities import EntitySpec, Owner, Reference
from softswitch.manage.errors import Invalid
from softswitch.manage.fields import (
    Code,
    Count,
    DialPrefix,
    Host,
    RowId,
    RuleList,
    Secret,
    SipCodeList,
    SourceList,
    Username,
    partial,
)
from softswitch.operators import Resource
from softswitch.storage.models import (
    Account,
    MappingGateway,
    MediaProxyMode,
    RateTable,
    Registration,
    RoutingGateway,
    Transport,
)

__all__ = ["MAPPING_GATEWAY", "ROUTING_GATEWAY"]

_MIN_REGISTER_EXPIRES = 60
_MAX_REGISTER_EXPIRES = 86400


def _pair(values: Mapping[str, Any], user: str, password: str, what: str) -> None:
    if bool(values.get(user)) != bool(values.get(password)):
        raise Invalid(f"{what} needs both {user} and {password}", field=password)


# -- mapping gateways ------------------------------------------------------------------------


class MappingGatewayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Code
    account_id: RowId
    source_ips: SourceList = Field(default_factory=list, description="addresses or CIDR blocks")
    auth_username: Username | None = None
    auth_password: Secret | None = None
    capacity: Count | None = Field(default=None, description="line limit; null: unlimited")
    caller_rewrite: RuleList = Field(default_factory=list)
    callee_rewrite: RuleList = Field(default_factory=list)
    allowed_prefixes: list[DialPrefix] = Field(default_factory=list, description="empty: any")
    media_proxy: MediaProxyMode = MediaProxyMode.AUTO
    transport: Transport = Transport.UDP
    enabled: bool = True


class MappingGatewayOut(MappingGatewayCreate):
    model_config = ConfigDict(extra="ignore")

    id: int
    created_at: datetime
    updated_at: datetime


def _check_mapping(values: Mapping[str, Any]) -> None:
    _pair(values, "auth_username", "auth_password", "digest authentication")
    if not values.get("source_ips") and not values.get("auth_username"):
        raise Invalid(
            "a mapping gateway is recognised by source_ips or by auth_username: give one",
            field="source_ips",
        )


MAPPING_GATEWAY = EntitySpec(
    name="mapping_gateway",
    title="mapping gateway",
    model=MappingGateway,
    resource=Resource.MAPPING_GATEWAY,
    create=MappingGatewayCreate,
    update=partial(MappingGatewayCreate, "MappingGatewayUpdate"),
    out=MappingGatewayOut,
    natural_key="name",
    owner=Owner.ACCOUNT_CHILD,
    unique=(("name",), ("auth_username",)),
    references=(Reference("account_id", Account, "account"),),
    filters=("name", "account_id", "enabled", "transport"),
    sorts=("id", "name", "account_id", "capacity", "created_at"),
    default_sort="name",
    secrets=frozenset({"auth_password"}),
    check=_check_mapping,
)


# -- routing gateways ------------------------------------------------------------------------


class RoutingGatewayCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Code
    registration: Registration = Field(
        default=Registration.STATIC,
        description="static: host/port; dynamic: it registers to us (a GSM gateway)",
    )
    host: Host | None = None
    port: int | None = Field(default=None, gt=0, lt=65536)
    transport: Transport = Transport.UDP
    prefixes: list[DialPrefix] = Field(
        default_factory=list, description="callee prefixes it serves; empty: every callee"
    )
    priority: int = Field(default=0, ge=0, le=1000, description="lower is tried first")
    weight: int = Field(default=1, ge=0, le=1000, description="share among equal priority")
    capacity: Count | None = Field(default=None, description="line limit; null: unlimited")
    asr_threshold_percent: int | None = Field(default=None, ge=0, le=100)
    caller_rewrite: RuleList = Field(default_factory=list)
    callee_rewrite: RuleList = Field(default_factory=list)
    caller_id_rules: RuleList = Field(default_factory=list)
    failover_codes: SipCodeList = Field(
        default_factory=list, description="extra statuses that try the next gateway"
    )
    rate_table_id: RowId | None = Field(default=None, description="the carrier's cost to us")
    media_proxy: MediaProxyMode = MediaProxyMode.AUTO
    enabled: bool = True
    auth_username: Username | None = None
    auth_password: Secret | None = None
    register_username: Username | None = None
    register_password: Secret | None = None
    register_expires: int | None = Field(
        default=None, ge=_MIN_REGISTER_EXPIRES, le=_MAX_REGISTER_EXPIRES
    )


class RoutingGatewayOut(RoutingGatewayCreate):
    model_config = ConfigDict(extra="ignore")

    id: int
    created_at: datetime
    updated_at: datetime


def _check_routing(values: Mapping[str, Any]) -> None:
    _pair(values, "auth_username", "auth_password", "a registering gateway")
    _pair(values, "register_username", "register_password", "outbound registration")
    if values.get("registration") is Registration.STATIC and not values.get("host"):
        raise Invalid("a static routing gateway needs the host calls go to", field="host")
    if values.get("registration") is Registration.DYNAMIC and not values.get("auth_username"):
        raise Invalid(
            "a dynamic routing gateway registers with auth_username/auth_password: give them",
            field="auth_username",
        )


ROUTING_GATEWAY = EntitySpec(
    name="routing_gateway",
    title="routing gateway",
    model=RoutingGateway,
    resource=Resource.ROUTING_GATEWAY,
    create=RoutingGatewayCreate,
    update=partial(RoutingGatewayCreate, "RoutingGatewayUpdate"),
    out=RoutingGatewayOut,
    natural_key="name",
    unique=(("name",), ("auth_username",)),
    references=(Reference("rate_table_id", RateTable, "rate table"),),
    filters=("name", "enabled", "registration", "transport", "rate_table_id", "host"),
    sorts=("id", "name", "priority", "weight", "capacity", "created_at"),
    default_sort="name",
    secrets=frozenset({"auth_password", "register_password"}),
    check=_check_routing,
)
