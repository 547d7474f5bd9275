"""The messages a B2BUA builds for the other leg (issue 4 §4), pure (layer L2).

A B2BUA never forwards a mutated inbound message (ARCHITECTURE.md): each leg is its own user
agent with its own Call-ID, tags, Via and Contact, and only what the far end must see crosses
the bridge — the SDP body, the status and reason of responses, and the headers listed in
:data:`RELAYED_HEADERS`. Everything else (Via, Record-Route, Route, Contact, credentials, the
caller's topology) stays on its own side, which is what hides the carriers from the customers
and the customers from the carriers.

Nothing here sends or stores: the engine calls these functions and hands the results to the
endpoint.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from softswitch.sip.headers import header_key
from softswitch.sip.message import HeaderField, Request, Response
from softswitch.sip.status import make_response
from softswitch.sip.uri import SipUri, TelUri, UriError, parse_uri
from softswitch.sip.uri_escape import unescape

__all__ = [
    "RELAYED_HEADERS",
    "Local",
    "authorized",
    "callee_number",
    "caller_number",
    "invite",
    "relayed_headers",
    "response_to",
    "uri_user",
]

RELAYED_HEADERS = frozenset(
    {
        "event",
        "info-package",
        "recv-info",
        "subscription-state",
        "refer-to",
        "referred-by",
        "reason",
        "privacy",
        "accept",
        "content-disposition",
    }
)
"""End-to-end headers that cross the bridge on requests and responses: what a DTMF INFO, a
NOTIFY or a REFER means depends on them. Content-Type travels with the body."""

_DROPPED_OPTIONS = frozenset({"100rel", "timer", "replaces", "gruu", "outbound", "path"})
"""Option tags the switch handles per leg (or not at all) and so never promises on the other
leg's behalf: 100rel (reliable provisionals are answered per leg, RFC 3262), session timers
(RFC 4028, per leg), and extensions tied to one hop's registration or dialog."""


