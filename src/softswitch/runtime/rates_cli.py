"""``softswitch rates import`` and ``softswitch rates export``: rate tables as CSV from a shell
(issue 3 §4; the format is described in ``softswitch.manage.rate_csv``).

Composition only: the database context comes from :func:`softswitch.runtime.admin.open_manage`
and the work from :class:`~softswitch.manage.rate_import.RateImportService`, acting as the
system actor like the other administration commands (whoever can read the data directory
controls the data anyway). The import is one transaction with one change-feed row, so a
running switch picks the new rates up within a second of the commit.

The progress bar is ours (a dozen lines) rather than a dependency: it only has to redraw one
line of a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from softswitch.manage import Invalid, ManageContext, NotFound, Who
from softswitch.manage.entities import EntityService
from softswitch.manage.rate_import import ImportMode, ImportRefused, ImportResult, RateImportService
from softswitch.manage.rates import RATE_TABLE
from softswitch.operators import SYSTEM
from softswitch.runtime.admin import open_manage
from softswitch.runtime.settings import Settings

__all__ = ["ExportResult", "ProgressBar", "count_lines", "export_rates", "import_rates"]

_READ_SIZE = 1 << 20


@dataclass(frozen=True, slots=True)
class ExportResult:
    """What an export wrote: the table's id and the number of lines after the header."""

    table_id: int
    lines: int


class ProgressBar:
    """A one-line progress bar redrawn on ``stream`` at most ten times a second."""

    def __init__(self, stream: TextIO, label: str, width: int = 30) -> None:
        self._stream = stream
        self._label = label
        self._width = width
        self._last = 0.0
        self.drawn = False
        """True once something was drawn (and the line is not finished)."""

    def __call__(self, done: int, total: int | None) -> None:
        now = time.monotonic()
        finished = total is not None and done >= total
        if now - self._last < 0.1 and not finished:
            return
        self._last = now
        if total:
            share = min(done / total, 1.0)
            filled = int(share * self._width)
            bar = "#" * filled + "-" * (self._width - filled)
            text = f"\r{self._label} [{bar}] {share:6.1%} {done:,}/{total:,} lines"
        else:
            text = f"\r{self._label} {done:,} lines"
        self._stream.write(text)
        self.drawn = not finished
        if finished:
            self._stream.write("\n")
        self._stream.flush()


def count_lines(path: Path) -> int:
    """Lines in the file (a last line without a newline counts), read in 1 MiB pieces."""
    lines, last = 0, b"\n"
    with path.open("rb") as source:
        while piece := source.read(_READ_SIZE):
            lines += piece.count(b"\n")
            last = piece[-1:]
    return lines + (0 if last == b"\n" else 1)


def _text_lines(source: TextIO) -> Iterator[str]:
    try:
        yield from source
    except UnicodeDecodeError as exc:
        raise Invalid(f"the file is not UTF-8 text ({exc.reason})", field="file") from None


async def import_rates(
    settings: Settings,
    path: Path,
    table: str,
    *,
    mode: ImportMode = ImportMode.REPLACE,
    skip_bad: bool = False,
    create: bool = False,
    currency: str | None = None,
    progress: ProgressBar | None = None,
) -> ImportResult:
    """Import ``path`` into the rate table named ``table`` as the system actor.

    With ``create`` a missing table is created in ``currency`` first (and removed again when
    the import is refused, so a refused import leaves nothing behind). Raises
    ``ImportRefused`` (bad rows, nothing imported), ``NotFound``/``Invalid``, ``AdminError``
    and ``OSError``.
    """
    total = count_lines(path)
    who = Who(SYSTEM, "cli")
    async with open_manage(settings) as ctx:
        service = RateImportService(ctx)
        created: int | None = None
        try:
            table_id = await service.table_id(SYSTEM, table)
        except NotFound:
            if not create:
                raise NotFound(
                    f"no rate table named {table!r}: create it with --create --currency XXX",
                    field="table",
                ) from None
            created = table_id = await _create_table(ctx, who, table, currency)
        try:
            with path.open(encoding="utf-8-sig", newline="") as source:
                return await service.import_csv(
                    who,
                    table_id,
                    _text_lines(source),
                    mode=mode,
                    skip_bad=skip_bad,
                    file_name=path.name,
                    total_lines=total,
                    progress=progress,
                )
        except (ImportRefused, Invalid):
            if created is not None:
                await EntityService(ctx, RATE_TABLE).delete(who, created)
            raise


async def _create_table(ctx: ManageContext, who: Who, name: str, currency: str | None) -> int:
    if currency is None:
        raise Invalid("--create needs --currency (e.g. --currency USD)", field="currency")
    try:
        body = RATE_TABLE.create.model_validate({"name": name, "currency": currency})
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        raise Invalid(f"{field}: {first['msg']}", field=field) from None
    created = await EntityService(ctx, RATE_TABLE).create(who, body)
    return int(getattr(created, "id"))  # noqa: B009


async def export_rates(settings: Settings, table: str, output: TextIO) -> ExportResult:
    """Write the rate table named ``table`` to ``output`` as CSV; raises ``NotFound`` and
    ``AdminError``."""
    async with open_manage(settings) as ctx:
        service = RateImportService(ctx)
        table_id = await service.table_id(SYSTEM, table)
        lines = -1  # the header is not a rate
        async for piece in await service.export_csv(SYSTEM, table_id):
            output.write(piece)
            lines += piece.count("\n")
    return ExportResult(table_id, lines)
