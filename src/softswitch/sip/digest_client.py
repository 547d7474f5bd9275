"""Answering Digest challenges of carriers and upstream registrars (RFC 3261 §22.2-22.3, RFC 7616).

Used when we register to a carrier or send a call to a gateway that answers 401/407. The pure
function :func:`authorize` computes one header value; :class:`DigestClient` adds what a UAC must
remember between requests: the nonce-count of each nonce (RFC 7616 §3.4: a repeated nc looks like a
replay to the server) and fresh cnonces.

Counting retries (SS_SIP_AUTHENTICATION_RETRY) belongs to the caller; a challenge with
``stale=true`` (:func:`is_stale`) means our password was right and must not count as a failure.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from softswitch.sip.digest import Algorithm, ha1, parse_algorithm, request_digest
from softswitch.sip.grammar import quote
from softswitch.sip.headers import Challenge

__all__ = [
    "DigestClient",
    "authorize",
    "choose_challenge",
    "is_stale",
    "offered_qops",
]

_MAX_REMEMBERED = 64
"""Nonces whose count we remember: a client talks to a handful of servers at a time."""


def is_stale(challenge: Challenge) -> bool:
    """Whether the server said our last answer was right but its nonce was old (RFC 7616 §3.3)."""
    value = challenge.get("stale")
    return value is not None and value.strip().lower() == "true"


def offered_qops(challenge: Challenge) -> tuple[str, ...]:
    """The qop-options of a challenge, lower-case (``qop="auth,auth-int"``); () when absent."""
    value = challenge.get("qop")
    if value is None:
        return ()
    return tuple(part.strip().lower() for part in value.split(",") if part.strip())


def _usable(challenge: Challenge) -> Algorithm | None:
    """The algorithm of ``challenge`` if we can answer it, else None."""
    if challenge.scheme.lower() != "digest":
        return None
    if challenge.get("realm") is None or challenge.get("nonce") is None:
        return None
    qops = offered_qops(challenge)
    # We do not compute auth-int; a challenge offering only it cannot be answered.
    if qops and "auth" not in qops:
        return None
    return parse_algorithm(challenge.get("algorithm"))


def choose_challenge(challenges: Iterable[Challenge]) -> Challenge | None:
    """The strongest challenge we can answer: SHA-256 over MD5 (RFC 7616 §3.7, RFC 8760 §2.4).

    Among equals the first wins (servers list their preference first). None when nothing is usable
    (unknown algorithms, other schemes, auth-int only).
    """
    best: Challenge | None = None
    best_strength = 0
    for challenge in challenges:
        algorithm = _usable(challenge)
        if algorithm is not None and algorithm.strength > best_strength:
            best, best_strength = challenge, algorithm.strength
    return best


def authorize(
    challenge: Challenge,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str,
    nc: int = 1,
) -> str:
    """The Authorization / Proxy-Authorization value answering ``challenge`` (RFC 7616 §3.4).

    ``uri`` is the Request-URI of the request being authorized (RFC 3261 §22.4). With qop offered
    we answer ``qop=auth`` with ``nc`` and ``cnonce``; without it, the RFC 2069 form (no qop, nc or
    cnonce), which old servers expect. ``algorithm`` is echoed only if the challenge named it.
    Raises ValueError for a challenge :func:`choose_challenge` would not pick.
    """
    algorithm = _usable(challenge)
    if algorithm is None:
        raise ValueError("challenge cannot be answered (scheme, algorithm or qop unsupported)")
    realm = challenge.get("realm") or ""
    nonce = challenge.get("nonce") or ""
    qop = "auth" if offered_qops(challenge) else None
    if qop is None and algorithm.is_session:
        # -sess needs a cnonce, which only travels with qop (RFC 7616 §3.4.2).
        raise ValueError("session algorithm offered without qop")
    if not 1 <= nc <= 0xFFFFFFFF:
        raise ValueError("nc out of range")
    nc_text = f"{nc:08x}"
    response = request_digest(
        algorithm,
        ha1(username, realm, password, algorithm.base),
        nonce=nonce,
        method=method,
        uri=uri,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
    )
    parts = [
        f"username={quote(username)}",
        f"realm={quote(realm)}",
        f"nonce={quote(nonce)}",
        f"uri={quote(uri)}",
        f'response="{response}"',
    ]
    if challenge.get("algorithm") is not None:
        parts.append(f"algorithm={algorithm.value}")
    if qop is not None:
        # nc and qop are written as tokens: RFC 7616 §3.4 forbids quoting them.
        parts.extend((f"cnonce={quote(cnonce)}", f"qop={qop}", f"nc={nc_text}"))
    opaque = challenge.get("opaque")
    if opaque is not None:
        parts.append(f"opaque={quote(opaque)}")
    return "Digest " + ", ".join(parts)


@dataclass(frozen=True, slots=True)
class _Account:
    username: str
    password: str


class DigestClient:
    """Answers challenges for one account, keeping nonce-counts per nonce (RFC 7616 §3.4).

    ``random_bytes`` is the runtime's CSPRNG (``os.urandom``); cnonces are 16 random octets,
    base64url. A challenge may be answered again (e.g. every REGISTER refresh reuses the last
    nonce): the count then goes up by one. Only the last 64 nonces are remembered.
    """

    __slots__ = ("_account", "_counts", "_random")

    def __init__(self, username: str, password: str, random_bytes: Callable[[int], bytes]) -> None:
        self._account = _Account(username, password)
        self._random = random_bytes
        self._counts: dict[str, int] = {}

    def _next_nc(self, nonce: str) -> int:
        count = self._counts.pop(nonce, 0) + 1
        self._counts[nonce] = count  # re-inserted: most recently used last
        while len(self._counts) > _MAX_REMEMBERED:
            del self._counts[next(iter(self._counts))]
        return count

    def cnonce(self) -> str:
        return base64.urlsafe_b64encode(self._random(16)).decode("ascii").rstrip("=")

    def answer(self, challenge: Challenge, method: str, uri: str) -> str:
        """Header value answering one challenge, with the next nonce-count for its nonce."""
        if _usable(challenge) is None:
            raise ValueError("challenge cannot be answered")
        nc = self._next_nc(challenge.get("nonce") or "")
        acct = self._account
        return authorize(challenge, method, uri, acct.username, acct.password, self.cnonce(), nc)

    def answer_all(self, challenges: Iterable[Challenge], method: str, uri: str) -> list[str]:
        """One header value per challenging realm, each for its strongest usable challenge.

        A forked request may be challenged by several proxies at once; the retry must carry
        credentials for every realm (RFC 3261 §22.3). Empty when nothing can be answered.
        """
        by_realm: dict[str, list[Challenge]] = {}
        for challenge in challenges:
            by_realm.setdefault(challenge.get("realm") or "", []).append(challenge)
        out: list[str] = []
        for group in by_realm.values():
            chosen = choose_challenge(group)
            if chosen is not None:
                out.append(self.answer(chosen, method, uri))
        return out