@dataclass(frozen=True, slots=True)
class Local:
    """The switch's own address on one leg: what goes in our Via sent-by and Contact."""

    host: str
    port: int
    transport: str = "UDP"

    @property
    def sent_by(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def contact(self, user: str | None = None) -> str:
        """Our Contact header value; the transport parameter only when it is not UDP
        (RFC 3261 §19.1.1 default)."""
        who = f"{user}@" if user else ""
        param = "" if self.transport.upper() == "UDP" else f";transport={self.transport.lower()}"
        return f"<sip:{who}{self.sent_by}{param}>"


def uri_user(uri: str) -> str | None:
    """The user part of a SIP URI (unescaped) or the number of a tel URI; None otherwise."""
    try:
        parsed = parse_uri(uri)
    except UriError:
        return None
    if isinstance(parsed, SipUri):
        return None if parsed.user is None else unescape(parsed.user)
    if isinstance(parsed, TelUri):
        return parsed.number
    return None


def callee_number(request: Request) -> str | None:
    """The dialled number: the Request-URI's user (RFC 3261 §8.1.1.1), which a proxy in front
    of us may have changed, unlike To."""
    return uri_user(request.uri)


def caller_number(request: Request) -> str:
    """The caller as the customer presented it: the user of the From URI (empty if none)."""
    return uri_user(request.from_.uri) or ""


def _lower(tags: Iterable[str]) -> set[str]:
    return {tag.lower() for tag in tags}


def relayed_headers(message: Request | Response) -> list[tuple[str, str]]:
    """The end-to-end headers of ``message`` to repeat on the other leg, in order."""
    return [(item.name, item.value) for item in message.headers if item.key in RELAYED_HEADERS]


def invite(
    *,
    ruri: str,
    from_addr: str,
    to_addr: str,
    call_id: str,
    from_tag: str,
    branch: str,
    local: Local,
    body: bytes,
    content_type: str | None,
    max_forwards: int,
    supported: Iterable[str] = (),
    own_options: Iterable[str] = (),
    allow: Iterable[str] = (),
    user_agent: str | None = None,
    extra: Iterable[tuple[str, str]] = (),
) -> Request:
    """A dialog-creating INVITE of our own (§8.1.1): new Call-ID and From tag, our Via with
    ``rport`` (RFC 3581) and our Contact; the body (the caller's offer) passes unchanged.

    ``from_addr``/``to_addr`` are name-addr texts without tags (``"Alice" <sip:1001@host>``).
    ``supported`` (the caller's) is filtered through the option tags we handle per leg;
    ``own_options`` are those the switch itself supports on this leg (``timer``).
    """
    make = HeaderField.make
    fields = [
        make("Via", _via(local, branch)),
        make("Max-Forwards", str(max_forwards)),
        make("From", f"{from_addr};tag={from_tag}"),
        make("To", to_addr),
        make("Call-ID", call_id),
        make("CSeq", "1 INVITE"),
        make("Contact", local.contact()),
    ]
    own = list(own_options)
    kept = [tag for tag in supported if tag.lower() not in _DROPPED_OPTIONS]
    options = ", ".join([*kept, *(tag for tag in own if tag.lower() not in _lower(kept))])
    if options:
        fields.append(make("Supported", options))
    allowed = ", ".join(allow)
    if allowed:
        fields.append(make("Allow", allowed))
    if user_agent:
        fields.append(make("User-Agent", user_agent))
    fields.extend(make(name, value) for name, value in extra)
    if body and content_type:
        fields.append(make("Content-Type", content_type))
    else:
        body = b""
    fields.append(make("Content-Length", str(len(body))))
    return Request("INVITE", ruri, fields, body)


def _via(local: Local, branch: str) -> str:
    return f"SIP/2.0/{local.transport.upper()} {local.sent_by};branch={branch};rport"


def authorized(
    request: Request,
    *,
    local: Local,
    branch: str,
    header: str,
    credentials: Iterable[str],
) -> Request:
    """``request`` (an INVITE of ours) sent again with digest credentials after a 401/407.

    RFC 3261 §22.2: the retry is a new transaction of the same request, so it keeps Call-ID,
    From tag, To, Request-URI and body, takes the next CSeq number and a new branch. ``header``
    (Authorization or Proxy-Authorization) replaces earlier lines of the same name; credentials
    for the other name stay, since a proxy and the UAS behind it may both challenge (§22.3).
    """
    cseq = request.cseq
    retry: Request = request.replacing("Via", _via(local, branch)).replacing(
        "CSeq", f"{cseq.seq + 1} {cseq.method}"
    )
    fields = [field for field in retry.headers if field.key != header_key(header)]
    at = next(
        (i for i, field in enumerate(fields) if field.key == header_key("Content-Length")),
        len(fields),
    )
    fields[at:at] = [HeaderField.make(header, value) for value in credentials]
    return Request(retry.method, retry.uri, fields, retry.body)


def response_to(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None,
    local: Local | None = None,
    source: Response | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """Our response to ``request`` on its leg, carrying what ``source`` (the other leg's
    response) says end to end: its status is the caller's business, its SDP body and
    end-to-end headers cross, its Contact, Require and RSeq do not (a reliable 18x of the
    carrier is PRACKed on the carrier leg and relayed unreliably here, RFC 3262 §3).

    A Contact (ours) is added to dialog-establishing answers (101-299 to INVITE, 2xx to
    other target refreshes), as §12.1.1 and RFC 3311 require.
    """
    extra: list[tuple[str, str]] = list(headers)
    body = b""
    content_type: str | None = None
    if source is not None:
        extra.extend(relayed_headers(source))
        if source.body and source.content_type is not None:
            body = source.body
            content_type = source.get("content-type")
    if local is not None and 101 <= status < 300 and request.method in ("INVITE", "UPDATE"):
        extra.append(("Contact", local.contact()))
    return make_response(
        request,
        status,
        reason,
        to_tag=to_tag,
        headers=extra,
        body=body,
        content_type=content_type,
    )
