"""Processing one REGISTER request (RFC 3261 §10.3), pure.

:func:`process_register` runs the registrar steps of §10.3 on a request whose digest credentials
were already checked (``softswitch.sip.digest_server``), computes every binding change against
the table *before* touching it, and applies them only when all succeed: a REGISTER updates its
bindings all or nothing (§10.3 step 7). It returns the response to send and the changes for the
driver to persist. Refusals are return values (a response with its status), never exceptions.

Expiry policy (issue 4 §1): the interval asked for (Contact ``expires``, else the Expires header,
else the configured default, §10.3 step 7) is capped by SS_ENDPOINT_EXPIRE, or by
SS_ENDPOINT_NAT_EXPIRE when the device is behind NAT, i.e. when the packet's source address (what
the transport wrote into Via ``received``/``rport``, RFC 3581) is not the Contact's host and port.
A short NAT interval makes the device refresh, and so keep its NAT mapping open, often enough.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from email.utils import formatdate

from softswitch.registrar.bindings import Binding, BindingChange, BindingTable, ChangeKind
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.events import Peer
from softswitch.sip.grammar import NameAddr
from softswitch.sip.message import Request, Response
from softswitch.sip.status import make_response
from softswitch.sip.uri import SipUri, Uri, UriError, parse_uri, unescape, uri_equal

__all__ = [
    "RegisterOutcome",
    "RegistrarConfig",
    "canonical_aor",
    "is_behind_nat",
    "lightweight_refresh",
    "process_register",
]

_HOUR = 3600


@dataclass(frozen=True, slots=True)
class RegistrarConfig:
    """The registrar's knobs, filled from system parameters by the service (not read here).

    ``max_expires`` is SS_ENDPOINT_EXPIRE, ``nat_max_expires`` SS_ENDPOINT_NAT_EXPIRE. ``domains``
    empty means every domain is ours (a single-tenant switch reached by IP address).
    """

    max_expires: int = 3600
    nat_max_expires: int = 300
    min_expires: int = 60
    default_expires: int = 3600
    max_bindings_per_aor: int = 10
    domains: frozenset[str] = field(default_factory=frozenset)
    supported: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        if self.max_expires < 1 or self.nat_max_expires < 1:
            raise ValueError("expiry caps must be at least 1 second")
        if self.min_expires < 0 or self.default_expires < 1:
            raise ValueError("min_expires must be >= 0 and default_expires >= 1")
        if self.max_bindings_per_aor < 1:
            raise ValueError("max_bindings_per_aor must be at least 1")
        object.__setattr__(self, "domains", frozenset(d.lower() for d in self.domains))

    def cap(self, behind_nat: bool) -> int:
        return self.nat_max_expires if behind_nat else self.max_expires


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """What to send back, and which bindings changed (for the driver to persist)."""

    response: Response
    aor: str | None = None
    changes: tuple[BindingChange, ...] = ()

    @property
    def status(self) -> int:
        return self.response.status


class _Refused(Exception):
    """Internal: stop processing and answer ``status`` (never leaves this module)."""

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.headers = headers


def canonical_aor(uri: str | Uri) -> str:
    """The index of an address-of-record (§10.3 step 5): ``scheme:user@host``.

    URI parameters, headers, password and port are dropped, escapes in the user part decoded and
    the host lower-cased, so ``<sip:%31001@Switch.example:5060;transport=udp>`` and
    ``sip:1001@switch.example`` name the same AOR. Raises UriError for a URI that is not SIP/SIPS.
    """
    parsed = parse_uri(uri) if isinstance(uri, str) else uri
    if not isinstance(parsed, SipUri):
        raise UriError("an address-of-record must be a SIP or SIPS URI", str(uri), status_hint=404)
    host = parsed.host.lower()
    if parsed.user is None:
        return f"{parsed.scheme}:{host}"
    return f"{parsed.scheme}:{unescape(parsed.user)}@{host}"


def _ip(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def is_behind_nat(contact: SipUri, source: Peer) -> bool:
    """Whether the REGISTER came from another address than its Contact names.

    The Contact's port defaults to 5061 for sips or transport=tls, else 5060 (§19.1.2). A Contact
    with a domain name counts as behind NAT (resolving it is I/O): requests then go to the
    observed source, which is where the device's packets demonstrably come from.
    """
    tls = contact.is_secure or contact.transport == "tls"
    port = contact.port if contact.port is not None else (5061 if tls else 5060)
    if port != source.port:
        return True
    a, b = _ip(contact.host), _ip(source.host)
    if a is None or b is None:
        return contact.host.strip("[]").lower() != source.host.strip("[]").lower()
    return a != b


def _q(contact: NameAddr) -> float:
    text = contact.param("q")
    if text is None:
        return 1.0
    try:
        q = float(text)
    except ValueError:
        q = -1.0
    if not 0.0 <= q <= 1.0 or len(text) > 5:
        raise _Refused(400, "Bad Request (Contact q must be 0 to 1)")
    return q


def _contact_uri(contact: NameAddr) -> SipUri:
    try:
        uri = parse_uri(contact.uri)
    except UriError:
        raise _Refused(400, "Bad Request (malformed Contact URI)") from None
    if not isinstance(uri, SipUri):
        raise _Refused(400, "Bad Request (Contact must be a SIP or SIPS URI)")
    return uri


def _aor(request: Request, config: RegistrarConfig) -> str:
    """Steps 1 and 5: the request is for one of our domains and To is a valid AOR there."""
    try:
        to_uri = parse_uri(request.to.uri)
    except UriError:
        raise _Refused(404, "Not Found (To is not a valid address-of-record)") from None
    if not isinstance(to_uri, SipUri):
        raise _Refused(404, "Not Found (To must be a SIP or SIPS URI)")
    if config.domains:
        if to_uri.host.lower() not in config.domains:
            raise _Refused(404, "Not Found (To names a domain this registrar does not serve)")
        try:
            ruri = parse_uri(request.uri)
        except UriError:
            raise _Refused(400, "Bad Request (malformed Request-URI)") from None
        if isinstance(ruri, SipUri) and ruri.host.lower() not in config.domains:
            raise _Refused(
                404, "Not Found (Request-URI names a domain this registrar does not serve)"
            )
    return canonical_aor(to_uri)


def _authorize(aor: str, authenticated_aor: str) -> None:
    """Step 4: a user registers only its own AOR. A bare username is compared with the AOR's
    user part (one domain per switch); an AOR (``sip:...``) must be the same canonical AOR."""
    if ":" in authenticated_aor:
        try:
            allowed = canonical_aor(authenticated_aor) == aor
        except UriError:
            allowed = False
    else:
        user = aor.partition(":")[2].rpartition("@")
        allowed = bool(user[1]) and user[0] == authenticated_aor
    if not allowed:
        raise _Refused(403, "Forbidden (To is not the authenticated user's address)")


def _wildcard(request: Request, aor: str, now: float, table: BindingTable) -> list[BindingChange]:
    """Step 6: ``Contact: *`` with ``Expires: 0`` removes every binding of the AOR, subject to
    the same Call-ID/CSeq ordering as single removals."""
    if request.expires != 0:
        raise _Refused(400, "Bad Request (Contact * needs Expires: 0)")
    call_id, cseq = request.call_id, request.cseq.seq
    changes: list[BindingChange] = []
    for binding in table.bindings(aor):
        if binding.live(now) and binding.call_id == call_id and cseq <= binding.cseq:
            raise _Refused(500, "Server Internal Error (REGISTER out of order: CSeq not higher)")
        changes.append(BindingChange(ChangeKind.REMOVED, binding))
    return changes


def _contact_changes(
    request: Request,
    contacts: list[NameAddr],
    source: Peer,
    now: float,
    config: RegistrarConfig,
    table: BindingTable,
    aor: str,
) -> list[BindingChange]:
    """Step 7, tentatively: the change each Contact asks for, checked before any is applied."""
    call_id, cseq = request.call_id, request.cseq.seq
    header_expires = request.expires
    user_agent = request.get("user-agent")
    seen: list[SipUri] = []
    changes: list[BindingChange] = []
    too_brief = False
    for contact in contacts:
        uri = _contact_uri(contact)
        if any(uri_equal(uri, other) for other in seen):
            raise _Refused(400, "Bad Request (the same Contact is listed twice)")
        seen.append(uri)
        param = contact.param("expires")
        if param is not None:
            requested = int(param)  # digits only: checked by the Contact parser
        elif header_expires is not None:
            requested = header_expires
        else:
            requested = config.default_expires
        # §10.3 step 7: too brief only when nonzero, under an hour and under our minimum.
        if 0 < requested < min(config.min_expires, _HOUR):
            too_brief = True
            continue
        q = _q(contact)
        old = table.find(aor, uri)
        if old is not None and old.live(now) and old.call_id == call_id and cseq <= old.cseq:
            raise _Refused(500, "Server Internal Error (REGISTER out of order: CSeq not higher)")
        if requested == 0:
            if old is not None:
                changes.append(BindingChange(ChangeKind.REMOVED, old))
            continue
        nat = is_behind_nat(uri, source)
        granted = min(requested, config.cap(nat))
        binding = Binding(
            aor=aor,
            uri=uri,
            expires_at=now + granted,
            call_id=call_id,
            cseq=cseq,
            source=source,
            behind_nat=nat,
            updated_at=now,
            expires=granted,
            user_agent=user_agent,
            q=q,
            params=tuple(p for p in contact.params if p[0].lower() != "expires"),
        )
        kind = ChangeKind.ADDED if old is None else ChangeKind.UPDATED
        changes.append(BindingChange(kind, binding))
    if too_brief:
        raise _Refused(423, "Interval Too Brief", (("Min-Expires", str(config.min_expires)),))
    return changes


def _refreshes(
    request: Request, contact: NameAddr, source: Peer, now: float, table: BindingTable, aor: str
) -> bool:
    """Whether ``contact`` refreshes a live binding of ``aor`` that ``request`` may touch without
    credentials: same contact, same Call-ID, same transport, source address and port, a higher
    CSeq, and a nonzero expiry (removing a binding always needs credentials: a spoofed
    datagram must not be able to cut a device off)."""
    param = contact.param("expires")
    if param == "0" or (param is None and request.expires == 0):
        return False
    old = table.find(aor, _contact_uri(contact))
    if old is None or not old.live(now) or old.call_id != request.call_id:
        return False
    if request.cseq.seq <= old.cseq:
        return False
    was = old.source
    return (was.transport.upper(), was.host, was.port) == (
        source.transport.upper(),
        source.host,
        source.port,
    )


def lightweight_refresh(request: Request, source: Peer, now: float, table: BindingTable) -> bool:
    """Whether ``request`` may be processed without a digest challenge under
    SS_SIP_REGISTRATION_LIGTHWEIGHT: every Contact it lists refreshes a live binding of its
    To AOR registered from this very source with this Call-ID, and its CSeq is higher.

    What this trusts is the UDP source address and the Call-ID the device chose when it last
    proved its password; the saving is one round trip and one digest per refresh. Anything
    else (a query, ``*``, a new or moved contact, a removal, an expired binding) is challenged
    as usual. Never raises: a request it cannot read is simply not a lightweight refresh.
    """
    try:
        aor = canonical_aor(request.to.uri)
        contacts = request.contacts
        if not contacts:
            return False
        return all(_refreshes(request, c, source, now, table, aor) for c in contacts)
    except (UriError, RemoteProtocolError, _Refused, ValueError):
        return False


def _check_unauthenticated(
    request: Request,
    contacts: list[NameAddr] | None,
    source: Peer,
    now: float,
    table: BindingTable,
    aor: str,
) -> None:
    """A request the driver did not authenticate (lightweight refresh, SS_SIP_REGISTRATION_
    LIGHTWEIGHT) may only refresh live bindings it already holds (:func:`lightweight_refresh`).
    A query, ``*``, a removal or a new contact needs credentials."""
    if not contacts or not all(_refreshes(request, c, source, now, table, aor) for c in contacts):
        raise _Refused(403, "Forbidden (authentication required)")


def _remaining_bindings(
    aor: str, now: float, changes: list[BindingChange], table: BindingTable
) -> int:
    removed = [c.binding for c in changes if c.kind is ChangeKind.REMOVED]
    kept = [
        b
        for b in table.bindings(aor)
        if b.live(now) and not any(r.same_contact(b.uri) for r in removed)
    ]
    added = [
        c.binding
        for c in changes
        if c.kind is not ChangeKind.REMOVED and not any(k.same_contact(c.binding.uri) for k in kept)
    ]
    return len(kept) + len(added)


def process_register(
    request: Request,
    source: Peer,
    now: float,
    config: RegistrarConfig,
    table: BindingTable,
    authenticated_aor: str | None,
    *,
    to_tag: str | None = None,
    wall_time: float | None = None,
) -> RegisterOutcome:
    """Run RFC 3261 §10.3 on ``request`` (received from ``source`` at monotonic ``now``).

    ``authenticated_aor`` is the username (or ``sip:`` AOR) whose digest credentials the driver
    verified; None means the driver let the request through unauthenticated, which only allows
    refreshing bindings with the same Call-ID from the same source (:func:`lightweight_refresh`).
    ``to_tag`` is added to To in the response (§8.2.6.2); ``wall_time`` (epoch seconds) fills
    the Date header (§10.3 step 8), which is left out when not given. ``table`` is changed only
    on a 200.
    """
    if request.method != "REGISTER":
        raise ValueError(f"process_register got a {request.method}")
    aor: str | None = None
    try:
        unsupported = [t for t in request.require if t not in config.supported]
        if unsupported:
            raise _Refused(420, "Bad Extension", (("Unsupported", ", ".join(unsupported)),))
        aor = _aor(request, config)
        if authenticated_aor is not None:
            _authorize(aor, authenticated_aor)
        contacts = request.contacts
        if contacts is None:
            changes = _wildcard(request, aor, now, table)
        else:
            changes = _contact_changes(request, contacts, source, now, config, table, aor)
        if authenticated_aor is None:
            _check_unauthenticated(request, contacts, source, now, table, aor)
        if _remaining_bindings(aor, now, changes, table) > config.max_bindings_per_aor:
            raise _Refused(403, "Forbidden (too many contacts for this address)")
    except _Refused as refused:
        response = make_response(
            request, refused.status, refused.reason, to_tag=to_tag, headers=refused.headers
        )
        return RegisterOutcome(response, aor)
    except RemoteProtocolError as exc:
        response = make_response(request, 400, f"Bad Request ({exc.reason})", to_tag=to_tag)
        return RegisterOutcome(response, aor)
    table.apply(changes)
    return RegisterOutcome(
        _ok(request, aor, now, table, changes, to_tag, wall_time), aor, tuple(changes)
    )


def _ok(
    request: Request,
    aor: str,
    now: float,
    table: BindingTable,
    changes: list[BindingChange],
    to_tag: str | None,
    wall_time: float | None,
) -> Response:
    """Step 8: 200 listing every current binding with the interval the registrar chose."""
    headers: list[tuple[str, str]] = []
    for binding in table.lookup(aor, now):
        params = (*binding.params, ("expires", str(binding.remaining(now))))
        headers.append(("Contact", str(NameAddr(None, binding.contact, params))))
    granted = [c.binding.expires for c in changes if c.kind is not ChangeKind.REMOVED]
    if granted:
        # Not required by §10.3, but devices that ignore Contact expires read this one.
        headers.append(("Expires", str(min(granted))))
    if wall_time is not None:
        headers.append(("Date", formatdate(wall_time, usegmt=True)))
    return make_response(request, 200, to_tag=to_tag, headers=headers)
