"""Where a call's attempts go (issue 4 §3): a phone of the switch, or routing gateways.

A callee that is a phone of the switch is on-net: its registered contacts (best first) or its
static address are the targets, and no gateway is involved. Anything else is routed:
``routing.candidates`` ranks the gateways (prefix, priority, ASR, weight; full ones skipped),
and each becomes a target with the number as that gateway wants it (its own rewrite and
caller-ID rules). A dynamic gateway (GoIP style) is reached at its registration.

Nothing here sends anything: the engine turns targets into INVITEs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from softswitch.calls.call import Target
from softswitch.calls.ingress import Identified, Kind
from softswitch.cdr.record import TerminationReason
from softswitch.registrar.bindings import Binding, BindingCounts
from softswitch.routing import GatewayRoute, QualityWindows, Transport, candidates
from softswitch.sip.events import Peer
from softswitch.sip.uri import SipUri, UriError, parse_uri
from softswitch.snapshot import PhoneInfo, Snapshot
from softswitch.storage.models import Registration

__all__ = ["Locator", "Routing", "binding_peer", "sip_uri"]

R = TerminationReason
_MAX_CONTACTS = 3
"""Contacts of one phone tried in turn (highest q and freshest first); more rarely helps."""


class Locator(Protocol):
    """The registrar as call routing needs it (``RegistrarService`` fits)."""

    def lookup_user(self, user: str, now: float | None = None) -> list[Binding]: ...

    def counts(self, now: float | None = None) -> BindingCounts: ...


@dataclass(slots=True)
class Routing:
    """Targets of a call, from the snapshot, the registrar and the live figures."""

    locator: Locator
    quality: QualityWindows
    rng: random.Random

    def targets(
        self,
        ident: Identified,
        snapshot: Snapshot,
        callee: str,
        now: float,
        *,
        in_use: Mapping[int, int],
        asr_enabled: bool,
        order: Callable[[list[GatewayRoute]], list[GatewayRoute]] | None = None,
    ) -> tuple[list[Target], TerminationReason | None]:
        """The targets in order, or none and the reason (NoAvailableRouter, GatewayLineLimit,
        CalleeUnregistered, CalleeNotFound). ``order`` re-ranks the gateways (least-cost
        routing; it may also leave some out)."""
        caller = ident.caller
        phone = snapshot.phones.get(callee)
        if phone is not None:
            if not phone.enabled:
                return [], R.CALLEE_NOT_FOUND
            found = self._phone_targets(phone, caller, now)
            return (found, None) if found else ([], R.CALLEE_UNREGISTERED)
        if ident.kind is Kind.CARRIER:
            return [], R.CALLEE_NOT_FOUND  # a carrier may only reach our phones
        routes = candidates(
            snapshot.routes_tree,
            callee,
            in_use=in_use,
            quality=self.quality,
            now=now,
            asr_enabled=asr_enabled,
            rng=self.rng,
        )
        if order is not None and routes:
            routes = order(routes)
            if not routes:
                return [], R.NO_AVAILABLE_ROUTER  # none cheap enough (least-cost margin)
        targets = [
            target
            for target in (self._gateway_target(r, snapshot, callee, caller, now) for r in routes)
            if target is not None
        ]
        if targets:
            return targets, None
        if routes:
            return [], R.NO_AVAILABLE_ROUTER  # matching dynamic gateways, none registered
        matching = any(
            route.enabled for _, found in snapshot.routes_tree.matches(callee) for route in found
        )
        return [], R.GATEWAY_LINE_LIMIT if matching else R.NO_AVAILABLE_ROUTER

    def _phone_targets(self, phone: PhoneInfo, caller: str, now: float) -> list[Target]:
        number = phone.number
        if phone.registration is Registration.STATIC and phone.host:
            transport = phone.transport.value.upper()
            port = phone.port or (5061 if transport == "TLS" else 5060)
            ruri = sip_uri(number, phone.host, port, transport)
            return [Target(Peer(transport, phone.host, port), ruri, f"<{ruri}>", number, caller)]
        targets = []
        for binding in self.locator.lookup_user(number, now)[:_MAX_CONTACTS]:
            to = binding_peer(binding)
            targets.append(Target(to, binding.contact, f"<sip:{number}@{to.host}>", number, caller))
        return targets

    def _gateway_target(
        self, route: GatewayRoute, snapshot: Snapshot, callee: str, caller: str, now: float
    ) -> Target | None:
        callee_out = route.rewrite_callee(callee)
        caller_out = route.rewrite_caller_id(route.rewrite_caller(caller))
        if route.host is None:
            info = snapshot.gateways.get(route.id)
            user = info.auth_username if info is not None else None
            bindings = self.locator.lookup_user(user, now) if user else []
            if not bindings:
                return None
            peer = binding_peer(bindings[0])
        else:
            transport = route.transport.value.upper()
            port = route.port or (5061 if route.transport is Transport.TLS else 5060)
            peer = Peer(transport, route.host, port)
        return Target(
            peer,
            sip_uri(callee_out, peer.host, peer.port, peer.transport),
            f"<{sip_uri(callee_out, peer.host, None, 'UDP')}>",
            callee_out,
            caller_out,
            gateway=route,
            prefix=route.longest_prefix(callee) or "",
            failover_codes=route.failover_codes,
        )


def sip_uri(user: str, host: str, port: int | None, transport: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    where = shown if port is None else f"{shown}:{port}"
    param = "" if transport.upper() == "UDP" else f";transport={transport.lower()}"
    return f"sip:{user}@{where}{param}"


def binding_peer(binding: Binding) -> Peer:
    """Where requests to a registered contact go: the REGISTER's source when the device is
    behind NAT (or registered over a stream: its connection), else the Contact's address."""
    source = binding.source
    if binding.behind_nat or source.reliable:
        return source
    try:
        uri = parse_uri(binding.contact)
    except UriError:
        return source
    if not isinstance(uri, SipUri):
        return source
    transport = (uri.param("transport") or "udp").upper()
    port = uri.port or (5061 if transport == "TLS" else 5060)
    return Peer(transport, uri.host.strip("[]"), port)
