"""The whole configuration as one declarative document: what ``softswitch config export`` writes
and ``softswitch config apply`` makes true (issue 3 §4: backups, staging and tests).

The document (YAML on disk; this module works on the parsed data and renders the text)::

    version: 1
    params: {SS_SIP_SESSION_TIMER: "1800"}    # only the overrides stored in the database
    rate_tables: [{name, currency, memo, rates: [{prefix, area_name, rate_per_minute, ...}]}]
    agents: [{name, rate_table: NAME, ...}]
    accounts: [{code, agent: NAME, rate_table: NAME, ...}]
    phones: [{number, account: CODE, ...}]
    mapping_gateways: [{name, account: CODE, ...}]
    routing_gateways: [{name, rate_table: NAME, ...}]
    security_list_entries: [{list_type, kind, account: CODE or null, value, ...}]

Why it looks like this:

- Rows refer to each other by natural key (account code, agent, gateway and table name, phone
  number; a rate by its table, prefix and effective_from; a security list entry by its list,
  kind, account and value), never by database id: ids differ between staging and production,
  names do not.
- Every field of an entry is the field of the API's create schema (``EntitySpec.create``) of
  the same name, validated by that schema, so the file and the API cannot disagree. A field
  left out takes the schema's default: the file is the whole desired state, not a patch. The
  exception is a null for a column that cannot be null (a phone's password): it means "keep
  what is stored", and on create "let the service choose" (a generated password).
- Money is a string (exact ``Decimal``; YAML floats are refused), times are ISO 8601 in UTC.
- Balances are not configuration: they move only by payments and calls, so export leaves them
  out and apply never touches one.
- Secrets (phone passwords, gateway digest and registration passwords) are exported: a backup
  must restore working devices. The caller writes the file readable by its owner only.
- Export is deterministic (sorted by natural key, no timestamp): exporting what a file applied
  gives the identical text, so a diff of two exports is a diff of two configurations.

Applying (``softswitch.manage.config_plan``) validates the whole document before touching
anything and reports every error with its YAML path (``accounts[3].currency: ...``); references
must resolve within the file or, without ``prune``, the database. It then computes a plan
(create; update of the fields that differ; with ``prune``, delete of the rows the file lacks in
reverse dependency order; set or reset of parameter overrides) and runs it in one transaction
through the API's own ``EntityService`` writes. Rows that already match are not written, so
applying a file twice writes nothing the second time.

This module owns the document: its sections (derived from the entity specs, so a field added to
a schema appears in the file without a change here), reading and validating it, loading the
stored configuration in the same form, and rendering it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import yaml
from pydantic import ValidationError
from sqlalchemy import select

from softswitch.manage.catalog import ENTITIES
from softswitch.manage.context import ManageContext
from softswitch.manage.entities import EntitySpec, plural
from softswitch.manage.errors import ManageError
from softswitch.params import ParamError, Registry
from softswitch.storage.repos import ParamOverrideRepo

__all__ = [
    "FORMAT_VERSION",
    "SECTIONS",
    "ConfigError",
    "ConfigInvalid",
    "Document",
    "Entry",
    "Ident",
    "Ref",
    "Row",
    "Section",
    "State",
    "children",
    "export_config",
    "load_state",
    "parse_text",
    "read_document",
    "render",
    "top_level",
]

FORMAT_VERSION = 1

_HEADER = (
    "# softswitch configuration (softswitch config export); apply with softswitch config apply.\n"
    "# It contains passwords: keep it private.\n"
)


@dataclass(frozen=True, slots=True)
class ConfigError:
    """One thing wrong with a document: where (a YAML path) and what to do about it."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigInvalid(Exception):
    """The document was refused as a whole; nothing was written."""

    def __init__(self, errors: Sequence[ConfigError]) -> None:
        self.errors = tuple(errors)
        super().__init__(f"{len(self.errors)} error(s): " + "; ".join(map(str, self.errors[:3])))


# -- the shape of each section, derived from the entity specs --------------------------------


@dataclass(frozen=True, slots=True)
class Ref:
    field: str
    """The schema's id field (``account_id``)."""
    name: str
    """The document's field (``account``), holding the target's natural key."""
    target: EntitySpec


