"""Digest computations shared by the server and client sides (RFC 7616, RFC 8760, RFC 3261 §22).

SIP borrows HTTP Digest unchanged except for two points: the challenge travels in a 401
(``WWW-Authenticate``) or 407 (``Proxy-Authenticate``) response, and the ``uri`` parameter is the
Request-URI (RFC 3261 §22.4). RFC 8760 adds SHA-256 (and SHA-512/256, which we do not offer: almost
no SIP device implements it) to SIP.

Only ``qop=auth`` is supported on the server; ``auth-int`` would make every answer depend on the
body, which a B2BUA has no reason to protect this way (TLS does it better). Usernames are sent in
clear (``userhash=false``): SIP devices do not implement RFC 7616 §3.4.4 userhash.

Every hash input is the octets the peer sent: header values are UTF-8 with surrogateescape
(see :mod:`softswitch.sip.message`), so encoding them back the same way gives the original bytes.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "Algorithm",
    "Credential",
    "ha1",
    "parse_algorithm",
    "request_digest",
    "session_ha1",
]

_ENC = "utf-8"
_ERRORS = "surrogateescape"


class Algorithm(Enum):
    """The digest algorithms we speak, by their wire token (RFC 7616 §3.3, RFC 8760 §2.2)."""

    MD5 = "MD5"
    MD5_SESS = "MD5-sess"
    SHA256 = "SHA-256"
    SHA256_SESS = "SHA-256-sess"

    @property
    def hash_name(self) -> str:
        """The :mod:`hashlib` name of the underlying hash."""
        return "sha256" if self in (Algorithm.SHA256, Algorithm.SHA256_SESS) else "md5"

    @property
    def is_session(self) -> bool:
        """Whether HA1 also covers nonce and cnonce (the ``-sess`` variants, RFC 7616 §3.4.2)."""
        return self in (Algorithm.MD5_SESS, Algorithm.SHA256_SESS)

    @property
    def strength(self) -> int:
        """Preference order: a client answers the strongest challenge it understands (§3.7)."""
        return 2 if self.hash_name == "sha256" else 1

    @property
    def base(self) -> Algorithm:
        """The non-session algorithm with the same hash (whose HA1 a server may store)."""
        return Algorithm.SHA256 if self.hash_name == "sha256" else Algorithm.MD5


_BY_TOKEN = {alg.value.lower(): alg for alg in Algorithm}


def parse_algorithm(token: str | None) -> Algorithm | None:
    """The algorithm named by ``token``; an absent parameter means MD5 (RFC 7616 §3.3).

    Returns None for an algorithm we do not know, so the caller can skip that challenge (client)
    or refuse the credentials (server). Matching is case-insensitive: devices write ``md5``.
    """
    if token is None:
        return Algorithm.MD5
    return _BY_TOKEN.get(token.strip().lower())


def _hex(algorithm: Algorithm, text: str) -> str:
    return hashlib.new(algorithm.hash_name, text.encode(_ENC, _ERRORS)).hexdigest()


def ha1(username: str, realm: str, password: str, algorithm: Algorithm = Algorithm.MD5) -> str:
    """H(username ":" realm ":" password): what a server may store instead of the password.

    For a ``-sess`` algorithm this is the stored part only; :func:`session_ha1` then mixes in the
    nonces. The value depends on the realm, so changing SS_SIP_AUTHENTICATION_REALM invalidates
    every stored HA1 (plain passwords keep working).
    """
    return _hex(algorithm, f"{username}:{realm}:{password}")


def session_ha1(algorithm: Algorithm, stored_ha1: str, nonce: str, cnonce: str) -> str:
    """The HA1 used in the response: for ``-sess``, H(stored-HA1 ":" nonce ":" cnonce) (§3.4.2)."""
    if not algorithm.is_session:
        return stored_ha1
    return _hex(algorithm, f"{stored_ha1}:{nonce}:{cnonce}")


def request_digest(
    algorithm: Algorithm,
    stored_ha1: str,
    *,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None,
    nc: str = "",
    cnonce: str = "",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1), lower-case hex.

    With ``qop`` (always ``auth`` here) the digest covers nonce, nc, cnonce and qop; without it this
    is the RFC 2069 form, kept only for answering old servers that do not offer qop.
    ``nc`` is the 8-hex-digit text exactly as it appears on the wire.
    """
    h1 = session_ha1(algorithm, stored_ha1, nonce, cnonce)
    h2 = _hex(algorithm, f"{method}:{uri}")
    if qop is None:
        return _hex(algorithm, f"{h1}:{nonce}:{h2}")
    return _hex(algorithm, f"{h1}:{nonce}:{nc}:{cnonce}:{qop}:{h2}")


@dataclass(frozen=True, slots=True)
class Credential:
    """What the server knows about one user: the password, or HA1 values stored in its place.

    Storing HA1 (``ha1_md5`` / ``ha1_sha256``, computed with :func:`ha1` for our realm) keeps
    plain passwords out of the database; a user whose HA1 is missing for the algorithm the device
    chose fails as a bad response, as if the password were wrong.
    """

    password: str | None = None
    ha1_md5: str | None = None
    ha1_sha256: str | None = None

    def ha1_for(self, username: str, realm: str, algorithm: Algorithm) -> str | None:
        """The stored (non-session) HA1 for ``algorithm``'s hash, or None when unknown."""
        if self.password is not None:
            return ha1(username, realm, self.password, algorithm.base)
        stored = self.ha1_sha256 if algorithm.hash_name == "sha256" else self.ha1_md5
        return None if stored is None else stored.lower()
