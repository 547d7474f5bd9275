"""``softswitch config export|apply``: the whole configuration as one YAML file on disk.

The document, its validation and the plan are ``softswitch.manage.config_file`` and
``config_plan``; this module opens the database (:func:`~softswitch.runtime.admin.open_manage`,
acting as the system actor like the other administration commands), reads and writes the file
and turns plans into the lines the CLI prints.

The exported file holds every phone and gateway password (a backup must restore working
devices), so it is written readable by its owner only (mode 0600), through a temporary file in
the same directory renamed over the target: an interrupted export never leaves half a backup,
and an existing file never shows its new contents with looser permissions.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from softswitch.manage import Who
from softswitch.manage.config_file import (
    SECTIONS,
    ConfigError,
    ConfigInvalid,
    children,
    export_config,
    parse_text,
    render,
    top_level,
)
from softswitch.manage.config_plan import Change, Plan, apply_plan, plan_config
from softswitch.operators import SYSTEM
from softswitch.runtime.admin import open_manage
from softswitch.runtime.settings import Settings

__all__ = [
    "FILE_MODE",
    "AppliedFile",
    "ExportedFile",
    "apply_file",
    "export_file",
    "export_text",
    "plan_lines",
    "summary_lines",
    "write_private",
]

FILE_MODE = 0o600
"""Owner read/write only: the file contains device passwords."""

_WHO = Who(SYSTEM, "cli")


@dataclass(frozen=True, slots=True)
class ExportedFile:
    """What an export wrote: the text and how many entries of each section it holds."""

    text: str
    counts: dict[str, int]


def _counts(document: dict[str, Any]) -> dict[str, int]:
    counts = {"params": len(document["params"])}
    for section in top_level():
        entries = document[section.key]
        counts[section.key] = len(entries)
        for child in children(section.spec):
            counts[child.key] = sum(len(entry[child.key]) for entry in entries)
    return counts


async def export_text(settings: Settings) -> ExportedFile:
    """The configuration stored in the configured database, as YAML text."""
    async with open_manage(settings) as ctx:
        document = await export_config(ctx)
    return ExportedFile(render(document), _counts(document))


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600, atomically (temporary file + rename)."""
    directory = path.parent if str(path.parent) else Path(".")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=directory)
    try:
        os.fchmod(handle, FILE_MODE)  # mkstemp makes it 0600 already; say so explicitly
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


async def export_file(settings: Settings, path: Path) -> ExportedFile:
    """Export into ``path`` (mode 0600, replacing it)."""
    exported = await export_text(settings)
    write_private(path, exported.text)
    return exported


@dataclass(frozen=True, slots=True)
class AppliedFile:
    """The plan of an apply and whether it was carried out (not for a dry run)."""

    plan: Plan
    applied: bool


def _read(path: Path) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigInvalid([ConfigError("", f"not UTF-8 text: {exc.reason}")]) from None
    return parse_text(text)


async def apply_file(
    settings: Settings,
    path: Path,
    *,
    prune: bool = False,
    dry_run: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> AppliedFile:
    """Validate ``path`` as a whole, plan, and (unless ``dry_run``) apply the plan in one
    transaction. Raises ``ConfigInvalid`` (every error, with its YAML path; nothing written),
    ``AdminError`` and ``OSError``. ``progress(done, total)`` follows the written rows."""
    data = _read(path)
    async with open_manage(settings) as ctx:
        plan = await plan_config(ctx, data, prune=prune)
        if dry_run or plan.empty:
            return AppliedFile(plan, applied=False)
        total = len(plan.steps)
        report = None if progress is None else (lambda done: progress(done, total))
        await apply_plan(ctx, _WHO, plan, progress=report)
    return AppliedFile(plan, applied=True)


# -- text for the operator -------------------------------------------------------------------


def plan_lines(plan: Plan) -> list[str]:
    """One line per write: ``create account C1``, ``update phone 1001: enabled``,
    ``delete routing gateway old``, ``set param NAME: 10 -> 20``."""
    lines = []
    for step in plan.steps:
        line = f"{step.action.value} {step.title} {step.key}"
        if step.action is Change.UPDATE:
            line += ": " + ", ".join(step.fields)
        lines.append(line)
    for param in plan.params:
        if param.action is Change.DELETE:
            lines.append(f"reset param {param.name} (stored override {param.before} removed)")
        else:
            before = "default" if param.before is None else param.before
            lines.append(f"set param {param.name}: {before} -> {param.after}")
    return lines


_VERBS = {
    Change.CREATE: ("created", "to create"),
    Change.UPDATE: ("updated", "to update"),
    Change.DELETE: ("deleted", "to delete"),
}


def summary_lines(plan: Plan, *, applied: bool) -> list[str]:
    """Per section: how many rows were (or would be) created, updated, deleted, left alone."""
    index = 0 if applied else 1
    rows = [(section.key, section.spec.name) for section in SECTIONS] + [("params", "param")]
    lines = []
    for key, entity in rows:
        parts = [
            f"{plan.count(entity, change)} {_VERBS[change][index]}"
            for change in Change
            if plan.count(entity, change)
        ]
        parts.append(f"{plan.unchanged.get(key, 0)} unchanged")
        lines.append(f"{key}: {', '.join(parts)}")
    return lines
