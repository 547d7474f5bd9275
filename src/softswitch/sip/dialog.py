"""Dialogs: the peer-to-peer state shared by the requests of one call leg (RFC 3261 §12).

A :class:`Dialog` is an immutable value. Every event returns a new value: building a request
increments the local CSeq, receiving one records the remote CSeq, a 2xx confirms an early dialog.
Call control keeps the current value per leg (and the lookup key :class:`DialogId`); nothing here
sends, stores or times anything.

Identifiers (tags, branches) are inputs: this module never makes one up, so the identifier
source of the runtime stays the only one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import Enum

from softswitch.sip.errors import LocalProtocolError, RemoteProtocolError
from softswitch.sip.grammar import NameAddr
from softswitch.sip.message import HeaderField, Request, Response
from softswitch.sip.uri import SipUri, UriError, parse_uri

__all__ = [
    "DEFAULT_MAX_FORWARDS",
    "TARGET_REFRESH_METHODS",
    "Dialog",
    "DialogId",
    "DialogState",
    "Role",
    "dialog_id_of",
]

DEFAULT_MAX_FORWARDS = 70
"""Max-Forwards of the requests we originate (RFC 3261 §8.1.1.6)."""

TARGET_REFRESH_METHODS = frozenset({"INVITE", "UPDATE", "SUBSCRIBE", "NOTIFY"})
"""Requests whose Contact replaces the remote target (RFC 3261 §12.2, RFC 3311 §5.1,
RFC 6665 §4.1)."""

_MAGIC_COOKIE = "z9hG4bK"


class DialogState(Enum):
    """Early (created by a 1xx with a To tag), confirmed (2xx), terminated (RFC 3261 §12)."""

    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


class Role(Enum):
    """Our role in the transaction a message belongs to.

    UAS for a request we received or a response we send; UAC for a request we send or a response
    we received. It decides which tag is local: ours is in To when we are the UAS, in From when
    we are the UAC (RFC 3261 §12.1.1, §12.1.2).
    """

    UAC = "uac"
    UAS = "uas"


@dataclass(frozen=True, slots=True)
class DialogId:
    """Call-ID, local tag and remote tag (RFC 3261 §12). An empty remote tag stands for the null
    tag of an RFC 2543 peer that sent no From tag (§12.1.1)."""

    call_id: str
    local_tag: str
    remote_tag: str


def dialog_id_of(message: Request | Response, side: Role) -> DialogId | None:
    """The id of the dialog ``message`` belongs to, from our point of view; None if it has none.

    A message without a To tag is not within a dialog (a new request, or a 100 Trying), so None.
    A missing From tag counts as the empty (null) tag (§12.1.1). Call control looks the id up;
    an unknown id on a request with a To tag is answered 481 (§12.2.2).
    """
    to_tag = message.to.tag
    if not to_tag:
        return None
    from_tag = message.from_.tag or ""
    if side is Role.UAS:
        return DialogId(message.call_id, to_tag, from_tag)
    return DialogId(message.call_id, from_tag, to_tag)


def _without_tag(addr: NameAddr) -> NameAddr:
    return addr.with_params(tuple(p for p in addr.params if p[0].lower() != "tag"))


def _with_tag(addr: NameAddr, tag: str) -> str:
    return str(addr.with_param("tag", tag) if tag else addr)


def _is_sips(uri: str) -> bool:
    return uri[:5].lower() == "sips:"


def _contact_uri(message: Request | Response) -> str | None:
    contacts = message.contacts
    if not contacts:
        return None
    return contacts[0].uri


def _is_loose(route: NameAddr) -> bool:
    """Whether a route entry is a loose router (``;lr``, RFC 3261 §16.12.1.1).

    Only a parsable SIP URI without ``lr`` is treated as a strict router; anything else keeps the
    ordinary (loose) behaviour, because a Request-URI of a non-SIP scheme would be worse.
    """
    try:
        uri = parse_uri(route.uri)
    except UriError:
        return True
    return not isinstance(uri, SipUri) or uri.lr


def _request_uri_from_route(route: NameAddr) -> str:
    """A strict router's URI as Request-URI: without ``method`` and headers (§12.2.1.1, §19.1.1)."""
    uri = parse_uri(route.uri)
    if isinstance(uri, SipUri):
        return str(uri.without_params("method").without_headers())
    return route.uri


