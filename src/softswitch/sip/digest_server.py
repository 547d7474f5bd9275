"""Challenging requests and verifying Digest credentials (RFC 3261 §22.1-22.4, RFC 7616, RFC 8760).

Nonces are stateless: ``base64url(issued || random || MAC)`` where ``issued`` is the ``now`` at
which the challenge was built and ``MAC = HMAC-SHA256(secret, issued || random || realm)``
truncated to 16 octets. Any node holding the secret can check that a nonce is ours and how old it is
without having stored it; memory is spent only on nonces that were actually answered, to refuse
replays (:class:`NonceLedger`).

Outcomes are values (:class:`AuthOutcome`), never exceptions: they feed auth-failure counting and
IP suspension (SS_AUTHENTICATION_MAX_RETRY) in the security layer. What the caller answers:

* ``OK``: go on with the request.
* ``STALE``: the device knows the password but the nonce is too old (or no longer ours, e.g. after
  a restart with a new secret): challenge again with ``stale=true`` (RFC 7616 §3.3); not a failure.
* ``BAD_RESPONSE``, ``REPLAY``, ``UNKNOWN_USER``, ``MALFORMED``: challenge again (or 403); these
  count as failures.

Usernames are compared as sent (``userhash=false``); only ``qop=auth`` is accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import Enum

from softswitch.sip.digest import Algorithm, Credential, parse_algorithm, request_digest
from softswitch.sip.grammar import quote
from softswitch.sip.headers import Challenge

__all__ = [
    "DEFAULT_MAX_NONCES",
    "AuthOutcome",
    "AuthResult",
    "DigestAuthenticator",
    "NonceLedger",
    "PasswordLookup",
    "challenge_header_name",
    "credentials_header_name",
    "find_credentials",
]

DEFAULT_MAX_NONCES = 100_000
"""Answered nonces remembered for replay detection: ~100 octets each, so about 10 MB at most."""

_RANDOM_LEN = 12
_MAC_LEN = 16
_STAMP = struct.Struct(">d")
_NONCE_LEN = _STAMP.size + _RANDOM_LEN + _MAC_LEN

PasswordLookup = Callable[[str], str | Credential | None]
"""Maps a username to its plain password or :class:`Credential`; None for an unknown user."""


class AuthOutcome(Enum):
    """Result of checking one Authorization / Proxy-Authorization value."""

    OK = "ok"
    STALE = "stale"
    BAD_RESPONSE = "bad-response"
    REPLAY = "replay"
    UNKNOWN_USER = "unknown-user"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class AuthResult:
    """An outcome, the username the device claimed (for logs and counting), and why."""

    outcome: AuthOutcome
    username: str | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome is AuthOutcome.OK

    @property
    def is_failure(self) -> bool:
        """Whether this counts as a failed attempt (STALE does not: the password was right)."""
        return self.outcome not in (AuthOutcome.OK, AuthOutcome.STALE)


def challenge_header_name(status: int) -> str:
    """Header carrying the challenge: WWW-Authenticate in a 401, Proxy-Authenticate in a 407."""
    return "Proxy-Authenticate" if status == 407 else "WWW-Authenticate"


def credentials_header_name(status: int) -> str:
    """Header the device answers with: Authorization after a 401, Proxy-Authorization after 407."""
    return "Proxy-Authorization" if status == 407 else "Authorization"


def find_credentials(credentials: Iterable[Challenge], realm: str) -> Challenge | None:
    """The Digest credentials meant for ``realm`` among several (RFC 3261 §22.3).

    A request may carry credentials for several proxies on its path; each uses the one with its own
    realm. When none matches, the first Digest value is returned so that verification reports it
    as MALFORMED (wrong realm) instead of the request looking unauthenticated.
    """
    first: Challenge | None = None
    for cred in credentials:
        if cred.scheme.lower() != "digest":
            continue
        if cred.get("realm") == realm:
            return cred
        if first is None:
            first = cred
    return first


class NonceLedger:
    """Highest nonce-count seen per answered nonce, to refuse replays (RFC 7616 §3.4.5, §5.9).

    Memory is bounded two ways: an entry is dropped once its nonce has expired (a response with it
    is STALE anyway), and at most ``max_entries`` are kept (default 100 000). When full, the oldest
    issued entry is evicted and its issue time becomes a floor: an unknown nonce issued at or before
    the floor might have been evicted, so it is treated as stale (the device fetches a fresh nonce)
    instead of being trusted with a fresh count. Replays are therefore never accepted, even under
    a flood; the cost of overload is extra challenges.
    """

    __slots__ = ("_floor", "_heap", "_max", "_seen", "_timeout")

    def __init__(self, timeout: float, max_entries: int = DEFAULT_MAX_NONCES) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be positive")
        self._timeout = timeout
        self._max = max_entries
        self._seen: dict[str, int] = {}
        self._heap: list[tuple[float, str]] = []
        self._floor = float("-inf")

    def __len__(self) -> int:
        return len(self._seen)

    def _expire(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] + self._timeout < now:
            _, nonce = heapq.heappop(heap)
            self._seen.pop(nonce, None)

    def accept(self, nonce: str, issued: float, nc: int, now: float) -> AuthOutcome:
        """Record ``nc`` for ``nonce`` if it is higher than any seen: OK, REPLAY or STALE."""
        self._expire(now)
        highest = self._seen.get(nonce)
        if highest is None:
            if issued <= self._floor:
                return AuthOutcome.STALE
            while len(self._seen) >= self._max:
                evicted_issued, evicted = heapq.heappop(self._heap)
                del self._seen[evicted]
                self._floor = max(self._floor, evicted_issued)
            if issued <= self._floor:
                return AuthOutcome.STALE
            heapq.heappush(self._heap, (issued, nonce))
            self._seen[nonce] = nc
            return AuthOutcome.OK
        if nc <= highest:
            return AuthOutcome.REPLAY
        self._seen[nonce] = nc
        return AuthOutcome.OK


_REQUIRED = ("username", "realm", "nonce", "uri", "response", "qop", "nc", "cnonce")


class DigestAuthenticator:
    """Builds challenges and verifies answers for one realm (RFC 3261 §22.1, §22.3).

    ``secret`` keys the nonce MAC (bytes from the bootstrap secrets; a random one per start only
    means nonces outstanding at a restart come back STALE). ``random_bytes`` is the runtime's CSPRNG
    (``os.urandom``), injected so this module never touches global randomness. ``timeout`` is
    SS_SIP_AUTHENTICATION_TIMEOUT: a nonce issued at ``t`` is valid while ``now <= t + timeout``.
    ``algorithms`` are offered strongest first, SHA-256 before MD5 (RFC 8760 §2.4).

    Nonce ages use the ``now`` of this process's monotonic clock: nodes sharing a secret do not
    share a clock, so a nonce answered to another node is STALE there (never accepted by mistake).
    """

    __slots__ = ("_algorithms", "_ledger", "_opaque", "_random", "_secret", "realm", "timeout")

    def __init__(
        self,
        realm: str,
        secret: bytes,
        random_bytes: Callable[[int], bytes],
        *,
        timeout: float = 10.0,
        algorithms: Sequence[Algorithm] = (Algorithm.SHA256, Algorithm.MD5),
        max_nonces: int = DEFAULT_MAX_NONCES,
    ) -> None:
        if not secret:
            raise ValueError("a non-empty secret is required")
        if not algorithms:
            raise ValueError("at least one algorithm is required")
        self.realm = realm
        self.timeout = timeout
        self._secret = secret
        self._random = random_bytes
        self._algorithms = tuple(sorted(dict.fromkeys(algorithms), key=lambda a: -a.strength))
        self._ledger = NonceLedger(timeout, max_nonces)
        # Opaque lets us recognise answers to our own challenges; it need not be secret.
        mac = hmac.new(secret, b"opaque:" + realm.encode("utf-8", "surrogateescape"), "sha256")
        self._opaque = mac.hexdigest()[:32]

    @property
    def algorithms(self) -> tuple[Algorithm, ...]:
        return self._algorithms

    # ------------------------------------------------------------------ nonces
    def _mac(self, body: bytes) -> bytes:
        data = body + self.realm.encode("utf-8", "surrogateescape")
        return hmac.new(self._secret, data, hashlib.sha256).digest()[:_MAC_LEN]

    def make_nonce(self, now: float) -> str:
        """A fresh nonce stamped with ``now``."""
        random_part = self._random(_RANDOM_LEN)
        if len(random_part) != _RANDOM_LEN:
            raise ValueError("random_bytes returned the wrong number of bytes")
        body = _STAMP.pack(now) + random_part
        return base64.urlsafe_b64encode(body + self._mac(body)).decode("ascii")

    def nonce_issued(self, nonce: str) -> float | None:
        """When ``nonce`` was issued, or None if it is not one of ours (forged, other secret)."""
        try:
            raw = base64.urlsafe_b64decode(nonce.encode("ascii"))
        except (UnicodeEncodeError, binascii.Error, ValueError):
            return None
        if len(raw) != _NONCE_LEN:
            return None
        body, mac = raw[:-_MAC_LEN], raw[-_MAC_LEN:]
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        issued: float = _STAMP.unpack(body[: _STAMP.size])[0]
        return issued

    # ------------------------------------------------------------------ challenges
    def challenges(self, now: float, *, stale: bool = False) -> list[str]:
        """Header values to put in a 401/407, one per algorithm, strongest first.

        They share one nonce (as in RFC 7616 §3.9.1), so whichever the device picks counts the same.
        Which header carries them is the caller's choice (:func:`challenge_header_name`).
        """
        nonce = self.make_nonce(now)
        tail = ", stale=true" if stale else ""
        return [
            f'Digest realm={quote(self.realm)}, nonce="{nonce}", opaque="{self._opaque}", '
            f'algorithm={alg.value}, qop="auth"{tail}'
            for alg in self._algorithms
        ]

    # ------------------------------------------------------------------ verification
    def verify(
        self,
        method: str,
        credentials: Challenge,
        secret: str | Credential | PasswordLookup,
        now: float,
        *,
        request_uri: str | None = None,
    ) -> AuthResult:
        """Check one Authorization / Proxy-Authorization value for a request.

        ``secret`` is the user's password, their :class:`Credential`, or a lookup by username.
        ``request_uri``, when given, must equal the ``uri`` parameter as text (RFC 7616 §3.4.6,
        RFC 3261 §22.4); a B2BUA passes the Request-URI of the request it received.
        The digest is checked before the nonce's age, so STALE is only ever told to a device that
        knows the password (RFC 7616 §3.3, "stale").
        """
        if credentials.scheme.lower() != "digest":
            return AuthResult(AuthOutcome.MALFORMED, None, f"scheme {credentials.scheme}")
        values: dict[str, str] = {}
        for name in _REQUIRED:
            value = credentials.get(name)
            if value is None:
                return AuthResult(AuthOutcome.MALFORMED, credentials.get("username"), f"no {name}")
            values[name] = value
        username = values["username"]
        userhash = credentials.get("userhash")
        if userhash is not None and userhash.lower() != "false":
            return AuthResult(AuthOutcome.MALFORMED, username, "userhash not supported")
        if values["realm"] != self.realm:
            return AuthResult(AuthOutcome.MALFORMED, username, "wrong realm")
        if values["qop"].lower() != "auth":
            return AuthResult(AuthOutcome.MALFORMED, username, "qop must be auth")
        algorithm = parse_algorithm(credentials.get("algorithm"))
        if algorithm is None or algorithm not in self._algorithms:
            return AuthResult(AuthOutcome.MALFORMED, username, "algorithm not offered")
        nc_text = values["nc"]
        if not 1 <= len(nc_text) <= 8 or any(c not in "0123456789abcdefABCDEF" for c in nc_text):
            return AuthResult(AuthOutcome.MALFORMED, username, "malformed nc")
        nc = int(nc_text, 16)
        if nc == 0:
            return AuthResult(AuthOutcome.MALFORMED, username, "nc must start at 1")
        if request_uri is not None and values["uri"] != request_uri:
            return AuthResult(AuthOutcome.MALFORMED, username, "uri differs from Request-URI")
        opaque = credentials.get("opaque")
        if opaque is not None and opaque != self._opaque:
            # Missing opaque is tolerated (old devices drop it); a different one is not ours.
            return AuthResult(AuthOutcome.MALFORMED, username, "opaque mismatch")

        found = secret(username) if callable(secret) else secret
        if found is None:
            return AuthResult(AuthOutcome.UNKNOWN_USER, username, "unknown user")
        cred = Credential(password=found) if isinstance(found, str) else found
        stored = cred.ha1_for(username, self.realm, algorithm)
        if stored is None:
            return AuthResult(AuthOutcome.BAD_RESPONSE, username, f"no HA1 for {algorithm.value}")
        expected = request_digest(
            algorithm,
            stored,
            nonce=values["nonce"],
            method=method,
            uri=values["uri"],
            qop="auth",
            nc=nc_text,
            cnonce=values["cnonce"],
        )
        given = values["response"].lower().encode("utf-8", "surrogateescape")
        if not hmac.compare_digest(expected.encode("ascii"), given):
            return AuthResult(AuthOutcome.BAD_RESPONSE, username, "wrong response")

        issued = self.nonce_issued(values["nonce"])
        if issued is None:
            return AuthResult(AuthOutcome.STALE, username, "nonce not ours")
        if not issued <= now <= issued + self.timeout:
            return AuthResult(AuthOutcome.STALE, username, "nonce expired")
        outcome = self._ledger.accept(values["nonce"], issued, nc, now)
        detail = {AuthOutcome.REPLAY: "nonce count replayed", AuthOutcome.STALE: "nonce evicted"}
        return AuthResult(outcome, username, detail.get(outcome, ""))
