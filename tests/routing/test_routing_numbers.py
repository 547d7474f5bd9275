"""Number rewrite rules (``softswitch.routing.numbers``): each kind of rule, the order rules
apply in, rules that do not match, every refusal and its message, and properties: a parsed
rule's text parses to the same rule, and applying valid rules never raises on dial strings."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from softswitch.routing import RewriteError, apply_rules, parse_rule, parse_rules
from softswitch.routing.numbers import RewriteKind, RewriteRule

DIAL_CHARS = "0123456789+*#"


@pytest.mark.parametrize(
    ("rule", "number", "expected"),
    [
        ("strip 2", "0044207946", "44207946"),
        ("strip 1", "9", ""),
        ("strip 5", "123", ""),  # shorter than N: empty (routing then refuses it)
        ("strip 32", "1" * 40, "1" * 8),
        ("add 00", "44207", "0044207"),
        ("add +", "44207", "+44207"),
        ("add *#", "", "*#"),
        ("prefix 0 44", "02079460000", "442079460000"),
        ("prefix 9 -", "90044", "0044"),
        ("prefix 0044 +44", "00442079", "+442079"),
        ("prefix 0 44", "12079", "12079"),  # does not start with FROM: unchanged
        ("prefix 00 1", "0", "0"),  # shorter than FROM: unchanged
        ("prefix 1 1", "1234", "1234"),
        ("regex 1(\\d{10}) \\1", "12125550100", "2125550100"),
        ("regex 1(\\d{10}) \\1", "112125550100", "112125550100"),  # whole-number match only
        ("regex 1(\\d{10}) \\1", "1212555010", "1212555010"),
        ("regex (?P<cc>44)0(?P<rest>\\d+) +\\g<cc>\\g<rest>", "4402079", "+442079"),
        ("regex \\d+ -", "12345", ""),
        ("regex .* 911", "", "911"),
        ("regex (1)?(2) \\1\\2", "2", "2"),  # an unmatched group expands to nothing
        ("  strip 1  ", "123", "23"),
        ("STRIP 1", "123", "23"),
        ("Add 9", "1", "91"),
    ],
)
def test_each_rule(rule: str, number: str, expected: str) -> None:
    assert parse_rule(rule).apply(number) == expected
    assert apply_rules(parse_rules([rule]), number) == expected


def test_parsed_fields() -> None:
    assert parse_rule("strip 3") == RewriteRule(RewriteKind.STRIP, "strip 3", count=3)
    assert parse_rule(" add 00 ") == RewriteRule(RewriteKind.ADD, "add 00", replacement="00")
    assert parse_rule("prefix 9 -") == RewriteRule(
        RewriteKind.PREFIX, "prefix 9 -", match="9", replacement=""
    )
    rule = parse_rule("regex 1(\\d+) -")
    assert rule.kind is RewriteKind.REGEX and rule.replacement == ""
    assert rule.pattern is not None and rule.pattern.pattern == "1(\\d+)"
    assert rule.text == "regex 1(\\d+) -"


@pytest.mark.parametrize(
    ("rules", "number", "expected"),
    [
        (["strip 2", "add 44"], "0020794", "4420794"),
        (["add 44", "strip 2"], "0020794", "0020794"),  # the other order: a different result
        (["prefix 0 44", "prefix 44 +44"], "020", "+4420"),
        (["prefix 44 +44", "prefix 0 44"], "020", "4420"),
        (["strip 1", "strip 1", "strip 1"], "12345", "45"),
        (["prefix 7 8", "prefix 8 9"], "7", "9"),
        (["regex 00(\\d+) +\\1", "prefix +1 1"], "0012125550100", "12125550100"),
        (["prefix 0 -", "regex 9(\\d+) \\1"], "555", "555"),  # neither matches
        ([], "12345", "12345"),
    ],
)
def test_rules_apply_in_order(rules: list[str], number: str, expected: str) -> None:
    assert apply_rules(parse_rules(rules), number) == expected


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ("", "an empty rewrite rule: remove the line"),
        ("   ", "an empty rewrite rule: remove the line"),
        ("chop 2", "'chop 2': unknown rule 'chop'; expected strip, add, prefix or regex"),
        ("strip", "'strip': expected 'strip N' with N from 1 to 32"),
        ("strip 0", "'strip 0': expected 'strip N' with N from 1 to 32"),
        ("strip 33", "'strip 33': expected 'strip N' with N from 1 to 32"),
        ("strip -1", "'strip -1': expected 'strip N' with N from 1 to 32"),
        ("strip x", "'strip x': expected 'strip N' with N from 1 to 32"),
        ("strip 1 2", "'strip 1 2': expected 'strip N' with N from 1 to 32"),
        ("add", "'add': expected 'add PREFIX'"),
        ("add 1 2", "'add 1 2': expected 'add PREFIX'"),
        ("add -", "'add -': 'add' needs a prefix to add"),
        ("add 4a", "'add 4a': prefix '4a' may hold only digits, +, * and #"),
        ("prefix 0", "'prefix 0': expected 'prefix FROM TO' ('-' for empty)"),
        ("prefix 0 1 2", "'prefix 0 1 2': expected 'prefix FROM TO' ('-' for empty)"),
        ("prefix - 44", "'prefix - 44': FROM may not be empty (use 'add' to add a prefix)"),
        ("prefix x 44", "'prefix x 44': FROM 'x' may hold only digits, +, * and #"),
        ("prefix 0 4-4", "'prefix 0 4-4': TO '4-4' may hold only digits, +, * and #"),
        ("regex 1", "'regex 1': expected 'regex PATTERN REPLACEMENT' ('-' for empty)"),
        ("regex 1 2 3", "'regex 1 2 3': expected 'regex PATTERN REPLACEMENT' ('-' for empty)"),
    ],
)
def test_refusals_say_what_is_expected(rule: str, message: str) -> None:
    with pytest.raises(RewriteError) as refused:
        parse_rule(rule)
    assert str(refused.value) == message


@pytest.mark.parametrize(
    ("rule", "start"),
    [
        ("regex (1 x", "'regex (1 x': bad pattern: "),
        ("regex [ x", "'regex [ x': bad pattern: "),
        ("regex 1(2) \\2", "'regex 1(2) \\\\2': bad replacement: "),
        ("regex 1 \\g<name>", "'regex 1 \\\\g<name>': bad replacement: "),
        ("regex (?P<a>1) \\g<b>", "'regex (?P<a>1) \\\\g<b>': bad replacement: "),
        ("regex 1 x\\", "'regex 1 x\\\\': bad replacement: "),
    ],
)
def test_bad_regex_rules_quote_the_rule(rule: str, start: str) -> None:
    with pytest.raises(RewriteError) as refused:
        parse_rule(rule)
    assert str(refused.value).startswith(start), str(refused.value)


def test_parse_rules_names_the_bad_line() -> None:
    with pytest.raises(RewriteError) as refused:
        parse_rules(["strip 1", "add 9", "prefix - 1", "chop"])
    assert str(refused.value) == (
        "rule 3: 'prefix - 1': FROM may not be empty (use 'add' to add a prefix)"
    )
    with pytest.raises(RewriteError, match=r"^rule 1: an empty rewrite rule"):
        parse_rules([""])
    assert parse_rules([]) == ()
    assert [r.kind for r in parse_rules(["strip 1", "add 2"])] == [
        RewriteKind.STRIP,
        RewriteKind.ADD,
    ]


@pytest.mark.parametrize(
    "rule",
    [
        "strip ²",  # str.isdigit() is true for superscripts, int() refuses them
        "strip ¹⁰",
        "regex 1{9999999999} 2",  # re.compile raises OverflowError, not re.error
        "regex (1){99999999999999999999} 2",
    ],
)
def test_every_refusal_is_a_rewrite_error(rule: str) -> None:
    """Callers (the schemas, ``config apply``) catch RewriteError and turn it into an answer
    naming the field; anything else escapes as a server error."""
    assert issubclass(RewriteError, ValueError)
    with pytest.raises(RewriteError) as refused:
        parse_rule(rule)
    assert str(refused.value).startswith(repr(rule)), str(refused.value)


# -- properties -----------------------------------------------------------------------------

dial = st.text(alphabet=DIAL_CHARS, max_size=24)
dial_word = st.text(alphabet=DIAL_CHARS, min_size=1, max_size=8)
_REGEXES = [
    r"1(\d{10})",
    r"(\d+)",
    r"00(?P<rest>\d+)",
    r"(\+)?(\d*)",
    r"\*(\d)#",
    r".*",
    r"(4[0-9])(0)?(\d+)",
]
_TEMPLATES = {
    r"1(\d{10})": ["\\1", "+1\\1", "-"],
    r"(\d+)": ["\\1", "00\\1", "\\g<1>9"],
    r"00(?P<rest>\d+)": ["+\\g<rest>", "\\1", "011\\g<rest>"],
    r"(\+)?(\d*)": ["\\2", "\\1\\2", "00\\2"],
    r"\*(\d)#": ["\\1", "-"],
    r".*": ["911", "\\g<0>"],
    r"(4[0-9])(0)?(\d+)": ["\\1\\3", "\\1\\2\\3", "+\\1\\3"],
}


@st.composite
def rule_texts(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["strip", "add", "prefix", "regex"]))
    if kind == "strip":
        return f"strip {draw(st.integers(1, 32))}"
    if kind == "add":
        return f"add {draw(dial_word)}"
    if kind == "prefix":
        to = draw(st.one_of(st.just("-"), dial_word))
        return f"prefix {draw(dial_word)} {to}"
    pattern = draw(st.sampled_from(_REGEXES))
    return f"regex {pattern} {draw(st.sampled_from(_TEMPLATES[pattern]))}"


@settings(max_examples=200, deadline=None)
@given(rule_texts())
def test_parse_of_text_round_trips(text: str) -> None:
    rule = parse_rule(text)
    assert rule.text == text
    again = parse_rule(rule.text)
    assert again.kind is rule.kind and again.text == rule.text
    assert (again.count, again.match, again.replacement) == (
        rule.count,
        rule.match,
        rule.replacement,
    )
    if rule.pattern is not None:
        assert again.pattern is not None and again.pattern.pattern == rule.pattern.pattern


@settings(max_examples=200, deadline=None)
@given(st.lists(rule_texts(), max_size=6), dial)
def test_apply_never_raises_on_dial_strings(texts: list[str], number: str) -> None:
    rules = parse_rules(texts)
    result = apply_rules(rules, number)
    assert isinstance(result, str)
    # applying rule by rule gives the same as all at once
    step = number
    for rule in rules:
        step = rule.apply(step)
    assert step == result


@settings(max_examples=200, deadline=None)
@given(dial, st.integers(1, 32), dial_word)
def test_rule_kinds_match_their_meaning(number: str, count: int, word: str) -> None:
    assert parse_rule(f"strip {count}").apply(number) == number[count:]
    assert parse_rule(f"add {word}").apply(number) == word + number
    prefixed = parse_rule(f"prefix {word} -").apply(word + number)
    assert prefixed == number
    if not number.startswith(word):
        assert parse_rule(f"prefix {word} 9").apply(number) == number
    assert parse_rule(r"regex (.*) \1").apply(number) == number


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=40))
def test_any_text_parses_or_is_refused_as_rewrite_error(text: str) -> None:
    """Whatever an operator types, the answer is a rule or a RewriteError with a message."""
    try:
        rule = parse_rule(text)
    except RewriteError as exc:
        assert str(exc)
    else:
        assert rule.text == text.strip()
        assert parse_rule(rule.text).kind is rule.kind


def test_regex_is_compiled_once_per_rule() -> None:
    rule = parse_rule("regex 1(\\d+) \\1")
    assert isinstance(rule.pattern, re.Pattern)
    assert rule.apply("123") == "23" and rule.apply("1") == "1"
