"""The values in force: an in-memory store of overrides over the catalogue defaults.

Parameters are applied without a restart (ARCHITECTURE.md, "Configuration"), so consumers do not
poll: they :meth:`ParamStore.subscribe` and receive a :class:`ParamChange` after every change
that alters an effective value. Every batch (``update``, ``apply_text``, ``load_file``) is
all-or-nothing: each value is checked before any is stored, so a typo on line 40 of an override
file cannot leave lines 1-39 half applied. Subscribers run only after the whole batch is stored,
so they always see a consistent store.

Override file format, one setting per line::

    # comment (a whole line; '#' inside a value is part of the value)
    SS_SIP_SESSION_TTL = 1800
    FEE_PRECISTION = 4          <- aliases are accepted, dump() writes canonical names
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar, cast

from .registry import Param, ParamError, Registry
from .values import DecimalListSpec, ParamKind, PortRange, PortRangeSpec, TextListSpec

__all__ = ["ParamChange", "ParamStore", "Unsubscribe", "resend_interval"]

T = TypeVar("T")

Unsubscribe = Callable[[], None]
"""Handle returned by :meth:`ParamStore.subscribe`; calling it (again) is harmless."""

# Seconds per declared unit, for the accessors that need a duration in one unit.
_SECONDS_PER_UNIT = {"ms": Decimal("0.001"), "s": Decimal(1), "min": Decimal(60)}


@dataclass(frozen=True, slots=True)
class ParamChange:
    """The effective value of parameter ``name`` (canonical) went from ``old`` to ``new``."""

    name: str
    old: object
    new: object


class ParamStore:
    """Current parameter values: defaults from the registry, overridden per name."""

    __slots__ = ("_next_token", "_overrides", "_registry", "_subscribers")

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._overrides: dict[str, Any] = {}
        self._subscribers: dict[int, Callable[[ParamChange], None]] = {}
        self._next_token = 0

    @property
    def registry(self) -> Registry:
        """The registry whose parameters this store holds."""
        return self._registry

    # -- reading -------------------------------------------------------------------------------

    def get(self, name: str) -> object:
        """The value in force for ``name`` (canonical or alias)."""
        param = self._registry.get(name)
        return self._overrides.get(param.name, param.default)

    def value(self, param: Param[T]) -> T:
        """The value in force for ``param``, typed as the parameter is."""
        if self._registry.get(param.name) != param:
            raise ParamError(f"{param.name} is not the parameter of this store's registry")
        return cast(T, self._overrides.get(param.name, param.default))

    def is_overridden(self, name: str) -> bool:
        """True when ``name`` has an override (even one equal to its default)."""
        return self._registry.get(name).name in self._overrides

    def overrides(self) -> dict[str, object]:
        """A copy of the overrides, canonical name to typed value, in catalogue order."""
        return {
            p.name: self._overrides[p.name] for p in self._registry if p.name in self._overrides
        }

    def get_int(self, name: str) -> int:
        """An ``int`` or ``hex`` parameter's value."""
        return cast(int, self._typed(name, (ParamKind.INT, ParamKind.HEX), "an integer"))

    def get_bool(self, name: str) -> bool:
        """A ``bool`` parameter's value."""
        return cast(bool, self._typed(name, (ParamKind.BOOL,), "On/Off"))

    def get_decimal(self, name: str) -> Decimal:
        """A ``decimal`` parameter's value."""
        return cast(Decimal, self._typed(name, (ParamKind.DECIMAL,), "a decimal"))

    def get_str(self, name: str) -> str:
        """A ``str`` or ``enum`` parameter's value (enums give their canonical spelling)."""
        return cast(str, self._typed(name, (ParamKind.STR, ParamKind.ENUM), "a text"))

    def get_port_range(self, name: str) -> PortRange:
        """A ``range`` parameter's value."""
        param = self._param_of(name, PortRangeSpec, "a port range")
        return cast(PortRange, self._overrides.get(param.name, param.default))

    def get_decimals(self, name: str) -> tuple[Decimal, ...]:
        """A numeric ``list`` parameter's items, in their declared unit."""
        param = self._param_of(name, DecimalListSpec, "a list of numbers")
        return cast(tuple[Decimal, ...], self._overrides.get(param.name, param.default))

    def get_strs(self, name: str) -> tuple[str, ...]:
        """A text ``list`` parameter's items (e.g. codec names in order)."""
        param = self._param_of(name, TextListSpec, "a list of names")
        return cast(tuple[str, ...], self._overrides.get(param.name, param.default))

    def seconds(self, name: str) -> Decimal:
        """A duration parameter (unit ``ms``, ``s`` or ``min``) in exact seconds."""
        param = self._registry.get(name)
        factor = _SECONDS_PER_UNIT.get(param.unit)
        if factor is None or param.kind not in (ParamKind.INT, ParamKind.DECIMAL):
            raise ParamError(
                f"{param.name} is not a duration (type {param.kind.value}, unit "
                f"{param.unit or 'none'})"
            )
        return Decimal(cast(int | Decimal, self.get(param.name))) * factor

    def seconds_list(self, name: str) -> tuple[Decimal, ...]:
        """A list of durations (unit ``ms``, ``s`` or ``min``) in exact seconds."""
        param = self._param_of(name, DecimalListSpec, "a list of durations")
        factor = _SECONDS_PER_UNIT.get(param.unit)
        if factor is None:
            raise ParamError(
                f"{param.name} is not a list of durations (unit {param.unit or 'none'})"
            )
        return tuple(item * factor for item in self.get_decimals(param.name))

    def _typed(self, name: str, kinds: tuple[ParamKind, ...], what: str) -> object:
        param = self._registry.get(name)
        if param.kind not in kinds:
            raise ParamError(f"{param.name} has type {param.kind.value}, not {what}")
        return self._overrides.get(param.name, param.default)

    def _param_of(self, name: str, spec_type: type[object], what: str) -> Param[Any]:
        param = self._registry.get(name)
        if not isinstance(param.spec, spec_type):
            raise ParamError(f"{param.name} has type {param.kind.value}, not {what}")
        return param

    # -- changing ------------------------------------------------------------------------------

    def set(self, name: str, value: object) -> ParamChange | None:
        """Override ``name`` with ``value`` (text is parsed, other values must have the type).

        Returns the change, or None when the value in force did not change.
        """
        changes = self.update({name: value})
        return changes[0] if changes else None

    def update(self, values: Mapping[str, object]) -> tuple[ParamChange, ...]:
        """Override several parameters at once; if any value is bad, none is applied."""
        checked: dict[str, object] = {}
        given_as: dict[str, str] = {}
        for key, raw in values.items():
            param = self._registry.get(key)
            if param.name in checked:
                raise ParamError(f"{param.name} given twice (as {given_as[param.name]} and {key})")
            checked[param.name] = param.coerce(raw)
            given_as[param.name] = key
        return self._commit(checked, ())

    def reset(self, name: str) -> ParamChange | None:
        """Remove the override of ``name`` so its default applies again."""
        changes = self._commit({}, (self._registry.get(name).name,))
        return changes[0] if changes else None

    def apply_text(self, text: str, source: str = "<text>") -> tuple[ParamChange, ...]:
        """Apply override text (``NAME = value`` lines); errors name ``source`` and the line."""
        checked: dict[str, object] = {}
        seen_on: dict[str, int] = {}
        for number, raw in enumerate(text.splitlines(), start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            key, equals, value_text = line.partition("=")
            key = key.strip()
            if not equals or not key:
                raise ParamError(f"{source}:{number}: expected 'NAME = value', got {raw!r}")
            try:
                param = self._registry.get(key)
                checked[param.name] = param.parse(value_text.strip())
            except ParamError as exc:
                raise ParamError(f"{source}:{number}: {exc}") from None
            if param.name in seen_on:
                raise ParamError(
                    f"{source}:{number}: {param.name} already set on line {seen_on[param.name]}"
                )
            seen_on[param.name] = number
        return self._commit(checked, ())

    def load_file(self, path: str | os.PathLike[str]) -> tuple[ParamChange, ...]:
        """Apply an override file (UTF-8, see the module docstring); all lines or none."""
        try:
            text = Path(path).read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ParamError(f"{os.fspath(path)}: not UTF-8 text ({exc.reason})") from None
        return self.apply_text(text, os.fspath(path))

    def dump(self) -> str:
        """The overrides as override-file text, canonical names in catalogue order."""
        lines = [
            f"{param.name} = {param.format(self._overrides[param.name])}\n"
            for param in self._registry
            if param.name in self._overrides
        ]
        return "".join(lines)

    def _commit(
        self, new_values: Mapping[str, object], removed: Iterable[str]
    ) -> tuple[ParamChange, ...]:
        """Store a checked batch, then notify; the store is consistent before anyone is told."""
        before = {name: self.get(name) for name in (*new_values, *removed)}
        for name in removed:
            self._overrides.pop(name, None)
        self._overrides.update(new_values)
        changes = tuple(
            ParamChange(name, old, new)
            for name, old in before.items()
            if not _same(old, new := self.get(name))
        )
        self._notify(changes)
        return changes

    # -- subscribers ---------------------------------------------------------------------------

    def subscribe(self, callback: Callable[[ParamChange], None]) -> Unsubscribe:
        """Call ``callback`` after each effective change; returns the handle that stops it."""
        token = self._next_token
        self._next_token += 1
        self._subscribers[token] = callback

        def unsubscribe() -> None:
            self._subscribers.pop(token, None)

        return unsubscribe

    def _notify(self, changes: tuple[ParamChange, ...]) -> None:
        # Every subscriber hears every change even if another one fails; the failures are then
        # raised together. The change itself is already stored and stays stored.
        failures: list[Exception] = []
        for change in changes:
            for callback in tuple(self._subscribers.values()):
                try:
                    callback(change)
                except Exception as exc:
                    failures.append(exc)
        if failures:
            raise ExceptionGroup("parameter change subscribers failed", failures)


def _same(old: object, new: object) -> bool:
    # Decimal("0.5") == Decimal("0.50") but the canonical text differs; that is still no change
    # to the behaviour, so plain equality (with the type) decides.
    return type(old) is type(new) and old == new


def resend_interval(store: ParamStore) -> tuple[Decimal, ...]:
    """SS_SIP_RESEND_INTERVAL as exact seconds: the RFC 3261 section 17.1.1.2 Timer A schedule.

    Item *i* is the wait before retransmission *i + 1*; the list length is the number of
    retransmissions, so the default ``0.5,1,2,4,...`` fires at 0.5, 1.5, 3.5 ... seconds.
    """
    return store.seconds_list("SS_SIP_RESEND_INTERVAL")