@dataclass(frozen=True, slots=True)
class Dialog:
    """The state of one dialog (RFC 3261 §12.1): ids, URIs, sequence numbers, target, route set.

    ``local_uri``/``remote_uri`` keep the From/To addresses without their tags (display names
    and other parameters included, so our requests repeat them). ``local_seq``/``remote_seq`` are
    None while empty (a UAS has sent nothing yet; a UAC has received nothing yet).
    """

    id: DialogId
    local_uri: NameAddr
    remote_uri: NameAddr
    local_seq: int | None
    remote_seq: int | None
    remote_target: str
    route_set: tuple[NameAddr, ...]
    secure: bool
    state: DialogState
    role: Role

    # ------------------------------------------------------------------ creation
    @classmethod
    def from_uac(cls, request: Request, response: Response, *, over_tls: bool = False) -> Dialog:
        """The dialog a 101-299 response with a To tag creates for the request we sent (§12.1.2).

        Route set: the response's Record-Route in reverse order. Remote target: its Contact; a
        provisional without Contact (common with gateways) falls back to our Request-URI until
        a later response brings one. Secure when sent over TLS to a SIPS Request-URI.
        """
        if not 101 <= response.status <= 299:
            raise LocalProtocolError(f"a {response.status} response creates no dialog")
        remote_tag = response.to.tag
        if not remote_tag:
            raise RemoteProtocolError("Dialog-creating response without To tag")
        local_tag = request.from_.tag
        if not local_tag:
            raise LocalProtocolError("our request has no From tag")
        target = _contact_uri(response) or request.uri
        return cls(
            id=DialogId(request.call_id, local_tag, remote_tag),
            local_uri=_without_tag(request.from_),
            remote_uri=_without_tag(request.to),
            local_seq=request.cseq.seq,
            remote_seq=None,
            remote_target=target,
            route_set=tuple(reversed(response.record_routes)),
            secure=over_tls and _is_sips(request.uri),
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            role=Role.UAC,
        )

    @classmethod
    def from_uas(
        cls,
        request: Request,
        response: Response,
        *,
        over_tls: bool = False,
        local_seq: int | None = None,
    ) -> Dialog:
        """The dialog our 101-299 response (with our To tag) creates for a request (§12.1.1).

        Route set: the request's Record-Route in order. Remote target: its Contact, which a
        dialog-creating request must carry (a 400 otherwise, §8.1.1.8). ``local_seq`` may seed
        our CSeq space; left None, our first request uses 1.
        """
        if not 101 <= response.status <= 299:
            raise LocalProtocolError(f"a {response.status} response creates no dialog")
        local_tag = response.to.tag
        if not local_tag:
            raise LocalProtocolError("our dialog-creating response has no To tag")
        target = _contact_uri(request)
        if target is None:
            raise RemoteProtocolError("Missing Contact header")
        return cls(
            id=DialogId(request.call_id, local_tag, request.from_.tag or ""),
            local_uri=_without_tag(request.to),
            remote_uri=_without_tag(request.from_),
            local_seq=local_seq,
            remote_seq=request.cseq.seq,
            remote_target=target,
            route_set=tuple(request.record_routes),
            secure=over_tls and _is_sips(request.uri),
            state=DialogState.CONFIRMED if response.status >= 200 else DialogState.EARLY,
            role=Role.UAS,
        )

    # ------------------------------------------------------------------ state changes
    def terminated(self) -> Dialog:
        """The same dialog, terminated (BYE sent or received, early dialog abandoned)."""
        return replace(self, state=DialogState.TERMINATED)

    def _check_id(self, message: Request | Response, side: Role) -> None:
        found = dialog_id_of(message, side)
        if found != self.id:
            raise LocalProtocolError(f"message of dialog {found} given to dialog {self.id}")

    def receive_response(self, response: Response) -> Dialog:
        """Update after a response to a request we sent in this dialog (§12.2.1.2, §13.2.2.4).

        A 2xx to INVITE confirms an early dialog and recomputes its route set from the 2xx; a
        2xx to a target refresh replaces the remote target with its Contact; a non-2xx final
        to the INVITE of an early dialog, and a 481 or 408 to any request, terminate it.
        """
        self._check_id(response, Role.UAC)
        method = response.cseq.method
        status = response.status
        if status in (481, 408):
            return self.terminated()
        if 200 <= status < 300:
            new = self
            if method == "INVITE" and self.state is DialogState.EARLY:
                new = replace(
                    new,
                    state=DialogState.CONFIRMED,
                    route_set=tuple(reversed(response.record_routes)),
                )
            if method in TARGET_REFRESH_METHODS:
                target = _contact_uri(response)
                if target is not None:
                    new = replace(new, remote_target=target)
            return new
        if status >= 300 and method == "INVITE" and self.state is DialogState.EARLY:
            return self.terminated()
        return self

    def send_response(self, response: Response) -> Dialog:
        """Update after we answer a request of this dialog: our 2xx to its INVITE confirms an
        early dialog, a non-2xx final terminates it (§12.1.1, §12.3)."""
        self._check_id(response, Role.UAS)
        if self.state is DialogState.EARLY and response.cseq.method == "INVITE":
            if 200 <= response.status < 300:
                return replace(self, state=DialogState.CONFIRMED)
            if response.status >= 300:
                return self.terminated()
        return self

    def receive_request(self, request: Request) -> Dialog:
        """Check and record a request received within this dialog (§12.2.2).

        Raises RemoteProtocolError with status_hint 481 if the dialog is terminated and 500
        when the CSeq is lower than the last one seen (out of order). ACK and CANCEL reuse the
        INVITE's number, so they are neither checked nor recorded; an ACK is never answered,
        so a caller drops it instead of sending the hinted response. A target refresh request
        with a Contact replaces the remote target.
        """
        self._check_id(request, Role.UAS)
        if self.state is DialogState.TERMINATED:
            raise RemoteProtocolError("Call/Transaction Does Not Exist", 481)
        if request.method in ("ACK", "CANCEL"):
            return self
        seq = request.cseq.seq
        if self.remote_seq is not None and seq < self.remote_seq:
            raise RemoteProtocolError("CSeq out of order", 500)
        new = replace(self, remote_seq=seq)
        if request.method in TARGET_REFRESH_METHODS:
            target = _contact_uri(request)
            if target is not None:
                new = replace(new, remote_target=target)
        return new

    # ------------------------------------------------------------------ building requests
    def request(
        self,
        method: str,
        *,
        branch: str,
        via_host: str,
        via_port: int | None = None,
        transport: str = "UDP",
        contact: str | None = None,
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        max_forwards: int = DEFAULT_MAX_FORWARDS,
    ) -> tuple[Dialog, Request]:
        """A new request within this dialog and the dialog with its CSeq incremented (§12.2.1.1).

        ``contact`` (a Contact header value) is required for target refresh requests (INVITE,
        UPDATE ...), which must carry one (§8.1.1.8, RFC 3311 §5.1); it is added to others when
        given. ``headers`` are appended as given (credentials, Supported, Session-Expires ...).
        The Via asks for ``rport`` (RFC 3581) so answers find their way back through NATs.
        ACK and CANCEL are not built here: see :meth:`ack_for`; a CANCEL copies its INVITE.
        """
        if method in ("ACK", "CANCEL"):
            raise LocalProtocolError(f"{method} reuses the INVITE's CSeq; not built here")
        if self.state is DialogState.TERMINATED:
            raise LocalProtocolError("dialog is terminated")
        if method in TARGET_REFRESH_METHODS and contact is None:
            raise LocalProtocolError(f"{method} within a dialog needs a Contact")
        seq = (self.local_seq or 0) + 1
        if seq >= 2**32:
            raise LocalProtocolError("CSeq space exhausted")
        msg = self._build(
            method,
            seq,
            branch=branch,
            via_host=via_host,
            via_port=via_port,
            transport=transport,
            contact=contact,
            body=body,
            content_type=content_type,
            headers=headers,
            max_forwards=max_forwards,
        )
        return replace(self, local_seq=seq), msg

    def ack_for(
        self,
        invite_cseq: int,
        *,
        branch: str,
        via_host: str,
        via_port: int | None = None,
        transport: str = "UDP",
        body: bytes = b"",
        content_type: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        max_forwards: int = DEFAULT_MAX_FORWARDS,
    ) -> Request:
        """The ACK for a 2xx to our INVITE numbered ``invite_cseq`` (§13.2.2.4).

        It is a new transaction (its own ``branch``) built like any in-dialog request, with the
        INVITE's CSeq number and method ACK; the INVITE's credentials go in ``headers``. A body
        is the answer when the 2xx carried the offer. The dialog value does not change.
        """
        return self._build(
            "ACK",
            invite_cseq,
            branch=branch,
            via_host=via_host,
            via_port=via_port,
            transport=transport,
            contact=None,
            body=body,
            content_type=content_type,
            headers=headers,
            max_forwards=max_forwards,
        )

    def request_target(self) -> tuple[str, tuple[str, ...]]:
        """Request-URI and Route values for the next request (§12.2.1.1).

        Loose first route (``;lr``): the Request-URI is the remote target and Route is the route
        set. Strict first route: the Request-URI is that route's URI and Route is the rest of
        the route set followed by the remote target. No route set: no Route at all.
        """
        routes = self.route_set
        if not routes:
            return self.remote_target, ()
        if _is_loose(routes[0]):
            return self.remote_target, tuple(str(r) for r in routes)
        rest = tuple(str(r) for r in routes[1:])
        return _request_uri_from_route(routes[0]), (*rest, f"<{self.remote_target}>")

    def _build(
        self,
        method: str,
        seq: int,
        *,
        branch: str,
        via_host: str,
        via_port: int | None,
        transport: str,
        contact: str | None,
        body: bytes,
        content_type: str | None,
        headers: Iterable[tuple[str, str]],
        max_forwards: int,
    ) -> Request:
        if not branch.startswith(_MAGIC_COOKIE):
            raise LocalProtocolError("branch must start with the magic cookie z9hG4bK")
        if body and content_type is None:
            raise LocalProtocolError("a body needs a Content-Type (RFC 3261 §7.4.1)")
        ruri, routes = self.request_target()
        sent_by = via_host if via_port is None else f"{via_host}:{via_port}"
        make = HeaderField.make
        fields = [
            make("Via", f"SIP/2.0/{transport.upper()} {sent_by};branch={branch};rport"),
            make("Max-Forwards", str(max_forwards)),
            *(make("Route", r) for r in routes),
            make("From", _with_tag(self.local_uri, self.id.local_tag)),
            make("To", _with_tag(self.remote_uri, self.id.remote_tag)),
            make("Call-ID", self.id.call_id),
            make("CSeq", f"{seq} {method}"),
        ]
        if contact is not None:
            fields.append(make("Contact", contact))
        fields.extend(make(name, value) for name, value in headers)
        if body and content_type is not None:  # checked above; the test narrows the type
            fields.append(make("Content-Type", content_type))
        fields.append(make("Content-Length", str(len(body))))
        return Request(method, ruri, fields, body)
