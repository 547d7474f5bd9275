"""Prefix lookup (``softswitch.routing.prefix_tree``): a table of lookups, shared prefixes,
the empty prefix, immutability after build, and properties: ``longest`` and ``matches`` agree
with a brute-force scan of every prefix."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.routing import PrefixTree

DIAL = st.text(alphabet="0123456789+*#", max_size=8)
DIGITS = st.text(alphabet="0123", max_size=8)  # a small alphabet makes prefixes collide often

TREE = PrefixTree(
    [
        ("44", "uk"),
        ("4420", "london"),
        ("44207", "london-central"),
        ("1", "nanp"),
        ("1212", "nyc"),
        ("+44", "uk-plus"),
        ("*9", "service"),
    ]
)


@pytest.mark.parametrize(
    ("number", "longest", "prefix"),
    [
        ("442079460000", ("london-central",), "44207"),
        ("442089460000", ("london",), "4420"),
        ("441619460000", ("uk",), "44"),
        ("44", ("uk",), "44"),  # the number is exactly a prefix
        ("4", (), None),  # shorter than every prefix
        ("12125550100", ("nyc",), "1212"),
        ("13105550100", ("nanp",), "1"),
        ("+442079", ("uk-plus",), "+44"),  # "+" is a character like any other
        ("*98", ("service",), "*9"),
        ("33123", (), None),
        ("", (), None),
    ],
)
def test_longest(number: str, longest: tuple[str, ...], prefix: str | None) -> None:
    assert TREE.longest(number) == longest
    assert TREE.longest_prefix(number) == prefix


def test_matches_are_every_prefix_longest_first() -> None:
    assert TREE.matches("442079460000") == [
        ("44207", ("london-central",)),
        ("4420", ("london",)),
        ("44", ("uk",)),
    ]
    assert TREE.matches("1999") == [("1", ("nanp",))]
    assert TREE.matches("999") == []


def test_values_sharing_a_prefix_keep_build_order() -> None:
    tree = PrefixTree([("44", "b"), ("1", "x"), ("44", "a"), ("44", "c")])
    assert tree.longest("4412") == ("b", "a", "c")
    assert tree.get("44") == ("b", "a", "c")
    assert len(tree) == 2
    assert list(tree.prefixes()) == ["44", "1"]


def test_empty_prefix_matches_every_number_last() -> None:
    tree = PrefixTree([("", "default"), ("44", "uk")])
    assert tree.longest("3312") == ("default",)
    assert tree.longest("") == ("default",)
    assert tree.longest_prefix("3312") == ""
    assert tree.matches("4412") == [("44", ("uk",)), ("", ("default",))]


def test_empty_tree() -> None:
    tree: PrefixTree[int] = PrefixTree()
    assert len(tree) == 0
    assert tree.longest("123") == ()
    assert tree.matches("123") == []
    assert tree.longest_prefix("123") is None


def test_exact_get_and_contains() -> None:
    assert TREE.get("4420") == ("london",)
    assert TREE.get("442") == ()  # on the way to a prefix, but not one itself
    assert "4420" in TREE
    assert "442" not in TREE
    assert 44 not in TREE


def test_later_changes_to_the_input_do_not_reach_the_tree() -> None:
    pairs = [("44", "uk")]
    tree = PrefixTree(pairs)
    pairs.append(("4420", "london"))
    assert tree.longest("442079") == ("uk",)


def test_values_are_immutable_tuples() -> None:
    values = TREE.longest("44207")
    assert isinstance(values, tuple)
    with pytest.raises(AttributeError):
        TREE.extra = 1  # type: ignore[attr-defined]


def test_non_string_prefix_is_refused() -> None:
    with pytest.raises(TypeError, match="prefix must be a str"):
        PrefixTree([(44, "uk")])  # type: ignore[list-item]


def test_repr_names_size() -> None:
    assert "7 prefixes" in repr(TREE)


def brute_matches(pairs: list[tuple[str, int]], number: str) -> list[tuple[str, tuple[int, ...]]]:
    grouped: dict[str, list[int]] = {}
    for prefix, value in pairs:
        grouped.setdefault(prefix, []).append(value)
    found = [(p, tuple(v)) for p, v in grouped.items() if number.startswith(p)]
    return sorted(found, key=lambda item: -len(item[0]))


@settings(max_examples=200, deadline=None)
@given(
    prefixes=st.lists(DIGITS, max_size=30),
    number=DIGITS,
)
def test_agrees_with_brute_force_scan(prefixes: list[str], number: str) -> None:
    pairs = [(prefix, index) for index, prefix in enumerate(prefixes)]
    tree = PrefixTree(pairs)
    expected = brute_matches(pairs, number)
    assert tree.matches(number) == expected
    assert tree.longest(number) == (expected[0][1] if expected else ())
    assert tree.longest_prefix(number) == (expected[0][0] if expected else None)


@settings(max_examples=200, deadline=None)
@given(prefixes=st.lists(DIAL, min_size=1, max_size=20), tail=DIAL, data=st.data())
def test_a_prefix_plus_any_tail_finds_a_match_at_least_that_long(
    prefixes: list[str], tail: str, data: st.DataObject
) -> None:
    tree = PrefixTree((prefix, prefix) for prefix in prefixes)
    chosen = data.draw(st.sampled_from(prefixes))
    found = tree.longest_prefix(chosen + tail)
    assert found is not None
    assert len(found) >= len(chosen)
    assert (chosen + tail).startswith(found)
    assert tree.longest(chosen + tail) == tree.get(found)
