"""Who is calling, and may they (issue 4 §2).

An INVITE is the call of:

* a **phone** of the switch, proven by digest credentials (the engine verified them and hands
  in the username); a phone that sends none is challenged first (recognised by its number in
  the From URI);
* a **mapping gateway** (a customer's trunk), recognised by its source address, or by digest
  credentials when it has a username (challenged when its From URI's user is that username);
* a **routing gateway calling in** (a carrier delivering a DID), recognised by its address; it
  may only reach a phone of the switch.

Anything else is an illegal call: 403, or no answer at all when SS_REPLY_UNAUTHORIZED is Off.
Then, before any routing, the account and line checks run in a fixed order, each with its own
termination reason: locked, expired, account concurrency, phone concurrency, mapping-gateway
capacity, allowed prefixes. The function is pure over its inputs (the snapshot, the live
counters, the time): the engine does the I/O around it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum

from softswitch.calls.build import callee_number, caller_number
from softswitch.calls.table import Holder
from softswitch.cdr.record import TerminationReason
from softswitch.sip.events import Peer
from softswitch.sip.message import Request
from softswitch.snapshot import AccountInfo, GatewayInfo, PhoneInfo, Snapshot, TrunkInfo
from softswitch.storage.models import AccountStatus

__all__ = ["Challenge", "Identified", "Kind", "Refused", "carrier_index", "identify"]

R = TerminationReason


class Kind(Enum):
    PHONE = "phone"
    TRUNK = "mapping_gateway"
    CARRIER = "routing_gateway"


@dataclass(frozen=True, slots=True)
class Identified:
    """A caller allowed to go on to routing. ``caller``/``callee`` are after the ingress
    rewrite rules; ``caller_in``/``callee_in`` as received. ``lines`` are what the call holds
    from now on (released when it ends)."""

    kind: Kind
    caller_in: str
    callee_in: str
    caller: str
    callee: str
    account: AccountInfo | None
    phone: PhoneInfo | None = None
    trunk: TrunkInfo | None = None
    carrier: GatewayInfo | None = None
    lines: tuple[tuple[Holder, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Refused:
    """The call is refused before routing. ``status`` None: drop it without an answer.
    The identity found so far goes on the CDR."""

    reason: TerminationReason
    status: int | None
    message: str
    caller: str = ""
    callee: str = ""
    account: AccountInfo | None = None
    phone: PhoneInfo | None = None
    trunk: TrunkInfo | None = None
    headers: tuple[tuple[str, str], ...] = field(default=())
    record: bool = True
    """False: no CDR (a request from a suspended source: the suspension is logged once, and
    a password cracker's every try must not become a row)."""


@dataclass(frozen=True, slots=True)
class Challenge:
    """The caller may be a phone: answer with a digest challenge (401/407)."""


InUse = Callable[[Holder, int | None], int]


def _account_refusal(
    account: AccountInfo | None, now: datetime, in_use: InUse
) -> tuple[R, int, str] | None:
    """Why the account may not call now (reason, SIP status, message), or None."""
    if account is None:
        return R.CALLER_LOCKED, 403, "Forbidden (no account)"
    if account.status is AccountStatus.LOCKED or not account.agent_enabled:
        return R.CALLER_LOCKED, 403, "Forbidden (account locked)"
    if account.expired(now):
        return R.ACCOUNT_EXPIRED, 403, "Forbidden (account expired)"
    if account.at_call_limit(in_use(Holder.ACCOUNT, account.id)):
        return R.ACCOUNT_CONCURRENCY_LIMIT, 503, "Service Unavailable (account limit)"
    return None


def carrier_index(snapshot: Snapshot) -> dict[str, GatewayInfo]:
    """Enabled routing gateways by host: how a carrier calling in is recognised (the lowest id
    wins when two share a host)."""
    index: dict[str, GatewayInfo] = {}
    for gateway in sorted(snapshot.gateways.values(), key=lambda g: g.id):
        host = gateway.route.host
        if host and gateway.route.enabled:
            index.setdefault(host, gateway)
    return index


def identify(
    request: Request,
    peer: Peer,
    snapshot: Snapshot,
    *,
    username: str | None,
    in_use: InUse,
    now: datetime,
    reply_unauthorized: bool,
    carriers: Callable[[str], GatewayInfo | None] | None = None,
) -> Identified | Refused | Challenge:
    """Identify the caller of ``request`` (a dialog-creating INVITE from ``peer``).

    ``username`` is the digest username the engine verified, None when the request carried
    no valid credentials. ``carriers`` finds a routing gateway by source address (the engine
    caches the index per snapshot); without it the index is built for this call.
    """
    callee_in = callee_number(request)
    caller_in = caller_number(request)
    if not callee_in:
        return Refused(R.CALLEE_NOT_FOUND, 404, "Not Found (no number in the Request-URI)")
    phone: PhoneInfo | None = None
    trunk: TrunkInfo | None = None
    if username is not None:
        phone = snapshot.phones.get(username)
        if phone is None:
            trunk = snapshot.trunks_by_username.get(username)
    if phone is None and trunk is None:
        trunk = snapshot.trunk_for_source(peer.host)
    if phone is not None:
        return _phone_call(phone, snapshot, request, peer, caller_in, callee_in, in_use, now)
    if trunk is not None:
        return _trunk_call(trunk, snapshot, caller_in, callee_in, in_use, now)
    carrier = (carriers or carrier_index(snapshot).get)(peer.host)
    if carrier is not None:
        return _carrier_call(carrier, snapshot, caller_in, callee_in, in_use)
    if username is None and (
        caller_in in snapshot.phones or caller_in in snapshot.trunks_by_username
    ):
        # A phone, or a mapping gateway that authenticates by digest, names itself in From:
        # challenge it. Anyone else learns nothing (403, or silence).
        return Challenge()
    status = 403 if reply_unauthorized else None
    return Refused(
        R.ILLEGAL_CALL, status, "Forbidden (unknown source)", caller=caller_in, callee=callee_in
    )


def _phone_call(
    phone: PhoneInfo,
    snapshot: Snapshot,
    request: Request,
    peer: Peer,
    caller_in: str,
    callee_in: str,
    in_use: InUse,
    now: datetime,
) -> Identified | Refused:
    account = snapshot.accounts.get(phone.account_id)

    def refuse(reason: R, status: int, message: str) -> Refused:
        return Refused(
            reason, status, message, phone.number, callee_in, account=account, phone=phone
        )

    if not phone.enabled:
        return refuse(R.CALLER_LOCKED, 403, "Forbidden (phone disabled)")
    if not phone.allows_source(peer.host):
        return refuse(R.ILLEGAL_CALL, 403, "Forbidden (source address not allowed)")
    found = _account_refusal(account, now, in_use)
    if found is not None:
        return refuse(*found)
    assert account is not None
    if phone.at_call_limit(in_use(Holder.PHONE, phone.id)):
        return refuse(R.PHONE_CONCURRENCY_LIMIT, 503, "Service Unavailable (phone limit)")
    return Identified(
        Kind.PHONE,
        caller_in,
        callee_in,
        phone.number,
        callee_in,
        account,
        phone=phone,
        lines=((Holder.ACCOUNT, account.id), (Holder.PHONE, phone.id)),
    )


def _trunk_call(
    trunk: TrunkInfo,
    snapshot: Snapshot,
    caller_in: str,
    callee_in: str,
    in_use: InUse,
    now: datetime,
) -> Identified | Refused:
    account = snapshot.accounts.get(trunk.account_id)
    caller, callee = trunk.rewrite_caller(caller_in), trunk.rewrite_callee(callee_in)

    def refuse(reason: R, status: int, message: str) -> Refused:
        return Refused(reason, status, message, caller, callee, account=account, trunk=trunk)

    if not trunk.enabled:
        return refuse(R.CALLER_LOCKED, 403, "Forbidden (mapping gateway disabled)")
    found = _account_refusal(account, now, in_use)
    if found is not None:
        return refuse(*found)
    assert account is not None
    if trunk.at_line_limit(in_use(Holder.TRUNK, trunk.id)):
        return refuse(R.MAPPING_GATEWAY_LINE_LIMIT, 503, "Service Unavailable (line limit)")
    if not trunk.allows_callee(callee):
        return refuse(R.PREFIX_NOT_ALLOWED, 403, "Forbidden (prefix not allowed)")
    return Identified(
        Kind.TRUNK,
        caller_in,
        callee_in,
        caller,
        callee,
        account,
        trunk=trunk,
        lines=((Holder.ACCOUNT, account.id), (Holder.TRUNK, trunk.id)),
    )


def _carrier_call(
    carrier: GatewayInfo,
    snapshot: Snapshot,
    caller_in: str,
    callee_in: str,
    in_use: InUse,
) -> Identified | Refused:
    """A carrier delivers a call: only to a phone of the switch (a DID), charged to nobody;
    the carrier's lines count, and the called phone's account owns the record."""
    target = snapshot.phones.get(callee_in)
    account = snapshot.accounts.get(target.account_id) if target is not None else None
    if target is None:
        return Refused(
            R.CALLEE_NOT_FOUND, 404, "Not Found (no such number here)", caller_in, callee_in
        )
    if carrier.route.at_line_limit(in_use(Holder.GATEWAY, carrier.id)):
        return Refused(
            R.GATEWAY_LINE_LIMIT,
            503,
            "Service Unavailable (line limit)",
            caller_in,
            callee_in,
            account=account,
        )
    return Identified(
        Kind.CARRIER,
        caller_in,
        callee_in,
        caller_in,
        callee_in,
        account,
        carrier=carrier,
        lines=((Holder.GATEWAY, carrier.id),),
    )
