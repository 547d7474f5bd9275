"""What ``config apply`` will do to the database, and doing it in one transaction.

A :class:`Plan` compares a validated document (``config_file``) with the stored configuration:
create the rows the file has and the database lacks, update the fields that differ, leave
equal rows alone (no write, no audit or change-feed row: applying a file twice changes
nothing the second time) and, with ``prune``, delete the rows the file lacks. It is computed
before anything is written, so ``--dry-run`` can show it and a refused document writes nothing.

Order of the steps, so every reference points at a row that exists when it is written:
sections in dependency order (``softswitch.manage.catalog.ENTITIES``), inside a section the
updates before the creates (a gateway giving up an auth_username another one in the file
takes); then the deletes in reverse dependency order (phones before their account) once every
surviving row has moved off them; then the parameter overrides.

:func:`apply_plan` runs the steps through ``EntityService.create_in``/``update_in``/
``delete_in`` — the API's own checks, audit rows (secrets redacted) and change-feed rows — and
the parameters through ``save_override``/``delete_override`` (the path of ``param set``), all
in one transaction: the first refusal rolls everything back and is reported with the YAML path
of the entry that caused it.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from softswitch.manage.config_file import (
    SECTIONS,
    ConfigError,
    ConfigInvalid,
    Document,
    Ident,
    Section,
    State,
    load_state,
    read_document,
)
from softswitch.manage.context import ManageContext, Who
from softswitch.manage.entities import EntityService
from softswitch.manage.errors import ManageError
from softswitch.storage.repos import Editor
from softswitch.storage.repos.params import delete_override, save_override

__all__ = ["Change", "ParamStep", "Plan", "Step", "apply_plan", "plan_config"]


class Change(enum.Enum):
    """What a step does to its row or parameter override."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"


@dataclass(frozen=True, slots=True)
class Step:
    """One row to create, update or delete."""

    entity: str
    """The spec's name (``mapping_gateway``)."""
    title: str
    """For messages (``mapping gateway``)."""
    action: Change
    key: str
    """Its natural key as operators read it (``C1``; a rate: ``T1 44 2026-01-01T00:00:00Z``)."""
    path: str
    """Its place in the file (empty for a delete: the file does not have it)."""
    values: Mapping[str, Any]
    """Document-form values: every field for a create, the changed ones for an update."""
    ident: Ident
    entity_id: int | None
    parent: str | None
    """The natural key of the row it belongs to (a rate's table)."""

    @property
    def fields(self) -> tuple[str, ...]:
        """The fields an update changes."""
        return tuple(self.values) if self.action is Change.UPDATE else ()


@dataclass(frozen=True, slots=True)
class ParamStep:
    """One parameter override to store (CREATE/UPDATE) or remove (DELETE, with prune)."""

    name: str
    action: Change
    before: str | None
    """The override stored now (None: none)."""
    after: str | None
    """The override the file wants (None: remove it)."""
    path: str


@dataclass(frozen=True, slots=True)
class Plan:
    """Every write ``apply_plan`` will make, in order, and what stays as it is."""

    steps: tuple[Step, ...]
    params: tuple[ParamStep, ...]
    unchanged: Mapping[str, int]
    """Rows (and ``params``) already as the file wants them, by document section."""
    known_ids: Mapping[str, Mapping[Ident, int]]
    """Ids of the stored rows by spec name and identity, to resolve references by name."""

    @property
    def empty(self) -> bool:
        """True when applying would write nothing."""
        return not self.steps and not self.params

    def count(self, entity: str, action: Change) -> int:
        """How many steps of ``entity`` (a spec name, or ``param``) do ``action``."""
        if entity == "param":
            return sum(1 for step in self.params if step.action is action)
        return sum(1 for step in self.steps if step.entity == entity and step.action is action)


_BY_NAME: dict[str, Section] = {section.spec.name: section for section in SECTIONS}


def _step(
    section: Section,
    action: Change,
    ident: Ident,
    path: str,
    values: Mapping[str, Any],
    entity_id: int | None = None,
) -> Step:
    spec = section.spec
    return Step(
        entity=spec.name,
        title=spec.title,
        action=action,
        key=" ".join(part for part in ident if part),
        path=path,
        values=values,
        ident=ident,
        entity_id=entity_id,
        parent=ident[0] if section.parent is not None else None,
    )


def _keeps(section: Section, name: str, value: Any) -> bool:
    """A null for a column that cannot hold one means "keep what is stored" (a phone's
    password left out of a hand-written file)."""
    columns = section.spec.model.__table__.columns
    return value is None and name in columns and not columns[name].nullable


def _check_references(document: Document, state: State, prune: bool) -> list[ConfigError]:
    errors = []
    where = "in the file" if prune else "in the file or the database"
    in_file = {name: {e.ident for e in entries} for name, entries in document.entries.items()}
    for section in SECTIONS:
        for entry in document.entries[section.spec.name]:
            for ref in section.refs:
                name = entry.doc[ref.name]
                if name is None:
                    continue
                key: Ident = (name,)
                target = ref.target.name
                if key in in_file[target] or (not prune and key in state.rows[target]):
                    continue
                title = ref.target.title
                errors.append(
                    ConfigError(f"{entry.path}.{ref.name}", f"no {title} {name!r} {where}")
                )
    return errors


