"""Typed parameters and the registry that finds them by VOS3000 name or alias.

A :class:`Param` is immutable metadata around a :class:`~softswitch.params.values.ValueSpec`: it
knows its typed default and turns every bad value into a :class:`ParamError` that names the
parameter and states what is allowed, so the API, the console and the override file all report
the same sentence. Operators know the VOS3000 spellings, including the guide's typos
(``FEE_PRECISTION``), so the :class:`Registry` resolves aliases and ignores case, but always
answers with the canonical name.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .values import ParamKind, ValueSpec

__all__ = ["Param", "ParamError", "Registry"]

T = TypeVar("T")


class ParamError(ValueError):
    """A parameter name or value was rejected; the message says what would have been accepted."""


@dataclass(frozen=True, slots=True)
class Param(Generic[T]):
    """One system parameter: name, place, typed default, constraint and documentation.

    ``spec`` carries the type and the constraint; ``range_text`` keeps the catalogue's own
    spelling of the range for documentation. ``unit`` is the declared unit of the value
    (``s``, ``ms``, ``min`` ...): values are never silently converted to another unit.
    """

    name: str
    group: str
    spec: ValueSpec[T]
    default: T
    range_text: str = ""
    unit: str = ""
    doc: str = ""
    aliases: tuple[str, ...] = ()
    notes: str = ""

    def __post_init__(self) -> None:
        # A catalogue default outside its own range is a catalogue bug: fail when it is built.
        self.validate(self.default)

    @property
    def kind(self) -> ParamKind:
        """The catalogue type (``int``, ``bool``, ``list`` ...)."""
        return self.spec.kind

    @property
    def allowed(self) -> str:
        """What values are allowed, in words (e.g. "an integer from 90 to 3600 (seconds)")."""
        return self.spec.describe(self.unit)

    def _reject(self, shown: str) -> ParamError:
        return ParamError(f"{self.name} must be {self.allowed}; got {shown}")

    def parse(self, text: str) -> T:
        """Parse operator text into a checked value; raise :class:`ParamError` if not allowed."""
        try:
            value = self.spec.parse(text)
        except ValueError:
            raise self._reject(repr(text)) from None
        if not self.spec.accepts(value):
            raise self._reject(repr(text))
        return value

    def validate(self, value: T) -> None:
        """Raise :class:`ParamError` unless ``value`` has exactly this type and is in range."""
        self._check(value)

    def coerce(self, value: object) -> T:
        """Return ``value`` checked, parsing it first when it is text.

        This is what a store or an API calls with input of unknown shape: ``"On"`` and ``True``
        both give ``True`` for a bool parameter; ``3`` for a decimal parameter is refused (pass
        ``Decimal(3)`` or ``"3"``) so that no float or bool slips in.
        """
        if isinstance(value, str):
            return self.parse(value)
        return self._check(value)

    def _check(self, value: object) -> T:
        try:
            typed = self.spec.check_type(value)
        except TypeError:
            raise self._reject(f"{value!r} ({type(value).__name__})") from None
        if not self.spec.accepts(typed):
            raise self._reject(repr(self.spec.format(typed)))
        return typed

    def format(self, value: T) -> str:
        """Canonical text of ``value``: ``On``/``Off``, ``0xa0``, comma-joined lists."""
        return self.spec.format(value)

    @property
    def type(self) -> ParamKind:
        """Alias of :attr:`kind`, matching the catalogue's column name."""
        return self.spec.kind


class Registry:
    """Every known parameter, by canonical name, alias (case-insensitive) and group.

    Iteration follows the catalogue order. The registry is immutable once built.
    """

    __slots__ = ("_by_key", "_groups", "_params")

    def __init__(self, params: Iterable[Param[Any]]) -> None:
        self._params: tuple[Param[Any], ...] = tuple(params)
        self._by_key: dict[str, Param[Any]] = {}
        groups: dict[str, list[Param[Any]]] = {}
        for param in self._params:
            for key in (param.name, *param.aliases):
                folded = key.upper()
                other = self._by_key.get(folded)
                if other is not None:
                    raise ParamError(f"{key} names both {other.name} and {param.name}")
                self._by_key[folded] = param
            groups.setdefault(param.group, []).append(param)
        self._groups: dict[str, tuple[Param[Any], ...]] = {
            group: tuple(members) for group, members in groups.items()
        }

    def __len__(self) -> int:
        return len(self._params)

    def __iter__(self) -> Iterator[Param[Any]]:
        return iter(self._params)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.upper() in self._by_key

    def get(self, name: str) -> Param[Any]:
        """The parameter called ``name`` (canonical or alias, any case).

        Unknown names raise :class:`ParamError` suggesting the closest known name, because a
        mistyped VOS3000 name is by far the most common operator error.
        """
        param = self._by_key.get(name.upper())
        if param is not None:
            return param
        close = difflib.get_close_matches(name.upper(), list(self._by_key), n=1, cutoff=0.6)
        hint = f"; did you mean {self._by_key[close[0]].name}?" if close else ""
        raise ParamError(f"unknown parameter {name!r}{hint}")

    def names(self) -> tuple[str, ...]:
        """Canonical names in catalogue order."""
        return tuple(param.name for param in self._params)

    def groups(self) -> tuple[str, ...]:
        """Group names in order of first appearance (``server.alarm``, ``softswitch.sip`` ...)."""
        return tuple(self._groups)

    def in_group(self, group: str) -> tuple[Param[Any], ...]:
        """The parameters of ``group`` in catalogue order; unknown groups raise ParamError."""
        members = self._groups.get(group)
        if members is None:
            raise ParamError(f"unknown parameter group {group!r}; known: {self.groups()}")
        return members
