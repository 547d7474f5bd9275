"""Every core behind one SIP address (EXPERIMENTAL, issue 8 §2): SOFTSWITCH_SIP_WORKERS > 1.

One CPython process saturates one core. With ``sip_workers`` N above 1, ``softswitch run``
becomes a small parent and N forked workers:

* The **parent** migrates the database and creates the first admin once, binds the public SIP
  UDP socket(s) as a single process would, forks the workers, then runs the **distributor**:
  for each datagram it finds the Call-ID with a cheap bytes scan, picks worker
  ``crc32(Call-ID) % N`` and relays source address + datagram over that worker's Unix datagram
  socket pair (``softswitch.transport.relay``). No Call-ID found: worker 0.
* Each **worker** is a full :class:`~softswitch.runtime.server.Server` (own event loop,
  database connections, snapshot, call engine, CDR writer) whose UDP listener reads from its
  socket pair and sends through the shared public socket, so everything leaves from the
  public address:port. The Call-IDs it mints (carrier legs, BYEs it starts, REGISTERs,
  OPTIONS) are drawn until they hash back to it.
* **Worker 0** alone runs the singletons: the HTTP API, the daily reports, outbound
  registrations and the TCP/TLS listeners (the parent does not distribute streams).
* **Per-worker state** in this prototype (logged at start): line limits and concurrency caps
  of accounts and gateways are counted per worker; registrations taken after start live in
  the worker whose Call-ID hash got the REGISTER (each worker loads every binding saved before
  it started); the live-call, monitor and hangup API sees worker 0's calls only; security
  bans and flood counters are per worker. Prepaid credit is shared correctly (reservations are
  conditional UPDATEs in the database). Worker i > 0 journals CDRs in ``cdr/worker-i`` and
  files reservations under node ``<node>.w<i>``.
* **Stop**: SIGTERM or SIGINT to the parent stops the distributor, sends SIGTERM to each worker
  by PID and waits for them (they finish their CDRs). A worker that dies is logged and not
  restarted: the calls hashed to it fail until the switch is restarted.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import threading
import zlib
from dataclasses import dataclass, field

from softswitch.params import ParamStore
from softswitch.runtime.server import PRODUCT, Seat, load_params, prepare_database, run_forever
from softswitch.runtime.settings import Settings
from softswitch.transport.addresses import HostPort
from softswitch.transport.relay import call_id_of, pack
from softswitch.transport.udp import RECEIVE_BUFFER

__all__ = ["PER_WORKER_NOTE", "STOP_TIMEOUT", "run_workers"]

_log = logging.getLogger(__name__)

STOP_TIMEOUT = 30.0
"""Seconds the parent waits for its workers after SIGTERM before it kills them."""
RELAY_BUFFER = 8 * 1024 * 1024
"""Send queue of each relay socket pair: what a worker may fall behind by before the
distributor drops datagrams for it (counted and logged, as a full UDP queue would drop)."""
READY = b"ready"
"""What a worker sends its parent over its socket pair once it serves."""
_BATCH = 256
_REPORT_INTERVAL = 10.0

PER_WORKER_NOTE = (
    "EXPERIMENTAL multi-process mode: %d workers behind one SIP address (UDP distributed by "
    "Call-ID; TCP/TLS, HTTP API, daily reports and outbound registrations on worker 0 only). "
    "Per worker, not shared: line limits and concurrency caps of accounts and gateways, "
    "registrations taken after start, security bans; the live-call/monitor/hangup API sees "
    "worker 0's calls only. Shared: prepaid credit, CDRs, configuration."
)


def _force_buffer(sock: socket.socket, option: int, forced: int, size: int) -> None:
    """Ask for a ``size`` bytes buffer, above net.core.*mem_max when allowed (root)."""
    for name in (forced, option):
        try:
            sock.setsockopt(socket.SOL_SOCKET, name, size)
            return
        except OSError:
            continue


def _bind(local: HostPort) -> tuple[HostPort, socket.socket]:
    """The public UDP socket on ``local``, non-blocking, with a large receive queue."""
    sock = socket.socket(local.family, socket.SOCK_DGRAM)
    try:
        sock.bind((local.host, local.port))
        sock.setblocking(False)
        _force_buffer(sock, socket.SO_RCVBUF, 33, RECEIVE_BUFFER)  # 33: SO_RCVBUFFORCE
    except OSError:
        sock.close()
        raise
    return HostPort(local.host, int(sock.getsockname()[1])), sock


@dataclass
class _Worker:
    index: int
    parent_ends: list[socket.socket]
    """Per public socket: the parent's end of this worker's socket pair."""
    child_ends: list[socket.socket]
    pid: int = 0
    ready: bool = False
    exit_code: int | None = None
    dropped: int = 0
    lost: int = 0
    reported: tuple[int, int] = (0, 0)
    relayed: int = 0


@dataclass
class _Supervisor:
    settings: Settings
    publics: list[tuple[HostPort, socket.socket]]
    workers: list[_Worker]
    stopping: bool = False
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)

    # -- the distributor -----------------------------------------------------------------------

    def readable(self, which: int) -> None:
        """Relay what waits on public socket ``which`` to the workers its Call-IDs pick."""
        sock = self.publics[which][1]
        workers = self.workers
        count = len(workers)
        for _ in range(_BATCH):
            try:
                data, address = sock.recvfrom(65536)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                _log.debug("public UDP socket: %s", exc)
                continue
            call_id = call_id_of(data)
            worker = workers[0 if call_id is None else zlib.crc32(call_id) % count]
            try:
                worker.parent_ends[which].send(pack(address, data))
                worker.relayed += 1
            except (BlockingIOError, InterruptedError):
                worker.dropped += 1
            except OSError:
                worker.lost += 1  # the worker is gone

    def control(self, worker: _Worker, which: int) -> None:
        """A message from a worker on its socket pair (only READY so far)."""
        sock = worker.parent_ends[which]
        while True:
            try:
                message = sock.recv(64)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                return
            if message == READY:
                worker.ready = True
                self.wakeup.set()

    def report(self) -> None:
        """Log the datagrams dropped since the last report (a worker too slow or gone)."""
        for worker in self.workers:
            now = (worker.dropped, worker.lost)
            if now != worker.reported:
                _log.warning(
                    "distributor: worker %d has missed %d datagrams (queue full) and %d "
                    "(worker gone) since start",
                    worker.index,
                    worker.dropped,
                    worker.lost,
                )
                worker.reported = now

    # -- the workers' lives --------------------------------------------------------------------

    def reap(self) -> None:
        """SIGCHLD: collect every worker that exited; log it unless we are stopping them."""
        for worker in self.workers:
            if worker.exit_code is not None or worker.pid == 0:
                continue
            try:
                pid, status = os.waitpid(worker.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = worker.pid, 0
            if pid == 0:
                continue
            worker.exit_code = os.waitstatus_to_exitcode(status)
            if self.stopping:
                _log.info("worker %d (pid %d) stopped (%d)", worker.index, pid, worker.exit_code)
            else:
                _log.error(
                    "worker %d (pid %d) exited with %d: the calls its Call-IDs hash to fail "
                    "until the switch is restarted (workers are not restarted)",
                    worker.index,
                    pid,
                    worker.exit_code,
                )
        self.wakeup.set()

    def alive(self) -> list[_Worker]:
        return [w for w in self.workers if w.pid and w.exit_code is None]

    def signal_all(self, signum: int) -> None:
        for worker in self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(worker.pid, signum)


async def _supervise(supervisor: _Supervisor) -> int:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def on_stop() -> None:
        stop.set()
        supervisor.wakeup.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, on_stop)
    loop.add_signal_handler(signal.SIGCHLD, supervisor.reap)
    supervisor.reap()  # a worker may have died before the handler was installed
    for which, (_, sock) in enumerate(supervisor.publics):
        loop.add_reader(sock.fileno(), supervisor.readable, which)
        for worker in supervisor.workers:
            end = worker.parent_ends[which]
            loop.add_reader(end.fileno(), supervisor.control, worker, which)
    reporter = loop.create_task(_report_every(supervisor))
    count = len(supervisor.workers)
    code = 0
    try:
        while not stop.is_set():
            if any(w.exit_code is not None for w in supervisor.workers) and not all(
                w.ready for w in supervisor.workers
            ):
                _log.error("a worker failed to start: stopping")
                code = 1
                break
            if all(w.ready for w in supervisor.workers):
                break
            supervisor.wakeup.clear()
            await supervisor.wakeup.wait()
        if code == 0 and not stop.is_set():
            _log.warning(PER_WORKER_NOTE, count)
            _log.info("%s ready (data in %s)", PRODUCT, supervisor.settings.data_dir)
            await stop.wait()
        _log.info("stopping: SIGTERM to %d workers", len(supervisor.alive()))
    finally:
        supervisor.stopping = True
        for which, (_, sock) in enumerate(supervisor.publics):
            loop.remove_reader(sock.fileno())
            for worker in supervisor.workers:
                loop.remove_reader(worker.parent_ends[which].fileno())
        reporter.cancel()
        supervisor.report()
        supervisor.signal_all(signal.SIGTERM)
        code = max(code, await _wait_workers(supervisor))
    return code


async def _report_every(supervisor: _Supervisor) -> None:
    while True:
        await asyncio.sleep(_REPORT_INTERVAL)
        supervisor.report()


async def _wait_workers(supervisor: _Supervisor) -> int:
    """Wait for every worker (SIGKILL after STOP_TIMEOUT); 0 when all stopped cleanly."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STOP_TIMEOUT
    while supervisor.alive():
        supervisor.reap()
        remaining = deadline - loop.time()
        if remaining <= 0:
            for worker in supervisor.alive():
                _log.error("worker %d (pid %d) did not stop: killed", worker.index, worker.pid)
            supervisor.signal_all(signal.SIGKILL)
            deadline = loop.time() + 5.0
            continue
        supervisor.wakeup.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(supervisor.wakeup.wait(), min(remaining, 0.5))
    return 0 if all(w.exit_code == 0 for w in supervisor.workers) else 1


