"""The transaction user of the endpoint: call control first, then honest answers to the rest.

Every event goes to the call engine (``calls.engine``) first when one is attached; it keeps
INVITEs, requests within its dialogs and the events of its transactions. What it leaves is
answered here.

What it answers (RFC 3261 §8.2, in the order §8.2 inspects a request):

* ``OPTIONS``: 200 with our capabilities (§11.2: Allow, Accept, Accept-Encoding,
  Accept-Language, Supported), so monitoring systems and SIPp can probe the switch.
* ``REGISTER``: a digest challenge (401 or 407 as SS_SIP_AUTHENTICATION_CODE says, realm from
  SS_SIP_AUTHENTICATION_REALM), from any source and for any username alike, so a scanner
  learns nothing from it; credentials are checked against the registrar's users (phones
  and dynamic routing gateways, ``runtime.registrar``) and a verified request is processed
  there (RFC 3261 §10.3). An unknown username and a wrong password get the same ``403
  Forbidden`` (the log tells them apart; a password cracker must not learn which names
  exist), not another challenge: RFC 3261 §22.4 lets a server that does not accept
  credentials refuse, and re-challenging a device configured with a wrong password only makes
  it retry in a loop. Each is a failed authentication for the security gate
  (SS_AUTHENTICATION_MAX_RETRY); a suspended username is ignored. A known device that may
  not register (disabled, foreign source address) gets 403 with the reason, told only after
  its password checked out. A stale nonce is re-challenged
  with ``stale=true`` (RFC 7616 §3.3), as are malformed credentials and replays. Without a
  registrar (unit tests of this class) every username is unknown. With
  SS_SIP_REGISTRATION_LIGTHWEIGHT On, a refresh without credentials from the source and
  Call-ID of a live binding (CSeq higher, same contacts) is answered 200 without a challenge.
* Any other method we know but do not serve (SUBSCRIBE ...), and INVITE when no call engine is
  attached: 405 with Allow (§8.2.1).
* A request with a To tag: 481, since no dialog exists (§8.2.2.2, §12.2.2); BYE likewise.
* ``Require`` with an option tag we do not support: 420 with Unsupported (§8.2.2.3).
* ACK: nothing (§17.2.1: never answered).

Unknown methods never get here: the endpoint answers them 501 itself.

With SS_REPLY_UNAUTHORIZED Off, a request other than REGISTER from a source the switch does not
know (not a gateway, a registered or configured phone, or a whitelisted address) gets no
answer at all: a scanner's OPTIONS finds nothing there.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from dataclasses import dataclass

from softswitch.calls.engine import CallEngine
from softswitch.params import ParamStore
from softswitch.runtime.registrar import Registrant, RegistrarService
from softswitch.runtime.security import SecurityService
from softswitch.sip.digest import Algorithm
from softswitch.sip.digest_server import (
    AuthOutcome,
    DigestAuthenticator,
    challenge_header_name,
    credentials_header_name,
    find_credentials,
)
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.events import (
    ConnectionFailed,
    Event,
    MessageDropped,
    Peer,
    RequestReceived,
    TransportFailed,
)
from softswitch.sip.message import Request
from softswitch.sip.status import make_response
from softswitch.sip.transaction import TransactionKey
from softswitch.sip.validate import unsupported_requirements
from softswitch.transport.driver import Sender

__all__ = ["BasicDispatcher", "Capabilities"]

_log = logging.getLogger(__name__)

_CODE_RE = re.compile(r"\((\d{3})\)")


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What we tell peers about ourselves (OPTIONS answers, Allow in 405s, Server header)."""

    allow: frozenset[str]
    supported: frozenset[str]
    product: str
    accept: tuple[str, ...] = ("application/sdp",)


