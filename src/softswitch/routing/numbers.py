"""Number rewrite rules: how caller and callee numbers change on the way in and out.

Operators keep rules as short lines in gateway records (and in the configuration file), so the
language is small and readable, one rule per line, applied in order; a rule that does not
match leaves the number as it is:

``strip N``
    remove the first N characters (``strip 2``: 0044207… → 44207…); numbers shorter than N
    become empty, which routing then refuses.
``add P``
    put P in front (``add 00``).
``prefix FROM TO``
    when the number starts with FROM, replace that part with TO; ``-`` stands for empty
    (``prefix 0 44`` turns a national 020… into 4420…; ``prefix 9 -`` drops a trunk digit).
``regex PATTERN REPLACEMENT``
    when PATTERN matches the *whole* number, replace it by REPLACEMENT (``\\1``, ``\\g<name>``
    refer to groups; ``-`` for empty). Whole-number matching, so ``regex 1(\\d{10}) \\1`` never
    rewrites half a number by accident.

Numbers are dial strings: digits, ``+``, ``*`` and ``#``; rules are checked when a gateway is
saved (a bad rule is refused with its text and why), so the call path never meets one.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = ["RewriteError", "RewriteKind", "RewriteRule", "apply_rules", "parse_rule", "parse_rules"]

_DIAL = re.compile(r"[0-9+*#]*")
_COUNT = re.compile(r"[0-9]{1,3}")
_EMPTY = "-"
_MAX_STRIP = 32


class RewriteError(ValueError):
    """A rule that cannot be parsed; the message quotes it and says what is expected."""


class RewriteKind(enum.Enum):
    STRIP = "strip"
    ADD = "add"
    PREFIX = "prefix"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class RewriteRule:
    """One parsed rule. ``pattern`` is compiled for ``regex`` rules only."""

    kind: RewriteKind
    text: str
    count: int = 0
    match: str = ""
    replacement: str = ""
    pattern: re.Pattern[str] | None = None

    def apply(self, number: str) -> str:
        """The number after this rule (unchanged when the rule does not match)."""
        if self.kind is RewriteKind.STRIP:
            return number[self.count :]
        if self.kind is RewriteKind.ADD:
            return self.replacement + number
        if self.kind is RewriteKind.PREFIX:
            if number.startswith(self.match):
                return self.replacement + number[len(self.match) :]
            return number
        assert self.pattern is not None
        found = self.pattern.fullmatch(number)
        return found.expand(self.replacement) if found is not None else number


def _dial(value: str, rule: str, what: str) -> str:
    text = "" if value == _EMPTY else value
    if not _DIAL.fullmatch(text):
        raise RewriteError(f"{rule!r}: {what} {value!r} may hold only digits, +, * and #")
    return text


def parse_rule(text: str) -> RewriteRule:
    """Parse one rule line (surrounding spaces ignored)."""
    words = text.split()
    if not words:
        raise RewriteError("an empty rewrite rule: remove the line")
    verb, args = words[0].lower(), words[1:]
    if verb == "strip":
        # isdigit() also accepts superscripts such as "²", which int() refuses: match ASCII.
        if len(args) != 1 or not _COUNT.fullmatch(args[0]) or not 0 < int(args[0]) <= _MAX_STRIP:
            raise RewriteError(f"{text!r}: expected 'strip N' with N from 1 to {_MAX_STRIP}")
        return RewriteRule(RewriteKind.STRIP, text.strip(), count=int(args[0]))
    if verb == "add":
        if len(args) != 1:
            raise RewriteError(f"{text!r}: expected 'add PREFIX'")
        prefix = _dial(args[0], text, "prefix")
        if not prefix:
            raise RewriteError(f"{text!r}: 'add' needs a prefix to add")
        return RewriteRule(RewriteKind.ADD, text.strip(), replacement=prefix)
    if verb == "prefix":
        if len(args) != 2:
            raise RewriteError(f"{text!r}: expected 'prefix FROM TO' ('-' for empty)")
        match, replacement = _dial(args[0], text, "FROM"), _dial(args[1], text, "TO")
        if not match:
            raise RewriteError(f"{text!r}: FROM may not be empty (use 'add' to add a prefix)")
        return RewriteRule(RewriteKind.PREFIX, text.strip(), match=match, replacement=replacement)
    if verb == "regex":
        if len(args) != 2:
            raise RewriteError(f"{text!r}: expected 'regex PATTERN REPLACEMENT' ('-' for empty)")
        try:
            pattern = re.compile(args[0])
        except (re.error, OverflowError, RecursionError) as exc:
            raise RewriteError(f"{text!r}: bad pattern: {exc}") from None
        replacement = "" if args[1] == _EMPTY else args[1]
        try:
            _check_template(pattern, replacement)
        except (re.error, IndexError, OverflowError) as exc:
            raise RewriteError(f"{text!r}: bad replacement: {exc}") from None
        return RewriteRule(
            RewriteKind.REGEX, text.strip(), replacement=replacement, pattern=pattern
        )
    raise RewriteError(f"{text!r}: unknown rule {verb!r}; expected strip, add, prefix or regex")


def _check_template(pattern: re.Pattern[str], replacement: str) -> None:
    """Raise ``re.error``/``IndexError`` when ``replacement`` names a group ``pattern`` lacks:
    expanding it against an empty match with the same groups finds bad references at save
    time instead of on a live call."""
    names = "".join(f"(?P<{name}>)" for name in pattern.groupindex)
    unnamed = pattern.groups - len(pattern.groupindex)
    probe = re.compile(names + "()" * unnamed)
    found = probe.match("")
    assert found is not None
    found.expand(replacement)


def parse_rules(lines: Iterable[str]) -> tuple[RewriteRule, ...]:
    """Parse rules in order; the first bad one raises, naming its position (1-based)."""
    rules: list[RewriteRule] = []
    for index, line in enumerate(lines, start=1):
        try:
            rules.append(parse_rule(line))
        except RewriteError as exc:
            raise RewriteError(f"rule {index}: {exc}") from None
    return tuple(rules)


def apply_rules(rules: Sequence[RewriteRule], number: str) -> str:
    """``number`` after every rule, in order."""
    for rule in rules:
        number = rule.apply(number)
    return number
