"""``softswitch cdr export``: the CDRs of a time range as CSV, from a shell.

The same rows, columns and order as ``GET /api/v1/cdrs.csv`` (``softswitch.manage.cdrs``),
written as the system actor (whoever has the data directory sees every CDR anyway, see
``softswitch.runtime.admin``).

The system parameters apply as they do to the API, because they protect the same database the
call path writes to: SERVER_QUERY_CDR_DENY_TIME (peak hours), SERVER_QUERY_CDR_MAX_DAY_INTERVAL
and SERVER_QUERY_MAX_SIZE. An operator at a shell may lift the first two on purpose:
``--ignore-deny-time`` for the export that cannot wait until 22:00, ``--full-range`` for a
backup or a migration (the VOS3000 guide's "export with the full date range"). The export reads
in keyset batches, so a long range costs time, not memory. The row cap stays (raise the
parameter for a bigger export); a capped export is reported, and the CLI exits non-zero.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TextIO

from softswitch.manage.cdrs import EXPORT_BATCH, CdrQuery, CdrService, csv_chunks
from softswitch.operators import SYSTEM, Clock
from softswitch.runtime.admin import open_manage
from softswitch.runtime.settings import Settings

__all__ = ["ExportResult", "export_cdrs", "parse_time"]


@dataclass(frozen=True, slots=True)
class ExportResult:
    """How many rows were written, and whether SERVER_QUERY_MAX_SIZE (``limit``) cut the
    export short."""

    rows: int
    limit: int
    capped: bool


def parse_time(text: str, option: str) -> datetime:
    """An ISO 8601 date or time from the command line (``2026-03-01``, ``2026-03-01T18:00``,
    ``...Z``, ``...+02:00``); without an offset it is UTC, the zone CDRs are stored in.
    Raises ``ValueError`` naming ``option``."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{option} {text!r} is not an ISO 8601 time such as 2026-03-01T00:00:00Z"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(UTC)


def _utcnow() -> datetime:
    return datetime.now(UTC)


async def export_cdrs(
    settings: Settings,
    query: CdrQuery,
    out: TextIO,
    *,
    progress: Callable[[int], None] | None = None,
    ignore_deny_time: bool = False,
    full_range: bool = False,
    clock: Clock = _utcnow,
    batch: int = EXPORT_BATCH,
) -> ExportResult:
    """Write the CSV of ``query`` to ``out``, calling ``progress(rows written)`` after each
    batch. Raises the service's ``ManageError`` refusals (bad range, deny time) before writing
    anything, and ``AdminError`` for a missing or outdated database."""
    async with open_manage(settings, clock) as ctx:
        export = CdrService(ctx).export(
            SYSTEM,
            query,
            honour_deny_time=not ignore_deny_time,
            honour_day_interval=not full_range,
            batch=batch,
        )
        async for chunk in csv_chunks(export):
            out.write(chunk)
            if progress is not None and export.written:
                progress(export.written)
        out.flush()
    return ExportResult(export.written, export.limit, export.capped)
