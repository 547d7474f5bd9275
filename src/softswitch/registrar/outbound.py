"""Our own registration to a carrier that requires one (RFC 3261 §10.2), pure (layer L2).

Some carriers only accept calls from a switch that has registered to them, like a phone to a PBX.
:class:`OutboundRegistration` is the user-agent side of that for one routing gateway: it builds
the REGISTERs, reads their answers and says when the next one is due; the runtime
(``runtime.outbound``) sends them through the endpoint and keeps the timers. Nothing here reads a
clock or a socket: ``now`` comes in, requests and deadlines go out.

The policy, and why:

* One Call-ID and From tag for the life of a registration, CSeq up by one per request
  (§10.2.4: a registrar orders refreshes by them).
* A 401/407 is answered with digest credentials (``sip.digest_client``) at most
  SS_SIP_AUTHENTICATION_RETRY times in a row; then the attempt fails (a wrong password must not
  make us hammer the carrier). A challenge with ``stale=true`` says the password was right and
  the nonce old (RFC 7616 §3.3): it does not count, up to :data:`MAX_STALE` times.
* Refresh at half the granted time, but no earlier than 30 s before expiry when the grant is
  long (:func:`refresh_after`): a lost refresh still leaves time for the retransmissions of the
  next one.
* After a failure, retry after a doubling back-off bounded by :data:`RETRY_CAP` (RFC 5626 §4.5
  uses the same shape): a carrier that is down is not flooded, one that comes back is found.
* 423 Interval Too Brief is answered once with the registrar's Min-Expires (§10.2.8).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

from softswitch.sip.digest_client import DigestClient, is_stale
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.headers import parse_delta
from softswitch.sip.ids import IdSource
from softswitch.sip.message import HeaderField, Request, Response
from softswitch.sip.uri import SipUri, UriError, parse_uri

__all__ = [
    "DEFAULT_EXPIRES",
    "MAX_STALE",
    "RETRY_BASE",
    "RETRY_CAP",
    "Account",
    "Origin",
    "OutboundRegistration",
    "Phase",
    "refresh_after",
    "retry_after",
]

DEFAULT_EXPIRES = 3600
"""Expires we ask for when the gateway names none (a common carrier default)."""
RETRY_BASE = 30.0
"""Seconds before the first retry after a failed registration."""
RETRY_CAP = 600.0
"""The longest wait between retries."""
MAX_STALE = 3
"""Stale challenges answered in one attempt without counting (a server that says stale forever
must not keep us in a loop)."""
_REFRESH_MARGIN = 30.0
_MAX_FORWARDS = "70"


def refresh_after(granted: int) -> float:
    """Seconds after a 200 to send the refresh: half the grant, or 30 s before expiry for grants
    above a minute (whichever is later)."""
    return max(granted / 2.0, granted - _REFRESH_MARGIN)


def retry_after(failures: int, base: float = RETRY_BASE, cap: float = RETRY_CAP) -> float:
    """Seconds to wait after the ``failures``-th failure in a row (1, 2, ...): base, doubling,
    bounded by ``cap``."""
    return min(cap, base * 2.0 ** max(0, failures - 1))


class Phase(Enum):
    """Where one registration stands (what an operator sees)."""

    IDLE = "idle"
    """Not sent yet."""
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"
    """The last attempt failed; the next one is due at ``next_at``."""
    UNREGISTERING = "unregistering"
    UNREGISTERED = "unregistered"


@dataclass(frozen=True, slots=True)
class Account:
    """What we register with to one gateway (from its ``register_*`` fields)."""

    gateway_id: int
    name: str
    host: str
    port: int
    transport: str
    username: str
    password: str
    expires: int = DEFAULT_EXPIRES

    @property
    def registrar_uri(self) -> str:
        """The Request-URI: the carrier's domain (§10.2: no user part)."""
        param = "" if self.transport.upper() == "UDP" else f";transport={self.transport.lower()}"
        return f"sip:{_host(self.host)}:{self.port}{param}"

    @property
    def aor(self) -> str:
        """The address of record, From and To (§10.2: the same for a first-party registration)."""
        return f"sip:{self.username}@{_host(self.host)}"

    def same_binding(self, other: Account) -> bool:
        """Whether ``other`` refreshes the binding this one made (same registrar and AOR): then
        the Call-ID is kept (§10.2.4); otherwise the old binding is removed first."""
        return (self.host, self.port, self.transport.upper(), self.username) == (
            other.host,
            other.port,
            other.transport.upper(),
            other.username,
        )


