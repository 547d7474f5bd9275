"""Identifiers we mint: Via branches, tags and Call-IDs (RFC 3261 §8.1.1.4, §8.1.1.7, §19.3).

The source is injected, never the global ``random`` module: tests pass a fixed seed and get the same
identifiers every run, and the process-wide default is seeded from the operating system's CSPRNG
(branches and tags must be unguessable, §19.3: they stand between a forged CANCEL or BYE and a
call).

Every branch we issue carries a marker derived from the seed. Seeing our own marker in a Via that
also names one of our addresses means a request we sent came back to us: a loop (§16.3 item 4,
§8.2.2.2), answered with 482 by the endpoint.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from typing import Protocol

__all__ = ["MAGIC_COOKIE", "IdSource", "RandomIds", "is_rfc3261_branch"]

MAGIC_COOKIE = "z9hG4bK"
"""Prefix of every RFC 3261 branch (§8.1.1.7); without it, the sender is an RFC 2543 element."""


def is_rfc3261_branch(branch: str | None) -> bool:
    """Whether ``branch`` may be used for RFC 3261 transaction matching (§17.2.3).

    A branch that is exactly the magic cookie has no unique part (RFC 4475 badbranch): we tolerate
    the message and fall back to RFC 2543 matching instead of trusting a shared identifier.
    """
    if branch is None:
        return False
    return branch.startswith(MAGIC_COOKIE) and len(branch) > len(MAGIC_COOKIE)


class IdSource(Protocol):
    """What the SIP core needs to mint identifiers and to recognise its own branches."""

    def branch(self) -> str:
        """A new Via branch: the magic cookie, our marker, then an unguessable part."""
        ...

    def tag(self) -> str:
        """A new From or To tag (§19.3: at least 32 bits of randomness)."""
        ...

    def call_id(self, host: str | None = None) -> str:
        """A new Call-ID, ``random@host`` when a host is given (§8.1.1.4)."""
        ...

    def is_ours(self, branch: str | None) -> bool:
        """Whether ``branch`` was issued by this source (loop detection)."""
        ...


class RandomIds:
    """Default identifier source: keyed BLAKE2b over a counter.

    Given the same ``seed`` it yields the same sequence (reproducible tests); without one it draws
    32 bytes from :mod:`secrets` once, at construction. Outputs cannot be predicted from earlier
    ones without the seed, which is all §19.3 asks of tags and branches.

    ``call_ids``, when given, must accept every Call-ID issued: candidates it refuses are
    skipped (the multi-process switch keeps only Call-IDs that hash to the process minting them,
    so the answers come back to it; with N processes about N candidates are drawn per Call-ID).
    """

    __slots__ = ("_accept", "_counter", "_key", "_prefix")

    def __init__(
        self, seed: bytes | None = None, *, call_ids: Callable[[str], bool] | None = None
    ) -> None:
        self._accept = call_ids
        key = seed if seed is not None else secrets.token_bytes(32)
        # BLAKE2b keys are at most 64 bytes; a longer seed is first reduced to one.
        self._key = key if len(key) <= 64 else hashlib.blake2b(key).digest()
        marker = hashlib.blake2b(b"branch-marker", key=self._key, digest_size=4).hexdigest()
        self._prefix = f"{MAGIC_COOKIE}-{marker}-"
        self._counter = 0

    @property
    def branch_prefix(self) -> str:
        """The start shared by every branch of this source."""
        return self._prefix

    def _hex(self, size: int) -> str:
        self._counter += 1
        data = self._counter.to_bytes(8, "big")
        return hashlib.blake2b(data, key=self._key, digest_size=size).hexdigest()

    def branch(self) -> str:
        return self._prefix + self._hex(10)

    def tag(self) -> str:
        return self._hex(8)

    def call_id(self, host: str | None = None) -> str:
        while True:
            value = self._hex(12)
            found = value if host is None else f"{value}@{host}"
            if self._accept is None or self._accept(found):
                return found

    def is_ours(self, branch: str | None) -> bool:
        return branch is not None and branch.startswith(self._prefix)