@dataclass(frozen=True, slots=True)
class Section:
    spec: EntitySpec
    key: str
    """The document key of its list (``accounts``; ``rates`` inside a rate table)."""
    key_fields: tuple[str, ...]
    """What names a row within its parent: the natural key, and for rates effective_from; a
    reference among them (a security list entry's account) by its document name, null
    allowed."""
    refs: tuple[Ref, ...]
    parent: EntitySpec | None
    fields: tuple[str, ...]
    """The document's fields in order: key fields, then the schema's, refs renamed."""

    def doc_name(self, schema_field: str) -> str:
        return next((ref.name for ref in self.refs if ref.field == schema_field), schema_field)


def _spec_of(model: type[Any]) -> EntitySpec:
    return next(spec for spec in ENTITIES if spec.model is model)


def _section(spec: EntitySpec) -> Section:
    parent = None
    refs = []
    for reference in spec.references:
        target = _spec_of(reference.model)
        if reference.field == spec.parent:
            parent = target
        else:
            refs.append(Ref(reference.field, reference.field.removesuffix("_id"), target))
    unique = next((u for u in spec.unique if spec.natural_key in u), (spec.natural_key,))
    section = Section(spec, plural(spec.name), (), tuple(refs), parent, ())
    key_fields = tuple(section.doc_name(name) for name in unique if name != spec.parent)
    names = [section.doc_name(name) for name in spec.create.model_fields]
    ordered = [*key_fields, *(name for name in names if name not in key_fields)]
    return Section(spec, section.key, key_fields, section.refs, parent, tuple(ordered))


SECTIONS: tuple[Section, ...] = tuple(_section(spec) for spec in ENTITIES)


def children(parent: EntitySpec) -> tuple[Section, ...]:
    return tuple(section for section in SECTIONS if section.parent is parent)


def top_level() -> tuple[Section, ...]:
    return tuple(section for section in SECTIONS if section.parent is None)


# -- canonical values ------------------------------------------------------------------------


def _decimal_text(value: Decimal) -> str:
    # normalize() drops the stored six places (0.100000 -> 0.1); "f" avoids 1E+2.
    return format(value.normalize(), "f") if value else "0"


def _canonical(value: Any) -> Any:
    """The document form of a schema value: what export writes and apply compares."""
    if isinstance(value, Decimal):
        return _decimal_text(value)
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, list | tuple):
        return [_canonical(item) for item in value]
    return value


Ident = tuple[str, ...]
"""A row's identity in documents: its parent's natural key (rates) and its key fields."""


def _ident(section: Section, doc: Mapping[str, Any], parent_key: str | None) -> Ident:
    # A null key field is a reference left empty (a global security list entry): "".
    own = tuple("" if doc[name] is None else str(doc[name]) for name in section.key_fields)
    return own if parent_key is None else (parent_key, *own)


@dataclass(frozen=True, slots=True)
class Row:
    id: int
    doc: dict[str, Any]


@dataclass(slots=True)
class State:
    """The configuration stored in the database, in document form."""

    rows: dict[str, dict[Ident, Row]] = field(default_factory=dict)
    """Spec name -> identity -> row."""
    params: dict[str, str] = field(default_factory=dict)
    """Canonical parameter name -> stored override text."""


async def load_state(ctx: ManageContext) -> State:
    state = State()
    names: dict[str, dict[int, str]] = {}  # spec name -> id -> natural key (referable rows)
    async with ctx.sessions() as session:
        for section in SECTIONS:
            spec = section.spec
            found: dict[Ident, Row] = {}
            keys: dict[int, str] = {}
            for stored in await session.scalars(select(spec.model).order_by(spec.column("id"))):
                out = spec.out.model_validate(stored, from_attributes=True)
                values = {name: getattr(out, name) for name in spec.create.model_fields}
                for ref in section.refs:
                    target = values.pop(ref.field)
                    values[ref.name] = None if target is None else names[ref.target.name][target]
                doc = {name: _canonical(values[name]) for name in section.fields}
                row_id: int = getattr(out, "id")  # noqa: B009 (the out schemas all have it)
                parent_key = None
                if section.parent is not None:
                    parent_key = names[section.parent.name][getattr(out, cast(str, spec.parent))]
                found[_ident(section, doc, parent_key)] = Row(row_id, doc)
                if section.parent is None:
                    keys[row_id] = str(doc[spec.natural_key])
            names[spec.name] = keys
            state.rows[spec.name] = found
    registry = ctx.params.registry
    for name, text in (await ParamOverrideRepo(ctx.sessions).load()).items():
        if name in registry:  # a stale row of a parameter this release no longer has
            state.params[registry.get(name).name] = text
    return state