def _entity_steps(
    document: Document, state: State, prune: bool, unchanged: dict[str, int]
) -> list[Step]:
    steps: list[Step] = []
    for section in SECTIONS:
        spec, stored = section.spec, state.rows[section.spec.name]
        creates: list[Step] = []
        same = 0
        for entry in document.entries[spec.name]:
            row = stored.get(entry.ident)
            if row is None:
                creates.append(_step(section, Change.CREATE, entry.ident, entry.path, entry.doc))
                continue
            changed = {
                name: value
                for name, value in entry.doc.items()
                if value != row.doc[name] and not _keeps(section, name, value)
            }
            if not changed:
                same += 1
                continue
            steps.append(_step(section, Change.UPDATE, entry.ident, entry.path, changed, row.id))
        steps += creates
        unchanged[section.key] = unchanged.get(section.key, 0) + same
    if prune:
        for section in reversed(SECTIONS):
            spec = section.spec
            wanted = {entry.ident for entry in document.entries[spec.name]}
            for ident, row in sorted(state.rows[spec.name].items()):
                if ident not in wanted:
                    steps.append(_step(section, Change.DELETE, ident, "", {}, row.id))
    return steps


def _param_steps(
    document: Document, state: State, prune: bool, unchanged: dict[str, int]
) -> list[ParamStep]:
    steps = []
    same = 0
    for name, (text, path) in sorted(document.params.items()):
        stored = state.params.get(name)
        if stored == text:
            same += 1
            continue
        action = Change.CREATE if stored is None else Change.UPDATE
        steps.append(ParamStep(name, action, stored, text, path))
    if prune:
        for name, stored_text in sorted(state.params.items()):
            if name not in document.params:
                steps.append(ParamStep(name, Change.DELETE, stored_text, None, ""))
    unchanged["params"] = same
    return steps


async def plan_config(ctx: ManageContext, data: object, *, prune: bool = False) -> Plan:
    """What applying parsed document ``data`` would write. Raises :class:`ConfigInvalid` with
    every error of the document (schema, references, parameter values) at once."""
    document, errors = read_document(data, ctx.params.registry)
    state = await load_state(ctx)
    errors += _check_references(document, state, prune)
    if errors:
        raise ConfigInvalid(errors)
    unchanged: dict[str, int] = {}
    steps = _entity_steps(document, state, prune, unchanged)
    params = _param_steps(document, state, prune, unchanged)
    ids = {
        name: {ident: row.id for ident, row in rows.items()} for name, rows in state.rows.items()
    }
    return Plan(tuple(steps), tuple(params), unchanged, ids)


# -- applying ----------------------------------------------------------------------------------


async def _execute(
    ctx: ManageContext,
    session: AsyncSession,
    who: Who,
    step: Step,
    ids: dict[str, dict[Ident, int]],
) -> None:
    section = _BY_NAME[step.entity]
    spec = section.spec
    service = EntityService(ctx, spec)
    if step.action is Change.DELETE:
        await service.delete_in(session, who, cast(int, step.entity_id))
        return
    parent_id = None
    if section.parent is not None:
        parent_id = ids[section.parent.name][(cast(str, step.parent),)]
    body: dict[str, Any] = {}
    for name, value in step.values.items():
        ref = next((r for r in section.refs if r.name == name), None)
        if ref is None:
            body[name] = value
        else:
            body[ref.field] = None if value is None else ids[ref.target.name][(value,)]
    if step.action is Change.CREATE:
        created = await service.create_in(
            session, who, spec.create.model_validate(body), parent_id=parent_id
        )
        ids.setdefault(spec.name, {})[step.ident] = getattr(created, "id")  # noqa: B009
        return
    await service.update_in(
        session,
        who,
        cast(int, step.entity_id),
        spec.update.model_validate(body),
        parent_id=parent_id,
    )


def _refusal(step: Step, exc: ManageError) -> ConfigError:
    section = _BY_NAME[step.entity]
    if step.action is Change.DELETE:
        return ConfigError(f"{section.key} (delete {step.key})", exc.message)
    where = step.path if exc.field is None else f"{step.path}.{section.doc_name(exc.field)}"
    return ConfigError(where, exc.message)


async def apply_plan(
    ctx: ManageContext,
    who: Who,
    plan: Plan,
    *,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Make every write of ``plan`` in one transaction, then tell the change feed.

    ``progress`` is called with the number of steps done so far. A refusal of the services
    (a uniqueness conflict the document could not show, a row still in use that prune would
    delete) rolls everything back and raises :class:`ConfigInvalid` naming the entry.
    """
    if plan.empty:
        return
    ids = {name: dict(known) for name, known in plan.known_ids.items()}
    registry = ctx.params.registry
    editor = Editor(who.actor.user_id, who.actor.username, who.remote_addr)
    async with ctx.sessions.begin() as session:
        for done, step in enumerate(plan.steps, 1):
            try:
                await _execute(ctx, session, who, step, ids)
            except ManageError as exc:
                raise ConfigInvalid([_refusal(step, exc)]) from None
            if progress is not None:
                progress(done)
        for param_step in plan.params:
            param = registry.get(param_step.name)
            in_force = param.format(ctx.params.get(param.name))
            if param_step.after is None:
                default = param.format(param.default)
                await delete_override(session, editor, param.name, in_force, default, ctx.now())
            else:
                await save_override(
                    session, editor, param.name, in_force, param_step.after, ctx.now()
                )
    await ctx.feed.catch_up()
