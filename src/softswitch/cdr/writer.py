"""Durable CDR writing: journal first, batched into the database, replayed at start (issue 4 §5).

A CDR must survive a crash or ``kill -9`` from the moment the call path is told it is written,
so the call's state can be dropped. The database alone cannot promise that cheaply (one
transaction per call would cap the call rate at the disk's commit rate), so the writer keeps an
append-only journal of JSON lines and feeds the database from it:

1. ``await submit(values)`` gives the record a ``record_id`` (a UUID4) unless it has one,
   drops it when its callee matches SERVER_BILLING_NO_CDR_E164S, validates it against the
   ``cdrs`` columns (a record the database would refuse must never enter the journal, where it
   would block every record behind it), and appends ONE JSON line to the current CDR file. It
   returns only once that line is on disk (``fsync``). Group commit: a single task collects the
   lines of all concurrent submits for a few milliseconds, writes and fsyncs them together in
   a worker thread, then resolves their futures — so the cost is one fsync per batch, not per
   call (``fsync_batches`` counts them).
2. Acknowledged lines are queued for the database. A background task inserts them into
   ``cdrs`` in batches (``batch_rows`` rows or every ``batch_interval_s``), one transaction per
   batch, with ``INSERT ... ON CONFLICT (record_id) DO NOTHING`` (SQLite and PostgreSQL have
   the same clause). When the writer was given ``settle`` (the switch gives it
   ``balance.settle_rows``), the same transaction charges each call and releases its credit
   reservation, idempotently, so a CDR and its money land together. After each commit it
   writes the checkpoint — the file name and how many of its lines are in the database —
   atomically (temporary file, fsync, ``os.replace``, fsync of the directory). A crash between
   commit and checkpoint only makes the next start insert rows that already exist, which the
   conflict clause ignores: each record lands exactly once.
3. ``await start()`` cuts the torn tail of an interrupted write (an unacknowledged partial
   line), replays every line after the checkpoint through all later files, then starts the
   tasks. ``await stop()`` writes what is pending, delivers the queue and stops.

A database outage loses nothing: the lines stay in the files, the batch is retried with an
exponential back-off, and the failure is logged (once as a warning, then at debug level until
it recovers). Files are never deleted before all their lines are in the database.

CDR files, one JSON object per line, UTF-8: ``cdr-YYYYMMDDTHHMMSSZ.jsonl`` named by the UTC
time they were started. A new file is started every SERVER_CDR_FILE_WRITE_INTERVAL seconds of
the injected clock (never one that sorts before an existing file, so a clock stepped backwards
keeps appending to the newest file); at most SERVER_CDR_FILE_WRITE_MAX are kept, the oldest
deleted first. Each line carries every ``cdrs`` column except ``id``; times are ISO 8601 in UTC
with microseconds and a ``Z`` (``2026-03-01T08:00:00.250000Z``), money is an exact decimal
string (``"0.012500"``-style, as given), ``attempts`` a JSON array.

Real-time report (SERVER_CDR_REAL_TIME_REPORT_SERVER, ``host:port`` or ``[v6]:port``; empty =
off): after a CDR is durable, one UDP datagram is sent to that address whose payload is the
record's JSON object exactly as in the file line, without the newline. It is best effort: never
retried, never blocking nor failing ``submit``; a record too large for one datagram is skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import socket
import threading
import uuid
from collections import deque
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import JSON, Column, Integer, String, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.sql.expression import Insert

from softswitch.storage.models.cdrs import Cdr
from softswitch.storage.types import Money, UtcDateTime, to_micros

__all__ = ["NO_CDR", "CdrWriter", "CdrWriterConfig", "Clock", "Settle", "parse_report_server"]

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
"""Wall clock returning aware datetimes: it names CDR files and decides their rotation."""

Settle = Callable[[AsyncConnection, list[dict[str, Any]]], Awaitable[int]]
"""Settles the calls of a batch inside the transaction that inserts their CDRs
(``softswitch.balance.settle_rows``): CDR, charge and released reservation commit together."""

CHECKPOINT = "checkpoint.json"
FILE_PREFIX = "cdr-"
FILE_SUFFIX = ".jsonl"
_NAME_FORMAT = "%Y%m%dT%H%M%SZ"
_MAX_DATAGRAM = 65507
_REPORT_BACKLOG = 10_000
_TABLE: Table = Cdr.__table__  # type: ignore[assignment]


@dataclass(frozen=True, slots=True)
class CdrWriterConfig:
    """The writer's parameters as plain values; the runtime maps the params onto it.

    ``file_interval_s`` is SERVER_CDR_FILE_WRITE_INTERVAL, ``max_files`` SERVER_CDR_FILE_WRITE_MAX
    (0 keeps all), ``report_server`` SERVER_CDR_REAL_TIME_REPORT_SERVER, ``no_cdr_e164s``
    SERVER_BILLING_NO_CDR_E164S (comma-separated; each entry is a callee prefix, so an exact
    number also covers longer numbers starting with it), ``max_pending``
    SERVER_MAX_CDR_PENDING_LIST_LENGTH (above it a warning is logged; nothing is dropped).
    """

    file_interval_s: int = 60
    max_files: int = 2048
    report_server: str = ""
    no_cdr_e164s: str = ""
    max_pending: int = 100_000
    batch_rows: int = 500
    batch_interval_s: float = 0.2
    commit_window_s: float = 0.002
    retry_initial_s: float = 0.2
    retry_max_s: float = 10.0
    no_cdr_prefixes: tuple[str, ...] = field(init=False, default=())

    def __post_init__(self) -> None:
        if self.file_interval_s < 1:
            raise ValueError("file_interval_s must be at least 1 second")
        if self.max_files < 0 or self.batch_rows < 1:
            raise ValueError("max_files must be >= 0 and batch_rows >= 1")
        parse_report_server(self.report_server)
        prefixes = tuple(p.strip() for p in self.no_cdr_e164s.split(",") if p.strip())
        object.__setattr__(self, "no_cdr_prefixes", prefixes)

    def wants_cdr(self, callee: str) -> bool:
        """False when the callee matches SERVER_BILLING_NO_CDR_E164S."""
        return not any(callee.startswith(prefix) for prefix in self.no_cdr_prefixes)


def parse_report_server(value: str) -> tuple[str, int] | None:
    """``host:port`` (or ``[v6]:port``) → ``(host, port)``; empty → None; else ValueError."""
    value = value.strip()
    if not value:
        return None
    host, sep, port_text = value.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise ValueError(f"real-time report server {value!r} is not host:port")
    return host, int(port_text)


def file_name(start: datetime) -> str:
    """The CDR file started at ``start``."""
    return f"{FILE_PREFIX}{start.astimezone(UTC).strftime(_NAME_FORMAT)}{FILE_SUFFIX}"


# --- records <-> JSON lines -------------------------------------------------------------------


def _default(column: Column[Any]) -> Any:
    if column.default is None:
        return None
    arg = column.default.arg  # type: ignore[attr-defined]
    return arg(None) if callable(arg) else arg


_TIME, _MONEY, _TEXT, _INT, _JSON = range(5)


@dataclass(frozen=True, slots=True)
class _Field:
    """What ``encode``/``decode`` need of one CDR column, read once from the table: going
    through SQLAlchemy's column objects for every field of every CDR cost more than the rest
    of writing it."""

    column: Column[Any]
    name: str
    kind: int
    nullable: bool
    has_default: bool
    length: int | None


def _kind(column: Column[Any]) -> int:
    kind = column.type
    if isinstance(kind, UtcDateTime):
        return _TIME
    if isinstance(kind, Money):
        return _MONEY
    if isinstance(kind, String):
        return _TEXT
    if isinstance(kind, Integer):
        return _INT
    if isinstance(kind, JSON):
        return _JSON
    raise ValueError(f"CDR field {column.name} has an unsupported type")  # pragma: no cover


@functools.cache
def _fields() -> tuple[_Field, ...]:
    """The CDR's columns but ``id``, in table order."""
    return tuple(
        _Field(
            column,
            column.name,
            _kind(column),
            bool(column.nullable),
            column.default is not None,
            getattr(column.type, "length", None) if _kind(column) == _TEXT else None,
        )
        for column in _TABLE.columns
        if not column.primary_key
    )


