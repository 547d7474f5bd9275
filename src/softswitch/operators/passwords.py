"""Operator passwords: the length rule, argon2id hashing with rehash-on-verify, and generation.

Why argon2id: it is memory-hard, so a stolen ``operator_users`` table costs an attacker memory
as well as time per guess (RFC 9106 section 4 recommends the ``id`` variant). The encoded hash
carries its own parameters, so raising the cost later needs no migration: a hash made with the
old parameters still verifies, and :meth:`PasswordHashing.verify` reports that it should be
replaced (rehash-on-verify) the next time its owner logs in with the right password.

Hashing is slow on purpose (tens of milliseconds with the defaults); the service runs it in a
worker thread so the event loop that carries calls is not blocked.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from softswitch.params import ParamStore

__all__ = [
    "GENERATED_PASSWORD_LENGTH",
    "MAX_PASSWORD_LENGTH",
    "PASSWORD_ALPHABET",
    "PasswordHashing",
    "PasswordTooLong",
    "PasswordTooShort",
    "Verification",
    "check_password",
    "generate_password",
    "min_password_length",
]

MAX_PASSWORD_LENGTH = 1024
"""Longer passwords are refused: hashing megabytes on request would be a denial of service."""

GENERATED_PASSWORD_LENGTH = 20
"""Length of generated passwords: 20 characters of a 57-symbol alphabet is about 116 bits."""

PASSWORD_ALPHABET = (
    "".join(c for c in string.ascii_letters + string.digits if c not in "0O1lI") + "-_.!@#%+="
)
"""Generated passwords avoid look-alike characters because the first one is read off a console
and typed by a person; the punctuation chosen needs no quoting in a shell or a URL form."""


class PasswordTooShort(ValueError):
    """The password is shorter than SERVER_PASSWORD_LENGTH; the message says both lengths."""

    def __init__(self, length: int, minimum: int) -> None:
        super().__init__(
            f"password too short: {length} characters, at least {minimum} required "
            "(system parameter SERVER_PASSWORD_LENGTH)"
        )
        self.length = length
        self.minimum = minimum


class PasswordTooLong(ValueError):
    """The password is longer than :data:`MAX_PASSWORD_LENGTH`."""

    def __init__(self, length: int) -> None:
        super().__init__(
            f"password too long: {length} characters, at most {MAX_PASSWORD_LENGTH} allowed"
        )
        self.length = length


def min_password_length(params: ParamStore) -> int:
    """The minimum length in force (SERVER_PASSWORD_LENGTH), read at each use so a change of
    the parameter applies without a restart."""
    return params.get_int("SERVER_PASSWORD_LENGTH")


def check_password(password: str, params: ParamStore) -> None:
    """Refuse a new password that breaks the length rules (counted in characters, not bytes).

    Raises :class:`PasswordTooShort` or :class:`PasswordTooLong`. Only *new* passwords are
    checked: a password set before the minimum was raised still logs in.
    """
    minimum = min_password_length(params)
    if len(password) < minimum:
        raise PasswordTooShort(len(password), minimum)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise PasswordTooLong(len(password))


def generate_password(length: int = GENERATED_PASSWORD_LENGTH) -> str:
    """A random password from the operating system's CSPRNG (``secrets``), for first start and
    for resets; it contains at least one letter and one digit so common composition rules of
    other systems accept it too."""
    if length < 2:
        raise ValueError(f"generated password length must be at least 2, got {length}")
    while True:
        candidate = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(length))
        if any(c.isalpha() for c in candidate) and any(c.isdigit() for c in candidate):
            return candidate


@dataclass(frozen=True, slots=True)
class Verification:
    """Outcome of checking a password against a stored hash.

    ``new_hash`` is set only when the password matched and the stored hash was made with other
    parameters than the ones in force: the caller stores it in place of the old one.
    """

    ok: bool
    new_hash: str | None = None


class PasswordHashing:
    """argon2id hashing with the parameters of the given ``PasswordHasher``.

    The default hasher is argon2-cffi's (RFC 9106 low-memory profile); tests pass a cheap one.
    """

    __slots__ = ("_dummy", "_hasher")

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self._hasher = hasher if hasher is not None else PasswordHasher()
        self._dummy: str | None = None

    def hash(self, password: str) -> str:
        """The encoded argon2 hash (``$argon2id$v=19$m=...``) of ``password``, freshly salted."""
        return self._hasher.hash(password)

    def needs_rehash(self, encoded: str) -> bool:
        """True when ``encoded`` was made with other parameters than the ones in force."""
        return self._hasher.check_needs_rehash(encoded)

    def verify(self, encoded: str, password: str) -> Verification:
        """Check ``password`` against ``encoded``; a malformed stored hash never matches.

        On a match made with outdated parameters, ``new_hash`` holds a replacement.
        """
        try:
            self._hasher.verify(encoded, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return Verification(ok=False)
        if self.needs_rehash(encoded):
            return Verification(ok=True, new_hash=self.hash(password))
        return Verification(ok=True)

    def burn(self, password: str) -> None:
        """Spend the time of one verification without a user to verify against.

        Used for unknown usernames, so that the answer to "no such user" takes as long as the
        answer to "wrong password" and timing does not reveal which usernames exist.
        """
        if self._dummy is None:
            self._dummy = self.hash(generate_password())
        self.verify(self._dummy, password)
