"""The daily reports (issue 5 §3): at 01:00 local time, yesterday's reports as CSV files.

Every day at :data:`RUN_AT` (01:00) in the job's zone, :class:`DailyReports` writes the reports
of the local day that just ended to ``<directory>/<YYYY-MM-DD>/<kind>.csv``, one file per report
whose SERVER_REPORT_* switch is On (``softswitch.manage.reports.DAILY_SWITCHES``; the switches
are read at each run, so a change applies from the next one). Why it is built this way:

- **01:00, not midnight**: CDRs of calls that ended just before midnight are still on their way
  to the database (the CDR writer delivers in batches); an hour later the day is complete.
- **Local days and DST**: the run time is found by :func:`next_run`, a pure function of the
  current instant and the zone. On the day clocks jump over 01:00 (Europe/London goes from
  01:00 GMT to 02:00 BST) the run is at the first instant after the gap; on the day 01:00
  occurs twice it runs at the first one only. The day reported is the local day before the
  run's date, whatever the clock reads when the run actually starts.
- **Files appear whole or not at all**: each is written to a temporary file in the same
  directory, flushed to disk and renamed over the target, so a reader (the API's download, an
  rsync) never sees half a report, and re-running a day (``run_day``) simply replaces its
  files. A switch turned Off writes nothing: an earlier file of that report stays.
- **Testable without waiting**: the wall clock and the sleep are injected; the loop sleeps at
  most :data:`MAX_SLEEP` seconds at a time and re-reads the clock, so a clock that jumps (NTP,
  a suspended VM) delays the run by at most that much.

A failed run (database unreachable) is logged and the job waits for the next day; the missing
day can be made at any time with ``run_day`` (``POST /api/v1/reports/daily?date=...``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from softswitch.manage.reports import (
    DAILY_SWITCHES,
    DailyFile,
    Grouping,
    ReportKind,
    ReportRequest,
    build_report,
    report_csv,
)
from softswitch.operators import SYSTEM, Clock
from softswitch.params import ParamStore

__all__ = [
    "MAX_SLEEP",
    "RUN_AT",
    "DailyReports",
    "next_run",
    "write_atomically",
]

_log = logging.getLogger(__name__)

RUN_AT = time(1, 0)
"""Local time of the daily run."""

MAX_SLEEP = 60.0
"""Longest single sleep of the loop, in seconds: how late a clock jump can make a run."""

_DAY_DIRECTORY = re.compile(r"^\d{4}-\d{2}-\d{2}$")

Sleep = Callable[[float], Awaitable[None]]


def next_run(now: datetime, zone: ZoneInfo, at: time = RUN_AT) -> tuple[datetime, date]:
    """The first instant strictly after ``now`` at which the clocks of ``zone`` read ``at``,
    in UTC, and the local date of that run (the day reported is the one before it).

    ``at`` is read with ``fold=0``: a local time that does not exist (skipped by a DST jump)
    maps to the first instant after the gap, a time that occurs twice to its first occurrence;
    the second occurrence is never a run, since the run of that date is then already past.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("next_run needs an aware datetime")
    local_day = now.astimezone(zone).date()
    for offset in range(3):
        day = local_day + timedelta(days=offset)
        when = datetime.combine(day, at, tzinfo=zone).astimezone(UTC)
        if when > now:
            return when, day
    raise AssertionError("no run within three days")  # a zone offset is below 26 hours


def write_atomically(path: Path, text: str) -> int:
    """Write ``text`` (UTF-8) to ``path`` through a temporary file in the same directory,
    flushed and renamed over it: readers see the old file or the new one, never a part.
    Returns the size in bytes."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode("utf-8")
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    return len(data)


class DailyReports:
    """Writes each day's reports at 01:00 local time; ``run_day`` makes one day on demand.

    It satisfies ``softswitch.manage.reports.DailyReportRunner``, the surface the HTTP API
    uses (``create_app(reports=...)``).
    """

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        params: ParamStore,
        directory: Path,
        zone: ZoneInfo,
        clock: Clock,
        *,
        sleep: Sleep = asyncio.sleep,
        at: time = RUN_AT,
    ) -> None:
        self._sessions = sessions
        self._params = params
        self.directory = directory
        self._zone = zone
        self._clock = clock
        self._sleep = sleep
        self._at = at
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.runs = 0
        """Scheduled runs finished (successful or not): what a test waits for."""

    @property
    def zone(self) -> ZoneInfo:
        """The zone whose days are reported."""
        return self._zone

    def _now(self) -> datetime:
        now = self._clock()
        if now.tzinfo is None:
            raise ValueError("the report clock returned a naive datetime")
        return now.astimezone(UTC)

    async def start(self) -> None:
        """Start the daily loop (idempotent)."""
        if self._task is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            self._task = asyncio.create_task(self._loop(), name="daily-reports")
            _log.info(
                "daily reports at %s %s into %s",
                self._at.isoformat("minutes"),
                self._zone.key,
                self.directory,
            )

    async def stop(self) -> None:
        """Stop the loop. A run in progress stops between files (a file being written is
        still completed and renamed: files are whole or absent either way)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            run_at, run_date = next_run(self._now(), self._zone, self._at)
            while (left := (run_at - self._now()).total_seconds()) > 0:
                await self._sleep(min(left, MAX_SLEEP))
            day = run_date - timedelta(days=1)
            try:
                written = await self.run_day(day)
                _log.info("daily reports of %s: %d file(s)", day, len(written))
            except Exception:
                _log.exception("daily reports of %s failed; make them with run_day", day)
            self.runs += 1

    def enabled(self) -> list[ReportKind]:
        """The reports whose SERVER_REPORT_* switch is On now, in :class:`ReportKind` order."""
        return [kind for kind in ReportKind if self._params.get_bool(DAILY_SWITCHES[kind])]

    async def run_day(self, day: date) -> list[DailyFile]:
        """Write ``day``'s enabled reports (replacing earlier files of them); the files
        written. Two runs of the same job never interleave."""
        async with self._lock:
            written: list[DailyFile] = []
            for kind in self.enabled():
                request = ReportRequest(kind, day, day, Grouping.DAY, self._zone)
                report = await build_report(self._sessions, request, SYSTEM)
                path = self._path(day, kind)
                size = await asyncio.to_thread(write_atomically, path, report_csv(report))
                written.append(DailyFile(day, kind, path, size))
            return written

    def _path(self, day: date, kind: ReportKind) -> Path:
        return self.directory / day.isoformat() / f"{kind.value}.csv"

    def file(self, day: date, kind: ReportKind) -> Path | None:
        """The file of ``kind`` for ``day``, when it exists."""
        path = self._path(day, kind)
        return path if path.is_file() else None

    async def files(self) -> list[DailyFile]:
        """Every report file under the directory, newest day first, kinds in their order."""
        return await asyncio.to_thread(self._scan)

    def _scan(self) -> list[DailyFile]:
        found: list[DailyFile] = []
        if not self.directory.is_dir():
            return found
        for entry in self.directory.iterdir():
            if not entry.is_dir() or not _DAY_DIRECTORY.match(entry.name):
                continue
            try:
                day = date.fromisoformat(entry.name)
            except ValueError:
                continue
            for kind in ReportKind:
                path = entry / f"{kind.value}.csv"
                with contextlib.suppress(OSError):
                    found.append(DailyFile(day, kind, path, path.stat().st_size))
        order = list(ReportKind)
        found.sort(key=lambda item: (-item.day.toordinal(), order.index(item.kind)))
        return found