@functools.cache
def _names() -> frozenset[str]:
    return frozenset(f.name for f in _fields())


def _check(spec: _Field, value: Any) -> Any:
    """``value`` as it goes into JSON, or ValueError if the database would refuse it."""
    name, kind = spec.name, spec.kind
    if value is None:
        if not spec.nullable:
            raise ValueError(f"CDR field {name} may not be null")
        return None
    if kind == _TIME:
        if not isinstance(value, datetime) or value.tzinfo is None:
            raise ValueError(f"CDR field {name} must be an aware datetime")
        return value.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")
    if kind == _MONEY:
        try:
            to_micros(value)  # refuses floats, bools and sub-micro amounts
        except (TypeError, OverflowError) as exc:
            raise ValueError(f"CDR field {name}: {exc}") from exc
        return str(value)
    if kind == _TEXT:
        if not isinstance(value, str):
            raise ValueError(f"CDR field {name} must be a string")
        if spec.length is not None and len(value) > spec.length:
            raise ValueError(f"CDR field {name} is longer than {spec.length} characters")
        return value
    if kind == _INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"CDR field {name} must be an integer")
        return value
    try:  # JSON
        json.dumps(value)
    except TypeError as exc:
        raise ValueError(f"CDR field {name}: {exc}") from exc
    return value