def _die_with_parent(parent: int) -> None:
    """Have the kernel send us SIGTERM if the parent dies (Linux), so no worker is orphaned."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os.kill(os.getpid(), signal.SIGTERM)


def _worker(
    settings: Settings,
    params: ParamStore,
    worker: _Worker,
    publics: list[tuple[HostPort, socket.socket]],
    others: list[_Worker],
    parent: int,
) -> int:
    """The body of a forked worker: its seat, then :func:`run_forever`."""
    _die_with_parent(parent)
    for other in others:
        for end in other.parent_ends:
            end.close()
        if other is not worker:
            for end in other.child_ends:
                end.close()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for handler in logging.getLogger().handlers:
        handler.setFormatter(
            logging.Formatter(
                f"%(asctime)s %(levelname)s [worker {worker.index}] %(name)s: %(message)s"
            )
        )
    seat = Seat(
        worker.index,
        len(others),
        tuple(
            (address, sock, end)
            for (address, sock), end in zip(publics, worker.child_ends, strict=True)
        ),
    )
    tell = worker.child_ends[0]

    def ready() -> None:
        with contextlib.suppress(OSError):
            tell.send(READY)

    return run_forever(settings, params=params, seat=seat, ready=ready)


def _fork(
    settings: Settings,
    params: ParamStore,
    worker: _Worker,
    publics: list[tuple[HostPort, socket.socket]],
    workers: list[_Worker],
) -> int:
    parent = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        code = _worker(settings, params, worker, publics, workers, parent)
    except BaseException:
        _log.exception("worker %d failed", worker.index)
    finally:
        logging.shutdown()
        os._exit(code)


def run_workers(settings: Settings) -> int:
    """Run the multi-process switch until SIGINT or SIGTERM; the exit code.

    Raises ``ParamError`` for a bad parameter file and ``OSError`` when a port is taken, before
    any worker starts.
    """
    count = settings.sip_workers
    params = load_params(settings)
    asyncio.run(prepare_database(settings, params))
    if not settings.sip_listen:
        raise OSError("SOFTSWITCH_SIP_WORKERS needs at least one SIP UDP listen address")
    publics: list[tuple[HostPort, socket.socket]] = []
    try:
        for local in settings.sip_listen:
            publics.append(_bind(local))
    except OSError:
        for _, sock in publics:
            sock.close()
        raise
    workers: list[_Worker] = []
    for index in range(count):
        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM) for _ in publics]
        for mine, theirs in pairs:
            mine.setblocking(False)
            _force_buffer(mine, socket.SO_SNDBUF, 32, RELAY_BUFFER)  # 32: SO_SNDBUFFORCE
            _force_buffer(theirs, socket.SO_RCVBUF, 33, RELAY_BUFFER)
        workers.append(_Worker(index, [p[0] for p in pairs], [p[1] for p in pairs]))
    if threading.active_count() > 1:
        _log.warning("forking workers while %d threads run", threading.active_count())
    for address, _ in publics:
        _log.info("distributing SIP over UDP on %s to %d workers", address, count)
    supervisor = _Supervisor(settings, publics, workers)
    try:
        for worker in workers:
            worker.pid = _fork(settings, params, worker, publics, workers)
            _log.info("worker %d started (pid %d)", worker.index, worker.pid)
        for worker in workers:
            for end in worker.child_ends:
                end.close()
        return asyncio.run(_supervise(supervisor))
    finally:
        supervisor.stopping = True
        supervisor.signal_all(signal.SIGTERM)
        for worker in workers:
            for end in worker.parent_ends:
                end.close()
        for _, sock in publics:
            sock.close()
