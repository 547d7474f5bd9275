"""Checks that a parsed message is well formed enough to act on (RFC 3261 §8.2, §16.3, §18.1.2).

The parser only splits lines; these checks parse the mandatory headers (and the Request-URI) and
turn the first problem into a :class:`MessageError` carrying the status to answer. They run once per
inbound message in the endpoint, and they warm the view cache the transaction layer reads next.
"""

from __future__ import annotations

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import MessageError, Request, Response
from softswitch.sip.uri import AbsoluteUri, UriError, parse_uri

__all__ = ["check_request", "check_response", "unsupported_requirements"]


def _views(msg: Request | Response) -> None:
    """The headers every message needs to be matched and answered (§8.1.1, §18.1.2). Each
    view refuses a missing or repeated header itself (``Message._single``)."""
    _ = msg.vias, msg.from_, msg.to, msg.call_id, msg.cseq


def _request_views(request: Request) -> None:
    """Headers a request is acted on by. Not checked on ACK: an ACK is never answered, and
    dropping it for a bad optional header would leave the call hanging until Timer H (§17.2.1)."""
    _views(request)
    if request.method != "ACK":
        _ = request.max_forwards, request.contacts, request.expires, request.content_type


def check_request(request: Request, known_methods: frozenset[str] | None = None) -> None:
    """Raise :class:`MessageError` if ``request`` must be refused before any processing.

    Order matters for the answer: malformed mandatory headers give 400; then an unknown method gives
    501 (RFC 4475 mismatch02 prefers 501 over 400); then a CSeq method that differs from the request
    method gives 400 (mismatch01); a Request-URI of an unknown scheme gives 416 (unkscm, novelsc).
    """
    try:
        _request_views(request)
        try:
            ruri = parse_uri(request.uri)
        except UriError as exc:
            raise RemoteProtocolError(f"Malformed Request-URI: {exc}") from None
    except MessageError:
        raise
    except RemoteProtocolError as exc:
        raise MessageError(exc.reason, exc.status_hint, request) from None
    if known_methods is not None and request.method not in known_methods:
        raise MessageError("Not Implemented", 501, request)
    if request.cseq.method != request.method:
        raise MessageError("CSeq method does not match the request method", 400, request)
    if isinstance(ruri, AbsoluteUri):
        raise MessageError("Unsupported URI Scheme", 416, request)
    if getattr(ruri, "headers", ()):
        # §19.1.5: headers are not allowed in a Request-URI (RFC 4475 escruri).
        raise MessageError("Headers are not allowed in the Request-URI", 400, request)


def check_response(response: Response) -> None:
    """Raise :class:`MessageError` if ``response`` must be discarded (§18.1.2: silently).

    Only the headers that match it to a transaction are checked: a carrier's 200 OK with an odd
    Expires or Content-Type must still end the INVITE transaction, not be dropped and retransmitted
    until the call is lost. Other headers are parsed, and refused, where they are used.
    """
    try:
        _views(response)
    except RemoteProtocolError as exc:
        raise MessageError(exc.reason, exc.status_hint, response) from None


def unsupported_requirements(request: Request, supported: frozenset[str]) -> tuple[str, ...]:
    """Option tags in Require we do not support: the caller answers 420 with Unsupported (§8.2.2.3).

    Never applied to ACK and CANCEL (their Require must not be checked).
    """
    if request.method in ("ACK", "CANCEL"):
        return ()
    return tuple(tag for tag in request.require if tag.lower() not in supported)