# -- reading a document ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    path: str
    ident: Ident
    doc: dict[str, Any]
    parent: str | None


@dataclass(slots=True)
class Document:
    entries: dict[str, list[Entry]]
    params: dict[str, tuple[str, str]]
    """Canonical name -> (canonical text, YAML path)."""


def parse_text(text: str) -> object:
    """The data of a YAML document (``yaml.safe_load``: no tags, no objects); a syntax error
    becomes :class:`ConfigInvalid` with its line and column."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = "" if mark is None else f"line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigInvalid([ConfigError(where, f"not valid YAML: {problem}")]) from None


def _path(base: str, loc: Sequence[int | str], section: Section) -> str:
    text = base
    for index, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += "." + (section.doc_name(part) if index == 0 else part)
    return text


def _message(error: Mapping[str, Any], section: Section) -> str:
    if error["type"] == "extra_forbidden":
        return f"unknown field (the fields are: {', '.join(section.fields)})"
    if error["type"] == "missing":
        return "required"
    return str(error["msg"]).removeprefix("Value error, ")


_EXACT = "write it quoted ('0.05'): YAML reads it as a float, which is not exact"
_QUOTED = "write it quoted ('0044'): YAML reads unquoted digits as a number, dropping zeros"


def _plain_errors(value: Any, path: str, text_field: bool) -> list[ConfigError]:
    """Values YAML turned into something the author did not mean."""
    if isinstance(value, float):
        return [ConfigError(path, _EXACT)]
    if text_field and isinstance(value, int) and not isinstance(value, bool):
        return [ConfigError(path, _QUOTED)]
    if isinstance(value, list):
        found: list[ConfigError] = []
        for index, item in enumerate(value):
            found += _plain_errors(item, f"{path}[{index}]", text_field)
        return found
    return []


def _is_text(spec: EntitySpec, name: str) -> bool:
    info = spec.create.model_fields.get(name)
    return info is not None and "str" in str(info.annotation) and "int" not in str(info.annotation)


class _Reader:
    """Validates a whole document, collecting every error instead of stopping at the first."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.errors: list[ConfigError] = []
        self.document = Document({s.spec.name: [] for s in SECTIONS}, {})
        self._seen: dict[str, dict[Ident, str]] = {s.spec.name: {} for s in SECTIONS}

    def error(self, path: str, message: str) -> None:
        self.errors.append(ConfigError(path, message))

    def read(self, data: object) -> None:
        if not isinstance(data, dict):
            self.error("", "expected a mapping with version, params, rate_tables, agents, ...")
            return
        if data.get("version") != FORMAT_VERSION:
            self.error("version", f"must be {FORMAT_VERSION} (this release's format)")
        sections = {s.key: s for s in top_level()}
        for key in data:
            if key not in {"version", "params", *sections}:
                known = ", ".join(["params", *sections])
                self.error(str(key), f"unknown section (the sections are: {known})")
        self._read_params(data.get("params"))
        for key, section in sections.items():
            self._read_list(section, data.get(key), key, None)

    def _read_params(self, raw: object) -> None:
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.error("params", "expected a mapping of NAME: value")
            return
        for name, value in raw.items():
            path = f"params.{name}"
            try:
                param = self.registry.get(str(name))
                if isinstance(value, bool):
                    typed = param.coerce(value)
                elif isinstance(value, int | str) and not isinstance(value, float):
                    typed = param.parse(str(value))
                else:
                    self.error(path, 'write the value as text, e.g. "30"')
                    continue
            except ParamError as exc:
                self.error(path, str(exc))
                continue
            if param.name in self.document.params:
                self.error(
                    path, f"{param.name} is already set at {self.document.params[param.name][1]}"
                )
                continue
            self.document.params[param.name] = (param.format(typed), path)

    def _read_list(self, section: Section, raw: object, path: str, parent: str | None) -> None:
        if raw is None:
            return
        if not isinstance(raw, list):
            self.error(path, f"expected a list of {section.spec.title}s")
            return
        for index, item in enumerate(raw):
            self._read_entry(section, item, f"{path}[{index}]", parent)

    def _read_entry(self, section: Section, item: object, path: str, parent: str | None) -> None:
        spec = section.spec
        if not isinstance(item, dict):
            self.error(path, f"expected a mapping of field: value (a {spec.title})")
            return
        item = dict(item)
        nested = {child: item.pop(child.key, None) for child in children(spec)}
        data: dict[str, Any] = {}
        names: dict[str, str | None] = {}
        before = len(self.errors)
        for key, value in item.items():
            where = f"{path}.{key}"
            ref = next((r for r in section.refs if r.name == key), None)
            if ref is not None:
                if value is not None and not isinstance(value, str):
                    self.error(
                        where, f"name the {ref.target.title} by its {ref.target.natural_key}"
                    )
                    continue
                names[ref.name] = value
                data[ref.field] = None if value is None else 1  # any valid id: names checked later
            elif key == "id" or key == spec.parent or any(r.field == key for r in section.refs):
                self.error(where, "refer to rows by name, not by database id")
            else:
                self.errors += _plain_errors(value, where, _is_text(spec, str(key)))
                data[str(key)] = value
        values: dict[str, Any] | None = None
        if len(self.errors) == before:
            try:
                values = spec.create.model_validate(data).model_dump()
            except ValidationError as exc:
                for error in exc.errors():
                    self.error(_path(path, error["loc"], section), _message(error, section))
        if values is not None:
            self._accept(section, values, names, path, parent)
        for child, raw in nested.items():
            key = item.get(spec.natural_key)
            self._read_list(child, raw, f"{path}.{child.key}", None if key is None else str(key))

    def _accept(
        self,
        section: Section,
        values: dict[str, Any],
        names: Mapping[str, str | None],
        path: str,
        parent: str | None,
    ) -> None:
        spec = section.spec
        for name in section.key_fields:
            if values.get(name) is None and all(ref.name != name for ref in section.refs):
                # Without it a second apply could not find the row again (a rate's start); a
                # reference may be null (a global security list entry has no account).
                self.error(f"{path}.{name}", "required in a configuration file")
                return
        if spec.check is not None:
            try:
                spec.check(values)
            except ManageError as exc:
                self.error(_path(path, [exc.field] if exc.field else [], section), exc.message)
                return
        for ref in section.refs:
            values.pop(ref.field)
            values[ref.name] = names.get(ref.name)
        doc = {name: _canonical(values[name]) for name in section.fields}
        ident = _ident(section, doc, parent)
        first = self._seen[spec.name].get(ident)
        if first is not None:
            shown = ", ".join(section.key_fields)
            self.error(path, f"the same {spec.title} ({shown}) as {first}")
            return
        self._seen[spec.name][ident] = path
        self.document.entries[spec.name].append(Entry(path, ident, doc, parent))


