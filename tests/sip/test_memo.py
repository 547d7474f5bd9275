"""The bounded memo behind the parsers of header values that repeat in every message."""

from __future__ import annotations

import pytest

from softswitch.sip.errors import RemoteProtocolError
from softswitch.sip.grammar import parse_name_addr
from softswitch.sip.memo import Memo


def test_a_value_is_built_once_while_held_and_the_memo_never_grows_past_its_limit() -> None:
    built: list[str] = []

    def build(text: str) -> str:
        built.append(text)
        return text.upper()

    memo: Memo[str, str] = Memo(build, limit=3)
    assert [memo("a"), memo("a"), memo("b")] == ["A", "A", "B"]
    assert built == ["a", "b"]
    for key in "cdefg":
        memo(key)
        assert len(memo) <= 3
    memo("a")  # emptied on the way: built again
    assert built.count("a") == 2


def test_a_refused_value_is_refused_again_not_remembered() -> None:
    calls = 0

    def build(text: str) -> int:
        nonlocal calls
        calls += 1
        raise ValueError(text)

    memo: Memo[str, int] = Memo(build)
    for _ in range(2):
        with pytest.raises(ValueError):
            memo("bad")
    assert calls == 2 and len(memo) == 0


def test_parsed_addresses_are_shared_values_and_bad_ones_still_raise() -> None:
    text = '"Alice" <sip:alice@example.com>;tag=1928301774'
    first, again = parse_name_addr(text), parse_name_addr(text)
    assert first is again and first.tag == "1928301774"
    with pytest.raises(RemoteProtocolError):
        parse_name_addr("Bell, Alexander <sip:a.g.bell@example.com>")
    with pytest.raises(RemoteProtocolError):
        parse_name_addr("Bell, Alexander <sip:a.g.bell@example.com>")