@dataclass(frozen=True, slots=True)
class Origin:
    """Our address towards the carrier: Via sent-by and Contact."""

    host: str
    port: int
    transport: str = "UDP"

    @property
    def sent_by(self) -> str:
        return f"{_host(self.host)}:{self.port}"

    def contact(self, user: str) -> str:
        param = "" if self.transport.upper() == "UDP" else f";transport={self.transport.lower()}"
        return f"<sip:{user}@{self.sent_by}{param}>"


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


class OutboundRegistration:
    """One gateway's registration: request builder, answer reader and schedule.

    The runtime calls :meth:`register` when ``next_at`` has come (or at once for a new
    account), passes every final answer to :meth:`response` (which may return the next request
    to send, e.g. the digest answer) and a timeout to :meth:`failed`.
    """

    def __init__(
        self,
        account: Account,
        local: Origin,
        ids: IdSource,
        random_bytes: Callable[[int], bytes],
        *,
        user_agent: str | None = None,
        retry_base: float = RETRY_BASE,
        retry_cap: float = RETRY_CAP,
    ) -> None:
        self.account = account
        self.local = local
        self._ids = ids
        self._random = random_bytes
        self._user_agent = user_agent
        self._retry_base = retry_base
        self._retry_cap = retry_cap
        self._call_id = ids.call_id(local.host)
        self._from_tag = ids.tag()
        self._cseq = 0
        self._client = DigestClient(account.username, account.password, random_bytes)
        self._expires = account.expires
        self._answers = 0
        self._stale = 0
        self._brief = False
        self.phase = Phase.IDLE
        self.next_at: float | None = None
        """When :meth:`register` is due (refresh or retry); None while a request is out."""
        self.granted: int | None = None
        """Seconds the registrar granted in its last 200."""
        self.failures = 0
        """Failed attempts in a row."""
        self.reason = "not sent yet"
        """The last outcome, for the log and the operator."""

    # -- requests --------------------------------------------------------------------------------

    def update(self, account: Account) -> None:
        """New settings for the same binding (password, expires ...): the next request uses
        them. The caller re-registers at once."""
        if account.password != self.account.password or account.username != self.account.username:
            self._client = DigestClient(account.username, account.password, self._random)
        self.account = account
        self._expires = account.expires

    def register(self, now: float) -> Request:
        """A REGISTER asking for the account's expires (a new attempt: retries counted anew)."""
        del now  # the schedule is set by the answer
        self.phase = Phase.REGISTERING
        self.next_at = None
        self._answers = self._stale = 0
        self._brief = False
        return self._request(self._expires)

    def unregister(self) -> Request | None:
        """A REGISTER with Expires: 0 removing our binding (§10.2.2), or None if we never
        asked for one (nothing to remove)."""
        if self.phase in (Phase.IDLE, Phase.UNREGISTERED) or (
            self.phase is Phase.FAILED and self.granted is None
        ):
            self.phase = Phase.UNREGISTERED
            self.next_at = None
            return None
        self.phase = Phase.UNREGISTERING
        self.next_at = None
        self._answers = self._stale = 0
        return self._request(0)

    def _request(self, expires: int, credentials: tuple[tuple[str, str], ...] = ()) -> Request:
        self._cseq += 1
        account, local = self.account, self.local
        make = HeaderField.make
        fields = [
            make(
                "Via",
                f"SIP/2.0/{local.transport.upper()} {local.sent_by}"
                f";branch={self._ids.branch()};rport",
            ),
            make("Max-Forwards", _MAX_FORWARDS),
            make("From", f"<{account.aor}>;tag={self._from_tag}"),
            make("To", f"<{account.aor}>"),
            make("Call-ID", self._call_id),
            make("CSeq", f"{self._cseq} REGISTER"),
            make("Contact", local.contact(account.username)),
            make("Expires", str(expires)),
        ]
        fields.extend(make(name, value) for name, value in credentials)
        if self._user_agent:
            fields.append(make("User-Agent", self._user_agent))
        fields.append(make("Content-Length", "0"))
        return Request("REGISTER", account.registrar_uri, fields, b"")

    # -- answers ---------------------------------------------------------------------------------

    def response(self, response: Response, now: float, max_answers: int) -> Request | None:
        """Read a final answer; returns the request to send next (a digest answer, a 423
        retry) or None. ``max_answers`` is SS_SIP_AUTHENTICATION_RETRY."""
        status = response.status
        if status < 200:
            return None
        unregistering = self.phase is Phase.UNREGISTERING
        if 200 <= status < 300:
            if unregistering:
                self._done("unregistered")
                return None
            granted = self._granted(response)
            if granted <= 0:
                self._fail(now, f"{status} granted no time")
                return None
            self.phase = Phase.REGISTERED
            self.granted = granted
            self.failures = 0
            self.reason = f"{status} {response.reason}, expires {granted} s"
            self.next_at = now + refresh_after(granted)
            return None
        if status in (401, 407):
            return self._challenged(response, now, max_answers, 0 if unregistering else None)
        if status == 423 and not unregistering and not self._brief:
            minimum = _min_expires(response)
            if minimum is not None and minimum > self._expires:
                self._brief = True
                self._expires = minimum
                return self._request(minimum)
        if unregistering:
            self._done(f"unregister refused: {status} {response.reason}")
            return None
        self._fail(now, f"{status} {response.reason}")
        return None

    def _challenged(
        self, response: Response, now: float, max_answers: int, expires: int | None
    ) -> Request | None:
        header = "www-authenticate" if response.status == 401 else "proxy-authenticate"
        try:
            challenges = response.auth(header)
        except RemoteProtocolError:
            challenges = []
        stale = any(is_stale(c) for c in challenges)
        if stale and self._stale < MAX_STALE:
            self._stale += 1
        elif self._answers >= max_answers:
            self._give_up(
                now,
                f"{response.status} after {self._answers} digest answers "
                "(SS_SIP_AUTHENTICATION_RETRY)",
            )
            return None
        else:
            self._answers += 1
        uri = self.account.registrar_uri
        values = self._client.answer_all(challenges, "REGISTER", uri)
        if not values:
            self._give_up(now, f"{response.status} with no challenge we can answer")
            return None
        name = "Authorization" if response.status == 401 else "Proxy-Authorization"
        asked = self._expires if expires is None else expires
        return self._request(asked, tuple((name, value) for value in values))

    def _give_up(self, now: float, why: str) -> None:
        if self.phase is Phase.UNREGISTERING:
            self._done(f"unregister refused: {why}")
        else:
            self._fail(now, why)

    def failed(self, now: float, why: str) -> None:
        """The request got no final answer (Timer F, transport error)."""
        if self.phase is Phase.UNREGISTERING:
            self._done(f"unregister unanswered: {why}")
        else:
            self._fail(now, why)

    def _fail(self, now: float, why: str) -> None:
        self.phase = Phase.FAILED
        self.failures += 1
        self.reason = why
        self.next_at = now + retry_after(self.failures, self._retry_base, self._retry_cap)

    def _done(self, why: str) -> None:
        self.phase = Phase.UNREGISTERED
        self.granted = None
        self.reason = why
        self.next_at = None

    def _granted(self, response: Response) -> int:
        """The expiry of our binding in a 200: its Contact's expires parameter, else the Expires
        header, else what we asked (§10.2.4)."""
        ours = _uri_key(self.local.contact(self.account.username).strip("<>"))
        try:
            contacts = response.contacts or []
        except RemoteProtocolError:
            contacts = []
        for contact in contacts:
            value = contact.param("expires")
            if value is not None and ours is not None and _uri_key(contact.uri) == ours:
                try:
                    return parse_delta(value, "expires")
                except RemoteProtocolError:
                    break
        try:
            header = response.expires
        except RemoteProtocolError:
            header = None
        return self._expires if header is None else header


def _uri_key(text: str) -> tuple[str | None, str, int | None] | None:
    try:
        uri = parse_uri(text)
    except UriError:
        return None
    if not isinstance(uri, SipUri):
        return None
    return (uri.user, uri.host.lower().strip("[]"), uri.port)


def _min_expires(response: Response) -> int | None:
    value = response.get("min-expires")
    if value is None:
        return None
    try:
        return parse_delta(value, "Min-Expires")
    except RemoteProtocolError:
        return None