def read_document(data: object, registry: Registry) -> tuple[Document, list[ConfigError]]:
    """The validated entries and parameters of parsed ``data``, and every error found (each
    with its YAML path); an entry with an error is left out of the document."""
    reader = _Reader(registry)
    reader.read(data)
    return reader.document, reader.errors


# -- writing a document ----------------------------------------------------------------------


async def export_config(ctx: ManageContext) -> dict[str, Any]:
    """The stored configuration as document data (see the module docstring), sorted by
    natural key: the same configuration always gives the same data."""
    state = await load_state(ctx)
    document: dict[str, Any] = {
        "version": FORMAT_VERSION,
        "params": dict(sorted(state.params.items())),
    }
    for section in top_level():
        nested: dict[str, dict[str, list[dict[str, Any]]]] = {}
        for child in children(section.spec):
            grouped = nested.setdefault(child.key, {})
            for ident, row in sorted(state.rows[child.spec.name].items()):
                grouped.setdefault(ident[0], []).append(dict(row.doc))
        items = []
        for ident, row in sorted(state.rows[section.spec.name].items()):
            entry = dict(row.doc)
            for key, grouped in nested.items():
                entry[key] = grouped.get(ident[0], [])
            items.append(entry)
        document[section.key] = items
    return document


def render(document: Mapping[str, Any]) -> str:
    """The YAML text of document data (``yaml.safe_dump``, keys in document order)."""
    body = yaml.safe_dump(
        dict(document), sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )
    return _HEADER + body
