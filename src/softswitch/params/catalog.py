"""The parameter catalogue: ``catalog.tsv`` (shipped package data) turned into typed parameters.

The TSV is a verbatim copy of ``shared/reference/parameters.tsv`` (a test keeps them identical),
so the catalogue is data, not code: adding a parameter is adding a row. Parameters of our own,
beyond VOS3000's (the flood limit, scanner fingerprints, the fraud alarm of issue 6), are rows of
``catalog_extra.tsv`` in the same format, loaded after the reference ones. Each row's ``type`` and
``range`` columns pick a :class:`~softswitch.params.values.ValueSpec`; the row is rejected, with
its line number, when its range cannot be read or its default is outside it.
"""

from __future__ import annotations

import re
from decimal import Decimal
from importlib import resources
from typing import Any, TypeVar

from .registry import Param, ParamError, Registry
from .values import (
    BoolSpec,
    DecimalListSpec,
    DecimalSpec,
    EnumSpec,
    HexSpec,
    IntSpec,
    ParamKind,
    PortRangeSpec,
    TextListSpec,
    TextSpec,
    ValueSpec,
)

__all__ = ["COLUMNS", "catalog_text", "extra_catalog_text", "load_catalog", "parse_catalog"]

T = TypeVar("T")

COLUMNS = ("name", "group", "type", "default", "range", "unit", "meaning", "aliases", "notes")

_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]*")
_INT_BOUNDS_RE = re.compile(r"(-?[0-9]+)-(-?[0-9]+)?")
_DECIMAL_BOUNDS_RE = re.compile(r"(-?[0-9]+(?:\.[0-9]+)?)-(-?[0-9]+(?:\.[0-9]+)?)?")
_HEX_BOUNDS_RE = re.compile(r"0x([0-9a-f]+)-0x([0-9a-f]+)", re.IGNORECASE)
_DECIMAL_ITEM_RE = re.compile(r"[0-9]+(?:\.[0-9]+)?")


def catalog_text() -> str:
    """The shipped catalogue TSV, read as package data (works from a wheel or a zip)."""
    return resources.files(__package__).joinpath("catalog.tsv").read_text(encoding="utf-8")


def extra_catalog_text() -> str:
    """The parameters of our own (``catalog_extra.tsv``), in the catalogue's format."""
    return resources.files(__package__).joinpath("catalog_extra.tsv").read_text(encoding="utf-8")


def load_catalog() -> Registry:
    """Build a fresh :class:`Registry` of every shipped parameter: VOS3000's, then ours."""
    return Registry(
        parse_catalog(catalog_text())
        + parse_catalog(extra_catalog_text(), source="catalog_extra.tsv")
    )


def parse_catalog(text: str, source: str = "catalog.tsv") -> tuple[Param[Any], ...]:
    """Parse catalogue TSV text; raise :class:`ParamError` naming ``source`` and the line."""
    lines = text.splitlines()
    if not lines or tuple(lines[0].split("\t")) != COLUMNS:
        raise ParamError(f"{source}:1: header must be the columns {', '.join(COLUMNS)}")
    params: list[Param[Any]] = []
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        try:
            params.append(_parse_row(line))
        except ValueError as exc:
            raise ParamError(f"{source}:{number}: {exc}") from None
    return tuple(params)


def _parse_row(line: str) -> Param[Any]:
    cells = line.split("\t")
    if len(cells) != len(COLUMNS):
        raise ValueError(f"expected {len(COLUMNS)} tab-separated columns, got {len(cells)}")
    name, group, type_text, default, range_text, unit, meaning, alias_text, notes = cells
    if _NAME_RE.fullmatch(name) is None:
        raise ValueError(f"bad parameter name {name!r}")
    try:
        kind = ParamKind(type_text)
    except ValueError:
        known = ", ".join(k.value for k in ParamKind)
        raise ValueError(f"{name}: unknown type {type_text!r} (known: {known})") from None
    aliases = tuple(alias.strip() for alias in alias_text.split(",") if alias.strip())
    for alias in aliases:
        if _NAME_RE.fullmatch(alias) is None:
            raise ValueError(f"{name}: bad alias {alias!r}")
    spec = _spec(kind, range_text, default)
    if spec is None:
        raise ValueError(f"{name}: cannot read {kind.value} range {range_text!r}")
    try:
        value = spec.parse(default)
    except ValueError:
        raise ValueError(f"{name}: default {default!r} is not {spec.describe(unit)}") from None
    # Param checks the default against the range itself ("NAME must be ...; got ...").
    return _param(spec, value, name, group, range_text, unit, meaning, aliases, notes)


def _param(
    spec: ValueSpec[T],
    default: T,
    name: str,
    group: str,
    range_text: str,
    unit: str,
    doc: str,
    aliases: tuple[str, ...],
    notes: str,
) -> Param[T]:
    return Param(name, group, spec, default, range_text, unit, doc, aliases, notes)


def _spec(kind: ParamKind, range_text: str, default: str) -> ValueSpec[Any] | None:
    """The value spec for a catalogue type and range, or None when the range is unreadable."""
    text = range_text.strip()
    if kind is ParamKind.INT:
        if not text:
            return IntSpec()
        match = _INT_BOUNDS_RE.fullmatch(text)
        if match is None:
            return None
        high = match.group(2)
        return IntSpec(int(match.group(1)), None if high is None else int(high))
    if kind is ParamKind.DECIMAL:
        if not text:
            return DecimalSpec()
        match = _DECIMAL_BOUNDS_RE.fullmatch(text)
        if match is None:
            return None
        high = match.group(2)
        return DecimalSpec(Decimal(match.group(1)), None if high is None else Decimal(high))
    if kind is ParamKind.HEX:
        match = _HEX_BOUNDS_RE.fullmatch(text)
        if match is None:
            return None
        width = len(match.group(2))
        return HexSpec(int(match.group(1), 16), int(match.group(2), 16), width)
    if kind is ParamKind.RANGE:
        if not text:
            return PortRangeSpec()
        match = _INT_BOUNDS_RE.fullmatch(text)
        if match is None or match.group(2) is None:
            return None
        low, high = int(match.group(1)), int(match.group(2))
        return PortRangeSpec(low, high) if 1 <= low <= high <= 65535 else None
    if kind is ParamKind.BOOL:
        return BoolSpec() if text in ("", "On/Off") else None
    if kind is ParamKind.ENUM:
        choices = tuple(choice.strip() for choice in text.split("/")) if text else ()
        return EnumSpec(choices) if all(choices) else None
    if kind is ParamKind.LIST:
        if text:
            return None
        # Decided by content: a default made only of numbers is a numeric (interval) list.
        items = [item.strip() for item in default.split(",")]
        numeric = bool(default.strip()) and all(_DECIMAL_ITEM_RE.fullmatch(i) for i in items)
        return DecimalListSpec() if numeric else TextListSpec()
    return TextSpec() if not text else None
