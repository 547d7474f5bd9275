"""Status codes, their reason phrases, and responses built from requests (RFC 3261 §8.2.6, §21)."""

from __future__ import annotations

from collections.abc import Iterable

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.message import HeaderField, Request, Response

__all__ = ["REASON_PHRASES", "make_response", "reason_phrase"]

REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}

# Headers a response copies from its request (§8.2.6.2); To gets our tag when one is given.
_COPIED = frozenset({"via", "from", "call-id", "cseq"})


def _has_tag(request: Request) -> bool:
    """Whether the request's To carries a tag: the parsed header parameter, not a substring (a
    ``;tag=`` inside the URI or the display name is none)."""
    try:
        return request.to.tag is not None
    except RemoteProtocolError:
        return False


def reason_phrase(status: int) -> str:
    """The standard phrase of ``status``, or a generic one of its class."""
    phrase = REASON_PHRASES.get(status)
    if phrase is not None:
        return phrase
    return {1: "Progress", 2: "OK", 3: "Redirect", 4: "Client Error", 5: "Server Error"}.get(
        status // 100, "Global Failure"
    )


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
    body: bytes = b"",
    content_type: str | None = None,
) -> Response:
    """Build a response to ``request`` (§8.2.6).

    Via, From, Call-ID and CSeq are copied line for line (so their original text is kept exactly,
    which the request's sender matches on); To is copied and gets ``to_tag`` unless it already has a
    tag. Only the raw text is copied: a request whose views are malformed still gets its 400.
    """
    fields: list[HeaderField] = [f for f in request.headers if f.key in _COPIED]
    to_lines = [f for f in request.headers if f.key == "to"]
    if to_lines:
        to_field = to_lines[0]
        if to_tag is not None and not _has_tag(request):
            fields.append(HeaderField.make("To", f"{to_field.value};tag={to_tag}"))
        else:
            fields.append(to_field)
    fields.extend(HeaderField.make(name, value) for name, value in headers)
    if body and content_type is not None:
        fields.append(HeaderField.make("Content-Type", content_type))
    fields.append(HeaderField.make("Content-Length", str(len(body))))
    return Response(status, reason if reason is not None else reason_phrase(status), fields, body)