class BasicDispatcher:
    """Answers out-of-dialog requests statefully through the endpoint's server transactions."""

    def __init__(
        self,
        params: ParamStore,
        capabilities: Capabilities,
        *,
        default_realm: str,
        new_tag: Callable[[], str],
        secret: bytes | None = None,
        random_bytes: Callable[[int], bytes] = os.urandom,
        algorithms: tuple[Algorithm, ...] = (Algorithm.MD5,),
        registrar: RegistrarService | None = None,
        security: SecurityService | None = None,
        abandon: Callable[[TransactionKey], None] | None = None,
    ) -> None:
        self._algorithms = algorithms
        self._security = security
        self._abandon = abandon
        self._registrar = registrar
        self._params = params
        self._caps = capabilities
        self._default_realm = default_realm
        self._new_tag = new_tag
        # A per-start secret: nonces outstanding at a restart come back STALE, which is harmless.
        self._secret = secret if secret is not None else random_bytes(32)
        self._random = random_bytes
        self._auth: DigestAuthenticator | None = None
        self.calls: CallEngine | None = None
        """The call engine, attached once the listeners are open (it needs their addresses)."""
        self.outbound: Callable[[Event, Sender], bool] | None = None
        """The switch's own registrations to carriers (``runtime.outbound``): takes the events
        of its REGISTER transactions, after the call engine has passed on them."""

    # -- Dispatcher ------------------------------------------------------------------------------

    def dispatch(self, event: Event, sender: Sender) -> None:
        calls = self.calls
        if calls is not None and calls.handle(event, sender):
            return
        outbound = self.outbound
        if outbound is not None and outbound(event, sender):
            return
        if isinstance(event, RequestReceived):
            if event.transaction is not None:
                self._request(event.request, event.transaction, event.peer, sender)
        elif isinstance(event, MessageDropped):
            _log.debug("dropped from %s: %s", event.peer, event.reason)
        elif isinstance(event, ConnectionFailed):
            _log.info("closing connection from %s: %s", event.peer, event.reason)
        elif isinstance(event, TransportFailed):
            _log.info("transport failed for %s", event.request.method)

    def _request(self, request: Request, key: TransactionKey, peer: Peer, sender: Sender) -> None:
        method = request.method
        if method == "ACK":
            return
        security = self._security
        if (
            security is not None
            and method != "REGISTER"
            and not self._params.get_bool("SS_REPLY_UNAUTHORIZED")
            and not security.known(peer.host)
        ):
            self._ignore(key)
            return
        if method not in self._caps.allow or (method == "INVITE" and self.calls is None):
            allow = ", ".join(sorted(self._caps.allow))
            self._answer(sender, key, request, 405, headers=(("Allow", allow),))
            return
        if method == "BYE" or request.to.tag is not None:
            self._answer(sender, key, request, 481)
            return
        unsupported = unsupported_requirements(request, self._caps.supported)
        if unsupported:
            headers = (("Unsupported", ", ".join(unsupported)),)
            self._answer(sender, key, request, 420, headers=headers)
            return
        if method == "OPTIONS":
            self._answer(sender, key, request, 200, headers=self._capability_headers())
        elif method == "REGISTER":
            self._register(request, key, peer, sender)
        else:
            # CANCEL matching no INVITE is answered 481 by the endpoint; nothing else is allowed.
            self._answer(sender, key, request, 481)

    # -- OPTIONS -----------------------------------------------------------------------------

    def _capability_headers(self) -> tuple[tuple[str, str], ...]:
        return (
            ("Allow", ", ".join(sorted(self._caps.allow))),
            ("Accept", ", ".join(self._caps.accept)),
            ("Accept-Encoding", "identity"),
            ("Accept-Language", "en"),
            ("Supported", ", ".join(sorted(self._caps.supported))),
        )

    # -- REGISTER ----------------------------------------------------------------------------

    def authenticator(self) -> DigestAuthenticator:
        """The digest authenticator of the realm in force (REGISTER and INVITE share it, so a
        nonce from a REGISTER challenge also works for the INVITE that follows)."""
        realm = self._params.get_str("SS_SIP_AUTHENTICATION_REALM") or self._default_realm
        timeout = float(self._params.seconds("SS_SIP_AUTHENTICATION_TIMEOUT"))
        auth = self._auth
        if auth is None or auth.realm != realm or auth.timeout != timeout:
            auth = DigestAuthenticator(
                realm, self._secret, self._random, timeout=timeout, algorithms=self._algorithms
            )
            self._auth = auth
        return auth

    def challenge_code(self) -> int:
        """401 or 407, as SS_SIP_AUTHENTICATION_CODE says."""
        found = _CODE_RE.search(self._params.get_str("SS_SIP_AUTHENTICATION_CODE"))
        return int(found.group(1)) if found else 401

    def _register(self, request: Request, key: TransactionKey, peer: Peer, sender: Sender) -> None:
        now = sender.now()
        auth = self.authenticator()
        code = self.challenge_code()
        try:
            found = request.auth(credentials_header_name(code))
        except RemoteProtocolError as exc:
            # Credentials that do not parse: 400 (RFC 3261 §21.4.1), not a failed password.
            self._answer(sender, key, request, exc.status_hint, f"Bad Request ({exc.reason})")
            return
        credentials = find_credentials(found, auth.realm)
        stale = False
        security = self._security
        if credentials is None and self._lightweight(request, key, peer, sender, now):
            return
        if credentials is not None:
            username = credentials.get("username")
            if security is not None and security.auth_suspended(peer.host, username, now):
                self._ignore(key)
                return
            registrant: Registrant | None = None
            if username is not None and self._registrar is not None:
                registrant = self._registrar.registrant(username, peer)

            def lookup(_user: str) -> str | None:
                return registrant.password if registrant is not None else None

            result = auth.verify(request.method, credentials, lookup, now, request_uri=request.uri)
            outcome = result.outcome
            if outcome in (AuthOutcome.UNKNOWN_USER, AuthOutcome.BAD_RESPONSE):
                why = "unknown user" if outcome is AuthOutcome.UNKNOWN_USER else "wrong password"
                _log.info("REGISTER for %r from %s refused: %s", result.username, peer, why)
                if security is not None:
                    security.auth_failed(peer.host, result.username, now)
                self._answer(sender, key, request, 403, "Forbidden")
                return
            if outcome is AuthOutcome.OK and registrant is not None:
                if security is not None and result.username is not None:
                    security.auth_succeeded(peer.host, result.username, now)
                self._registered(request, key, peer, sender, registrant, now)
                return
            stale = outcome is AuthOutcome.STALE
        header = challenge_header_name(code)
        challenges = tuple((header, value) for value in auth.challenges(now, stale=stale))
        self._answer(sender, key, request, code, headers=challenges)

    def _lightweight(
        self, request: Request, key: TransactionKey, peer: Peer, sender: Sender, now: float
    ) -> bool:
        """SS_SIP_REGISTRATION_LIGTHWEIGHT On: a refresh without credentials from the source
        and Call-ID its binding was registered with is answered 200 at once (no 401 round trip
        and no digest); anything else returns False and is challenged. A source suspended for
        failed authentications gets no shortcut."""
        registrar = self._registrar
        if registrar is None or not registrar.lightweight():
            return False
        security = self._security
        if security is not None and security.auth_suspended(peer.host, None, now):
            return False
        outcome = registrar.refresh(request, peer, now, to_tag=self._new_tag())
        if outcome is None:
            return False
        if outcome.status != 200:
            _log.info(
                "lightweight REGISTER from %s answered %d %s",
                peer,
                outcome.status,
                outcome.response.reason,
            )
        sender.send_response(key, outcome.response.with_header("Server", self._caps.product))
        return True

    def _registered(
        self,
        request: Request,
        key: TransactionKey,
        peer: Peer,
        sender: Sender,
        registrant: Registrant,
        now: float,
    ) -> None:
        if registrant.refusal is not None:
            _log.info("REGISTER for %r from %s: %s", registrant.username, peer, registrant.refusal)
            self._answer(sender, key, request, 403, registrant.refusal)
            return
        assert self._registrar is not None
        outcome = self._registrar.register(request, peer, now, registrant, to_tag=self._new_tag())
        if outcome.status != 200:
            _log.info(
                "REGISTER for %r from %s answered %d %s",
                registrant.username,
                peer,
                outcome.status,
                outcome.response.reason,
            )
        sender.send_response(key, outcome.response.with_header("Server", self._caps.product))

    # -- answering ---------------------------------------------------------------------------

    def _ignore(self, key: TransactionKey) -> None:
        """No answer at all: the server transaction is forgotten (a retransmission is a new
        request, ignored the same way)."""
        if self._abandon is not None:
            self._abandon(key)

    def _answer(
        self,
        sender: Sender,
        key: TransactionKey,
        request: Request,
        status: int,
        reason: str | None = None,
        *,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        response = make_response(
            request,
            status,
            reason,
            to_tag=self._new_tag(),
            headers=(*headers, ("Server", self._caps.product)),
        )
        sender.send_response(key, response)