def encode(values: Mapping[str, Any]) -> dict[str, Any]:
    """Every column but ``id``, JSON-ready; ValueError for unknown, missing or bad fields."""
    unknown = set(values) - _names()
    if unknown:
        raise ValueError(f"unknown CDR fields: {', '.join(sorted(unknown))}")
    out: dict[str, Any] = {}
    for spec in _fields():
        name = spec.name
        if name in values:
            value = values[name]
        elif spec.has_default or spec.nullable:
            value = _default(spec.column)
        else:
            raise ValueError(f"CDR field {name} is required")
        out[name] = _check(spec, value)
    return out


NO_CDR = "no_cdr"
"""Key of a journal line whose callee is on SERVER_BILLING_NO_CDR_E164S but whose call must
still be settled (charged, its reservation released): it reaches the settlement, not ``cdrs``."""


def decode(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A JSON line's object as column values for the insert (plus ``no_cdr`` when set)."""
    row: dict[str, Any] = {NO_CDR: True} if obj.get(NO_CDR) else {}
    for spec in _fields():
        name = spec.name
        if name not in obj:
            continue
        value = obj[name]
        if value is not None and spec.kind == _TIME:
            value = datetime.fromisoformat(value)
        elif value is not None and spec.kind == _MONEY:
            value = Decimal(value)
        row[name] = value
    return row


@dataclass(frozen=True, slots=True)
class _Queued:
    """A durable line waiting for the database, and where it sits in the files."""

    file: str
    line: int  # 1-based: the checkpoint after it is (file, line)
    row: dict[str, Any]


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _read_lines(path: Path) -> list[bytes]:
    """The complete lines of a CDR file; a torn tail (a write cut by a crash) is cut off."""
    data = path.read_bytes()
    end = data.rfind(b"\n") + 1
    if end < len(data):
        log.warning("CDR file %s: dropping %d bytes of a torn last line", path, len(data) - end)
        with path.open("r+b") as handle:
            handle.truncate(end)
            os.fsync(handle.fileno())
    return data[:end].splitlines()


class CdrWriter:
    """Journals CDRs durably, feeds them to ``cdrs`` in batches, replays after a crash.

    One writer owns ``directory``; it must not be shared between processes.
    """

    def __init__(
        self,
        directory: Path,
        engine: AsyncEngine,
        config: CdrWriterConfig,
        clock: Clock,
        *,
        settle: Settle | None = None,
    ) -> None:
        self.directory = Path(directory)
        self._settle = settle
        self._engine = engine
        self._config = config
        self._clock = clock
        self.fsync_batches = 0
        """How many journal fsyncs were done; far fewer than records under load."""
        self.dropped = 0
        """Records not written because of SERVER_BILLING_NO_CDR_E164S."""
        self.delivered = 0
        """Lines inserted (or found already present) in the database by this writer."""
        self._waiting: list[tuple[bytes, asyncio.Future[None]]] = []
        self._write_wakeup = asyncio.Event()
        self._db_wakeup = asyncio.Event()
        self._queue: deque[_Queued] = deque()
        self._progress = asyncio.Condition()
        self._files_lock = threading.Lock()
        self._file: str | None = None
        self._file_start: datetime | None = None
        self._file_lines = 0
        self._handle: Any = None
        self._checkpoint: tuple[str, int] | None = None
        self._stopping = False
        self._tasks: list[asyncio.Task[None]] = []
        self._sock: socket.socket | None = None
        self._report_addr: tuple[str, int] | None = None
        self._report_resolved: tuple[Any, ...] | None = None
        self._reports: asyncio.Queue[bytes] = asyncio.Queue(_REPORT_BACKLOG)
        self._pending_alarm = False
        self._db_failing = False
        self._insert = self._insert_statement()

    @property
    def config(self) -> CdrWriterConfig:
        return self._config

    @property
    def pending(self) -> int:
        """Durable lines not yet in the database."""
        return len(self._queue)

    def reconfigure(self, config: CdrWriterConfig) -> None:
        """Apply changed parameters: the interval at the next rotation check, the file limit at
        the next pruning, the filter and the report address from the next record on."""
        self._config = config
        self._report_resolved = None

    def _insert_statement(self) -> Insert:
        name = self._engine.dialect.name
        if name == "postgresql":
            return postgresql.insert(_TABLE).on_conflict_do_nothing(index_elements=["record_id"])
        if name == "sqlite":
            return sqlite.insert(_TABLE).on_conflict_do_nothing(index_elements=["record_id"])
        raise ValueError(f"CDR writer supports SQLite and PostgreSQL, not {name}")

    # --- life cycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Replay what the database may lack, then start journaling and delivering."""
        await asyncio.to_thread(self.directory.mkdir, parents=True, exist_ok=True)
        self._checkpoint = await asyncio.to_thread(self._read_checkpoint)
        replay = await asyncio.to_thread(self._load_replay)
        self._queue.extend(replay)
        if replay:
            log.info("CDR writer: replaying %d records from %s", len(replay), self.directory)
        while self._queue:
            if not await self._deliver_batch():
                log.warning("CDR writer: replay incomplete, retrying in the background")
                break
        self._stopping = False
        self._tasks = [
            asyncio.create_task(self._journal_loop(), name="cdr-journal"),
            asyncio.create_task(self._db_loop(), name="cdr-db"),
            asyncio.create_task(self._report_loop(), name="cdr-report"),
        ]

    async def stop(self, timeout: float = 10.0) -> None:
        """Write what is waiting, deliver the queue (up to ``timeout`` s), close the file."""
        if not self._tasks:
            return
        self._stopping = True
        self._write_wakeup.set()
        journal, db, report = self._tasks
        await journal
        self._db_wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(db), timeout)
        except TimeoutError:
            db.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await db
            log.warning(
                "CDR writer stopped with %d records not in the database; they stay in %s "
                "and are replayed at the next start",
                len(self._queue),
                self.directory,
            )
        report.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await report
        self._tasks = []
        if self._handle is not None:
            await asyncio.to_thread(self._handle.close)
            self._handle = None
            self._file = None
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    async def flush(self) -> None:
        """Wait until every record acknowledged so far is in the database."""
        async with self._progress:
            self._db_wakeup.set()
            await self._progress.wait_for(lambda: not self._queue and not self._waiting)

    # --- submit and journal ---------------------------------------------------------------------

    async def submit(self, values: Mapping[str, Any]) -> str | None:
        """Write one CDR durably; its ``record_id``, or None when NO_CDR_E164S drops it (a
        record of an account is then still journaled for its settlement, and its id returned).

        Raises ValueError for a record the ``cdrs`` table would refuse, OSError when the journal
        cannot be written (the record is then NOT durable).
        """
        if not self._tasks or self._stopping:
            raise RuntimeError("the CDR writer is not running")
        record = dict(values)
        stored = self._config.wants_cdr(str(record.get("callee", "")))
        if not stored:
            self.dropped += 1
            if self._settle is None or record.get("account_id") is None:
                return None
        if not record.get("record_id"):
            record["record_id"] = str(uuid.uuid4())
        encoded = encode(record)
        if not stored:
            # Not a CDR, but the call's money must still be settled: journaled like one, so
            # a crash cannot lose the charge, and skipped by the insert.
            encoded[NO_CDR] = True
        line = json.dumps(encoded, separators=(",", ":"), sort_keys=True).encode()
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((line, done))
        self._write_wakeup.set()
        await done
        return str(record["record_id"])

    async def _journal_loop(self) -> None:
        while True:
            if self._stopping and not self._waiting:
                return
            await self._write_wakeup.wait()
            self._write_wakeup.clear()
            if not self._stopping and self._config.commit_window_s > 0:
                await asyncio.sleep(self._config.commit_window_s)
            batch, self._waiting = self._waiting, []
            if batch:
                await self._write_batch(batch)
            if self._waiting:
                self._write_wakeup.set()

    async def _write_batch(self, batch: list[tuple[bytes, asyncio.Future[None]]]) -> None:
        lines = [line for line, _ in batch]
        now = self._clock()
        try:
            name, first = await asyncio.to_thread(self._append, lines, now)
        except OSError as exc:
            log.error("CDR writer: cannot write the CDR file in %s: %s", self.directory, exc)
            for _, done in batch:
                if not done.done():
                    done.set_exception(exc)
            await self._notify()
            return
        self.fsync_batches += 1
        for offset, line in enumerate(lines):
            self._queue.append(_Queued(name, first + offset, decode(json.loads(line))))
        for _, done in batch:
            if not done.done():
                done.set_result(None)
        if len(self._queue) >= self._config.batch_rows:
            self._db_wakeup.set()
        self._check_pending()
        if self._config.report_server:
            for line in lines:
                try:
                    self._reports.put_nowait(line)
                except asyncio.QueueFull:
                    log.debug("CDR real-time report backlog full; a datagram is skipped")

    def _append(self, lines: list[bytes], now: datetime) -> tuple[str, int]:
        """In a worker thread: rotate if due, append, fsync; (file, number of the first line)."""
        with self._files_lock:
            start = self._file_start
            due = start is None or now >= start + timedelta(seconds=self._config.file_interval_s)
            if self._handle is None or due:
                self._open(now)
            assert self._file is not None
            self._handle.write(b"".join(line + b"\n" for line in lines))
            self._handle.flush()
            os.fsync(self._handle.fileno())
            first = self._file_lines + 1
            self._file_lines += len(lines)
            return self._file, first

    def _open(self, now: datetime) -> None:
        """Start the file for ``now``, or keep appending to the newest if that sorts later."""
        name = file_name(now)
        existing = self._files()
        if existing and existing[-1] >= name:
            name = existing[-1]
        if name == self._file and self._handle is not None:
            self._file_start = now
            return
        if self._handle is not None:
            self._handle.close()
        path = self.directory / name
        lines = len(_read_lines(path)) if path.exists() else 0
        self._handle = path.open("ab")
        _fsync_dir(self.directory)
        self._file, self._file_start, self._file_lines = name, now, lines
        self._prune()

    async def _report_loop(self) -> None:
        """Send the reports apart from the journal, so a slow DNS answer delays nobody."""
        while True:
            line = await self._reports.get()
            await self._report(line)

    async def _report(self, line: bytes) -> None:
        address = parse_report_server(self._config.report_server)
        if address is None or len(line) > _MAX_DATAGRAM:
            return
        try:
            if self._report_resolved is None or self._report_addr != address:
                infos = await asyncio.get_running_loop().getaddrinfo(
                    address[0], address[1], type=socket.SOCK_DGRAM
                )
                family, _, _, _, sockaddr = infos[0]
                if self._sock is None or self._sock.family != family:
                    if self._sock is not None:
                        self._sock.close()
                    self._sock = socket.socket(family, socket.SOCK_DGRAM)
                    self._sock.setblocking(False)
                self._report_addr, self._report_resolved = address, sockaddr
            assert self._sock is not None
            self._sock.sendto(line, self._report_resolved)
        except OSError as exc:
            log.debug("CDR real-time report to %s failed: %s", address, exc)

    def _check_pending(self) -> None:
        over = len(self._queue) > self._config.max_pending
        if over and not self._pending_alarm:
            log.warning(
                "CDR writer: %d records waiting for the database (more than %d); none is "
                "dropped, they are kept in %s",
                len(self._queue),
                self._config.max_pending,
                self.directory,
            )
        self._pending_alarm = over

    # --- database -----------------------------------------------------------------------------

    async def _db_loop(self) -> None:
        delay = self._config.retry_initial_s
        while True:
            if not self._queue:
                if self._stopping:
                    return
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._db_wakeup.wait(), self._config.batch_interval_s)
                self._db_wakeup.clear()
                continue
            if len(self._queue) < self._config.batch_rows and not self._stopping:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._db_wakeup.wait(), self._config.batch_interval_s)
                self._db_wakeup.clear()
            if await self._deliver_batch():
                delay = self._config.retry_initial_s
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._config.retry_max_s)

    async def _deliver_batch(self) -> bool:
        """Insert the oldest queued lines in one transaction, then move the checkpoint."""
        batch = [self._queue[i] for i in range(min(len(self._queue), self._config.batch_rows))]
        try:
            rows = [item.row for item in batch if NO_CDR not in item.row]
            async with self._engine.begin() as connection:
                if rows:
                    await connection.execute(self._insert, rows)
                if self._settle is not None:
                    await self._settle(connection, [item.row for item in batch])
        except Exception as exc:  # any failure: the lines stay in the files and are retried
            if not self._db_failing:
                log.warning(
                    "CDR writer: database insert failed (%s); %d records kept in %s, retrying",
                    exc,
                    len(self._queue),
                    self.directory,
                )
            else:
                log.debug("CDR writer: database insert still failing: %s", exc)
            self._db_failing = True
            return False
        if self._db_failing:
            log.warning("CDR writer: database reachable again, delivering %d", len(self._queue))
        self._db_failing = False
        for _ in batch:
            self._queue.popleft()
        self.delivered += len(batch)
        last = batch[-1]
        moved_file = self._checkpoint is None or self._checkpoint[0] != last.file
        self._checkpoint = (last.file, last.line)
        await asyncio.to_thread(self._save_checkpoint, self._checkpoint, moved_file)
        await self._notify()
        return True

    async def _notify(self) -> None:
        async with self._progress:
            self._progress.notify_all()

    # --- files, checkpoint, replay ---------------------------------------------------------------

    def _files(self) -> list[str]:
        return sorted(
            path.name
            for path in self.directory.iterdir()
            if path.name.startswith(FILE_PREFIX) and path.name.endswith(FILE_SUFFIX)
        )

    def _read_checkpoint(self) -> tuple[str, int] | None:
        try:
            data = json.loads((self.directory / CHECKPOINT).read_text())
            return str(data["file"]), int(data["lines"])
        except FileNotFoundError:
            return None
        except (ValueError, KeyError, TypeError) as exc:
            # Unreadable: replay everything; ON CONFLICT DO NOTHING keeps that harmless.
            log.warning("CDR writer: checkpoint unreadable (%s), replaying all files", exc)
            return None

    def _save_checkpoint(self, checkpoint: tuple[str, int], moved_file: bool) -> None:
        """Atomically: a reader sees the old checkpoint or the new one, never a torn one."""
        temporary = self.directory / f"{CHECKPOINT}.tmp"
        with temporary.open("w") as handle:
            json.dump({"file": checkpoint[0], "lines": checkpoint[1]}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self.directory / CHECKPOINT)
        _fsync_dir(self.directory)
        if moved_file:  # only then can an older file have become deletable
            self.prune()

    def _load_replay(self) -> list[_Queued]:
        """Every complete line after the checkpoint, in file order."""
        replay: list[_Queued] = []
        done_file, done_lines = self._checkpoint or ("", 0)
        for name in self._files():
            if name < done_file:
                continue
            skip = done_lines if name == done_file else 0
            for number, line in enumerate(_read_lines(self.directory / name), start=1):
                if number <= skip:
                    continue
                try:
                    row = decode(json.loads(line))
                except (ValueError, TypeError) as exc:
                    log.error("CDR file %s line %d unreadable, skipped: %s", name, number, exc)
                    continue
                replay.append(_Queued(name, number, row))
        return replay

    def prune(self) -> None:
        """Delete the oldest files beyond SERVER_CDR_FILE_WRITE_MAX that are fully delivered."""
        with self._files_lock:
            self._prune()

    def _prune(self) -> None:
        limit = self._config.max_files
        if limit <= 0:
            return
        files = self._files()
        done_file = self._checkpoint[0] if self._checkpoint else ""
        for name in files[: max(0, len(files) - limit)]:
            # Lines of the checkpoint's file, or of any later one, may not be in the database.
            if name >= done_file or name == self._file:
                log.warning(
                    "CDR writer: %d files exceed SERVER_CDR_FILE_WRITE_MAX=%d but %s is not yet "
                    "in the database; keeping it",
                    len(files),
                    limit,
                    name,
                )
                return
            (self.directory / name).unlink()
            log.info("CDR writer: deleted old CDR file %s", name)
