"""Password rules, argon2id hashing with rehash-on-verify, and generated passwords."""

from __future__ import annotations

from typing import Literal

import pytest
from argon2 import PasswordHasher
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.operators import (
    GENERATED_PASSWORD_LENGTH,
    MAX_PASSWORD_LENGTH,
    PasswordHashing,
    PasswordTooLong,
    PasswordTooShort,
    check_password,
    generate_password,
    min_password_length,
)
from softswitch.operators.passwords import PASSWORD_ALPHABET
from softswitch.params import ParamStore, load_catalog

CHEAP = PasswordHashing(PasswordHasher(time_cost=1, memory_cost=8, parallelism=1))


def store(**overrides: object) -> ParamStore:
    params = ParamStore(load_catalog())
    params.update(overrides)
    return params


def test_hash_is_salted_argon2id_and_verifies() -> None:
    first, second = CHEAP.hash("correct horse"), CHEAP.hash("correct horse")
    assert first.startswith("$argon2id$")
    assert first != second  # a fresh salt each time
    assert CHEAP.verify(first, "correct horse").ok
    assert CHEAP.verify(second, "correct horse").ok


def test_wrong_password_does_not_verify() -> None:
    encoded = CHEAP.hash("correct horse")
    assert not CHEAP.verify(encoded, "correct hors").ok
    assert not CHEAP.verify(encoded, "").ok


def test_malformed_stored_hash_never_matches() -> None:
    assert not CHEAP.verify("not-a-hash", "anything").ok
    assert not CHEAP.verify("", "").ok


def test_rehash_on_verify_when_parameters_change() -> None:
    old = CHEAP.hash("s3cret-pass")
    stronger = PasswordHashing(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    result = stronger.verify(old, "s3cret-pass")
    assert result.ok
    assert result.new_hash is not None
    assert "m=16,t=2,p=1" in result.new_hash
    # The replacement verifies and is current: no further rehash.
    again = stronger.verify(result.new_hash, "s3cret-pass")
    assert again.ok and again.new_hash is None


def test_no_rehash_offered_for_a_wrong_password() -> None:
    old = CHEAP.hash("s3cret-pass")
    stronger = PasswordHashing(PasswordHasher(time_cost=2, memory_cost=16, parallelism=1))
    result = stronger.verify(old, "wrong-pass")
    assert not result.ok and result.new_hash is None


def test_current_hash_needs_no_rehash() -> None:
    encoded = CHEAP.hash("s3cret-pass")
    assert not CHEAP.needs_rehash(encoded)
    assert CHEAP.verify(encoded, "s3cret-pass").new_hash is None


class CountingHasher(PasswordHasher):
    """Counts hashes and verifications, to show what ``burn`` spends."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost=8, parallelism=1)
        self.hashes = 0
        self.verifies = 0

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        self.hashes += 1
        return super().hash(password, salt=salt)

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
        self.verifies += 1
        return super().verify(hash, password)


def test_burn_spends_one_verification_against_a_dummy_made_once() -> None:
    counting = CountingHasher()
    hashing = PasswordHashing(counting)
    hashing.burn("whatever")
    assert (counting.hashes, counting.verifies) == (1, 1)
    hashing.burn("whatever again")
    assert (counting.hashes, counting.verifies) == (1, 2)


@settings(max_examples=50, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40))
def test_any_text_round_trips(password: str) -> None:
    encoded = CHEAP.hash(password)
    assert CHEAP.verify(encoded, password).ok
    assert not CHEAP.verify(encoded, password + "x").ok


def test_minimum_length_comes_from_the_parameter() -> None:
    assert min_password_length(store()) == 8  # the catalogue default
    assert min_password_length(store(SERVER_PASSWORD_LENGTH=12)) == 12


def test_too_short_is_refused_with_a_clear_message() -> None:
    with pytest.raises(PasswordTooShort) as caught:
        check_password("abc4567", store())
    assert caught.value.length == 7 and caught.value.minimum == 8
    message = str(caught.value)
    assert "7 characters" in message
    assert "at least 8" in message
    assert "SERVER_PASSWORD_LENGTH" in message


def test_exact_minimum_is_accepted() -> None:
    check_password("abcd5678", store())
    check_password("x" * 12, store(SERVER_PASSWORD_LENGTH=12))


def test_raised_minimum_applies_at_once() -> None:
    params = store()
    check_password("abcd5678", params)
    params.set("SERVER_PASSWORD_LENGTH", 10)
    with pytest.raises(PasswordTooShort):
        check_password("abcd5678", params)


def test_length_counts_characters_not_bytes() -> None:
    with pytest.raises(PasswordTooShort):
        check_password("é" * 7, store())  # 14 bytes of UTF-8, still 7 characters
    check_password("é" * 8, store())


def test_too_long_is_refused() -> None:
    check_password("x" * MAX_PASSWORD_LENGTH, store())
    with pytest.raises(PasswordTooLong, match="at most 1024"):
        check_password("x" * (MAX_PASSWORD_LENGTH + 1), store())


def test_generated_passwords() -> None:
    made = {generate_password() for _ in range(50)}
    assert len(made) == 50
    for password in made:
        assert len(password) == GENERATED_PASSWORD_LENGTH
        assert set(password) <= set(PASSWORD_ALPHABET)
        assert any(c.isalpha() for c in password) and any(c.isdigit() for c in password)
        check_password(password, store())
    assert len(generate_password(32)) == 32


def test_generated_alphabet_avoids_look_alikes() -> None:
    assert not set("0O1lI") & set(PASSWORD_ALPHABET)


def test_generated_length_must_allow_a_letter_and_a_digit() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        generate_password(1)
