"""The door of the call path: what a new INVITE must pass before a call exists (issue 4 §2).

In order: option tags the caller Requires (we promise none on another leg's behalf: 420),
Max-Forwards (483), digest credentials when present (a wrong password is refused, a stale or
malformed one challenged again), then who is calling (``calls.ingress.identify``), which may ask
for a challenge, then the number blacklists. The engine turns the outcome into a call, a
refusal with its CDR, or silence.

The security gate (``Shield``, issue 6) hears every digest outcome (failures count towards
SS_AUTHENTICATION_MAX_RETRY; a suspended username is ignored without a CDR) and every admitted
call (dynamic blacklists, the destination watch). With SS_REPLY_UNAUTHORIZED Off a source it
does not know is never challenged, even when the From names a phone: the challenge would tell
an extension scanner (``svwar -m INVITE``) which numbers exist.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from softswitch.calls import build
from softswitch.calls.ingress import Challenge, Identified, Refused, carrier_index, identify
from softswitch.calls.table import CallTable
from softswitch.calls.wire import Wire
from softswitch.cdr.record import TerminationReason
from softswitch.params import ParamStore
from softswitch.security import Block, EntryKind
from softswitch.sip.digest_server import (
    AuthOutcome,
    DigestAuthenticator,
    challenge_header_name,
    credentials_header_name,
    find_credentials,
)
from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.events import Peer
from softswitch.sip.message import Request
from softswitch.sip.session_timer import TIMER, TimerSettings, min_se_for_422
from softswitch.sip.transaction import TransactionKey
from softswitch.snapshot import GatewayInfo, Snapshot

__all__ = ["SUPPORTED", "Admission", "Shield"]

_log = logging.getLogger(__name__)
R = TerminationReason

SUPPORTED: frozenset[str] = frozenset({TIMER})
"""Option tags a caller may Require of us on a new INVITE: ``timer`` (RFC 4028, handled on
each leg by ``calls.sessions``). 100rel is refused with 420 (RFC 3262 §3 allows it) rather
than half-supported across two legs; a carrier's reliable provisionals are PRACKed on its own
leg."""


class Shield(Protocol):
    """What call control tells and asks the security gate (``runtime.security``)."""

    def known(self, host: str) -> bool: ...

    def auth_failed(self, host: str, username: str | None, now: float) -> None: ...

    def auth_succeeded(self, host: str, username: str, now: float) -> None: ...

    def auth_suspended(self, host: str, username: str | None, now: float) -> bool: ...

    def check_numbers(
        self, account_id: int | None, caller: str, callee: str, now: float
    ) -> Block | None: ...

    def call_admitted(
        self, account_id: int | None, caller: str, callee: str, now: float
    ) -> None: ...

    def call_ended(
        self, account_id: int | None, callee: str, answered: bool, now: float
    ) -> None: ...


class Admission:
    """Checks a new INVITE; answers what it refuses on the spot only when no CDR is due."""

    def __init__(
        self,
        wire: Wire,
        params: ParamStore,
        table: CallTable,
        *,
        authenticator: Callable[[], DigestAuthenticator],
        challenge_code: Callable[[], int],
        wall_clock: Callable[[], datetime],
        shield: Shield | None = None,
    ) -> None:
        self.shield = shield
        self._wire = wire
        self._params = params
        self._table = table
        self._authenticator = authenticator
        self._challenge_code = challenge_code
        self._wall = wall_clock
        self._carriers: tuple[int, dict[str, GatewayInfo]] | None = None

    def check(
        self,
        request: Request,
        key: TransactionKey,
        peer: Peer,
        snapshot: Snapshot,
        sessions: TimerSettings | None = None,
    ) -> Identified | Refused | None:
        """The caller, or a refusal for the engine to record; None when this INVITE was
        answered here already (420, 422, 483, a challenge).

        422 (RFC 4028 §9) is a negotiation step, not a refused call: the caller retries at
        once with our Min-SE, so it leaves no CDR, like 420."""
        wire = self._wire
        unsupported = [tag for tag in request.require if tag.lower() not in SUPPORTED]
        if unsupported:
            wire.answer(request, key, 420, headers=(("Unsupported", ", ".join(unsupported)),))
            return None
        max_forwards = request.max_forwards
        if max_forwards is not None and max_forwards <= 0:
            wire.answer(request, key, 483)
            return None
        if sessions is not None:
            min_se = min_se_for_422(request, sessions)
            if min_se is not None:
                wire.answer(request, key, 422, headers=(("Min-SE", str(min_se)),))
                return None
        now = wire.now()
        reply = self._params.get_bool("SS_REPLY_UNAUTHORIZED")
        try:
            username, refused, stale = self._credentials(request, peer, snapshot, now, reply)
        except RemoteProtocolError as exc:
            # Credentials that do not parse: a broken device or a fuzzer, not a password
            # guess. 400 (RFC 3261 §21.4.1), or silence for a source we do not know.
            if self.shield is not None and not reply and not self.shield.known(peer.host):
                return _unknown_source(request)
            wire.answer(request, key, exc.status_hint, f"Bad Request ({exc.reason})")
            return None
        if refused is not None:
            return refused
        found = identify(
            request,
            peer,
            snapshot,
            username=username,
            in_use=self._table.in_use,
            now=self._wall(),
            reply_unauthorized=reply,
            carriers=lambda host: self._carrier(snapshot, host),
        )
        shield = self.shield
        if shield is not None and isinstance(found, Challenge):
            if not reply and not shield.known(peer.host):
                return _unknown_source(request)
        elif shield is not None and isinstance(found, Identified):
            account_id = found.account.id if found.account is not None else None
            block = shield.check_numbers(account_id, found.caller, found.callee, now)
            if block is not None:
                return _blocked(found, block)
            shield.call_admitted(account_id, found.caller, found.callee, now)
        if isinstance(found, Challenge):
            code = self._challenge_code()
            header = challenge_header_name(code)
            values = self._authenticator().challenges(now, stale=stale)
            wire.answer(request, key, code, headers=tuple((header, v) for v in values))
            return None
        return found

    def _credentials(
        self, request: Request, peer: Peer, snapshot: Snapshot, now: float, reply: bool
    ) -> tuple[str | None, Refused | None, bool]:
        """(verified username, refusal, stale): a refusal for wrong credentials; no username
        when the request carries none or ones to challenge again (stale nonce, malformed)."""
        code = self._challenge_code()
        auth = self._authenticator()
        credentials = find_credentials(request.auth(credentials_header_name(code)), auth.realm)
        if credentials is None:
            return None, None, False
        shield = self.shield
        if shield is not None and shield.auth_suspended(
            peer.host, credentials.get("username"), now
        ):
            ignored = Refused(R.AUTHENTICATION_FAILED, None, "suspended", record=False)
            return None, ignored, False

        def lookup(user: str) -> str | None:
            phone = snapshot.phones.get(user)
            if phone is not None:
                return phone.password
            trunk = snapshot.trunks_by_username.get(user)
            return trunk.auth_password if trunk is not None else None

        result = auth.verify(request.method, credentials, lookup, now, request_uri=request.uri)
        if result.outcome is AuthOutcome.OK:
            if shield is not None and result.username is not None:
                shield.auth_succeeded(peer.host, result.username, now)
            return result.username, None, False
        if result.outcome in (AuthOutcome.UNKNOWN_USER, AuthOutcome.BAD_RESPONSE):
            _log.info("INVITE from %r: digest refused (%s)", result.username, result.outcome.name)
            silent = False
            if shield is not None:
                shield.auth_failed(peer.host, result.username, now)
                silent = not reply and not shield.known(peer.host)
            refused = Refused(
                R.AUTHENTICATION_FAILED,
                None if silent else 403,
                "Forbidden (authentication failed)",
                build.caller_number(request),
                build.callee_number(request) or "",
            )
            return None, refused, False
        return None, None, result.outcome is AuthOutcome.STALE

    def _carrier(self, snapshot: Snapshot, host: str) -> GatewayInfo | None:
        cached = self._carriers
        if cached is None or cached[0] != snapshot.version:
            cached = self._carriers = (snapshot.version, carrier_index(snapshot))
        return cached[1].get(host)


def _unknown_source(request: Request) -> Refused:
    """An illegal call answered with silence (SS_REPLY_UNAUTHORIZED Off): never challenged."""
    return Refused(
        R.ILLEGAL_CALL,
        None,
        "Forbidden (unknown source)",
        build.caller_number(request),
        build.callee_number(request) or "",
    )


def _blocked(found: Identified, block: Block) -> Refused:
    """The refusal of a call whose caller or callee is blacklisted (403: retrying elsewhere
    through this switch cannot succeed)."""
    caller = block.kind is EntryKind.CALLER
    _log.info("call %s -> %s refused: %s", found.caller, found.callee, block.describe)
    return Refused(
        R.CALLER_BLACKLISTED if caller else R.CALLEE_BLACKLISTED,
        403,
        "Forbidden (caller blacklisted)" if caller else "Forbidden (callee blacklisted)",
        found.caller,
        found.callee,
        account=found.account,
        phone=found.phone,
        trunk=found.trunk,
    )
