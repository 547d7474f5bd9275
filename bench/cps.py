"""Call-rate benchmark of the softswitch (issue 4 §8), run by hand, not a test.

    .venv/bin/python bench/cps.py [--rates 50,100,200,400,800,1600] [--step-seconds 10]
                                  [--hold-ms 1000] [--refine 2]
                                  [--concurrent 10000] [--concurrent-rate 400]
                                  [--concurrent-hold-ms 120000] [--hold-rounds 2]
                                  [--skip-steps] [--skip-concurrent] [--workdir DIR]

A SIPp UAC (``scenarios/uac.xml``: the built-in ``uac`` with responses matched to their
transaction; it sends from 127.0.0.2) calls through ``softswitch run`` (a subprocess on
127.0.0.1, CDRs on, SQLite in a temporary data directory) to a SIPp UAS (built-in ``uas``,
answering on 127.0.0.3, unexpected messages not fatal: see :func:`uas`). The switch is
configured through its HTTP API as an operator would: one postpaid account, a mapping gateway
recognised by the UAC's source address, one routing gateway pointing at the UAS.

1. Steps. For each rate in ``--rates`` (ascending) the UAC offers ``rate x --step-seconds`` calls
   at that rate, each held ``--hold-ms``, open loop (SIPp's cap on simultaneous calls lifted, so
   slow answers do not slow the offered rate down). A step passes when fewer than 0.1 % of its
   calls failed (SIPp's ``FailedCall(C)``) and every call completed. Stepping stops at the first
   failing step; then ``--refine`` bisection steps between the last pass and the first failure
   narrow the figure. After each step the script waits (bounded) for the switch to drain (no
   live call, all CDRs in the database) and counts the step's CDRs by termination reason.
   Per step: the rate SIPp really offered, failed calls, INVITE->200 response time (SIPp's
   ``-trace_rtt``, millisecond ticks: median, p95, p99), SIPp's retransmissions (answers later
   than 500 ms, or lost), the switch's CPU while the load was offered (utime+stime from /proc,
   as % of one core) and per call, both SIPp processes' CPU, what the rest of the machine used,
   the switch's peak RSS, and its SIP socket's peak receive queue and drops (/proc/net/udp).
2. Long hold. A fresh switch; ``--concurrent`` calls held ``--concurrent-hold-ms``, started at
   ``--concurrent-rate`` (capped at the best passing step) with ``-l`` capping the concurrency,
   ``--hold-rounds`` times on the same switch. Its RSS is read as the live calls pass each
   quarter and once ``/api/v1/monitor`` (or SIPp's ``CurrentCall`` without it) shows them all
   up, then after they ended; the second round tells a leak from memory kept for reuse.

A step that fails restarts the switch before the next one, so an overloaded process (backlog,
grown heap) does not colour the next figure. Prints markdown tables; the figures in
docs/performance.md come from a real run. Every process it starts is stopped by its PID.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import os
import platform
import re
import resource
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
SOFTSWITCH = REPO / ".venv" / "bin" / "softswitch"
SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"

SWITCH_IP = "127.0.0.1"
UAC_IP = "127.0.0.2"
UAS_IP = "127.0.0.3"
CALLEE = "4412345"
PASSWORD = "bench-cps-admin-password"

FAILED_LIMIT = 0.001
"""A step passes with fewer than 0.1 % failed calls."""
RECV_TIMEOUT_MS = 10_000
"""SIPp's per-message receive timeout: a call without its 200 (or the 200 to its BYE) within
10 s counts as failed instead of waiting for SIPp's own retransmission limits."""
CLK_TCK = os.sysconf("SC_CLK_TCK")
SNAPSHOT_SETTLE_S = 1.5
"""The switch's routing snapshot follows the change feed: wait this long after configuring."""


# -- processes and /proc ----------------------------------------------------------------------


def free_port(ip: str) -> int:
    """A port free for both UDP and TCP on ``ip`` (the switch listens on both)."""
    for _ in range(100):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((ip, 0))
            port = int(udp.getsockname()[1])
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((ip, port))
                except OSError:
                    continue
                return port
    raise RuntimeError(f"no free port on {ip}")


def udp_bound(ip: str, port: int) -> bool:
    """Whether a UDP socket is bound to ``ip:port`` (read from /proc: no race with a bind)."""
    want = udp_key(ip, port)
    with open("/proc/net/udp", encoding="ascii") as lines:
        return any(line.split()[1] == want for line in list(lines)[1:])


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads), in seconds; 0 once it is gone."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
    except OSError:
        return 0.0
    fields = text.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


def rss_bytes(pid: int) -> int:
    """Resident set size (VmRSS) of a process; 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def udp_key(ip: str, port: int) -> str:
    """How /proc/net/udp writes a local address."""
    return f"{socket.inet_aton(ip)[::-1].hex().upper()}:{port:04X}"


def udp_socket(key: str) -> tuple[int, int]:
    """(bytes waiting in the receive queue, datagrams dropped so far) of one UDP socket: the
    kernel drops a datagram when the queue is full because its reader fell behind."""
    with open("/proc/net/udp", encoding="ascii") as lines:
        for line in list(lines)[1:]:
            fields = line.split()
            if fields[1] == key:
                return int(fields[4].split(":")[1], 16), int(fields[-1])
    return 0, 0


def machine_busy_s() -> float:
    """CPU seconds the whole machine spent busy (all cores; /proc/stat, idle and iowait out)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:9]]
    return (sum(fields) - fields[3] - fields[4]) / CLK_TCK


def children_cpu() -> float:
    """CPU seconds of every child this process has reaped (SIPp runs), user + system."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def own_cpu() -> float:
    """CPU seconds of this script (its /proc sampling), user + system."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def stop_pid(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> int | None:
    """Stop one process we started, by its PID: SIGTERM, then SIGKILL after ``grace_s``."""
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            process.wait(grace_s)
    return process.returncode


class Sampler:
    """Polls, in a thread while a step runs, one PID's RSS and its UDP socket's receive queue,
    keeping the peaks."""

    def __init__(self, pid: int, udp: str, interval_s: float = 0.1) -> None:
        self.pid = pid
        self.udp = udp
        self.interval_s = interval_s
        self.peak = rss_bytes(pid)
        self.queue_peak = 0
        self.cpu: list[tuple[float, float]] = [(time.monotonic(), cpu_seconds(pid))]
        """(monotonic time, CPU seconds of the PID) samples."""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.sample_memory()
            self.queue_peak = max(self.queue_peak, udp_socket(self.udp)[0])
            self.cpu.append((time.monotonic(), self.cpu_seconds()))

    def sample_memory(self) -> None:
        """Keep the peak of the sampled memory (a subclass samples more than one PID)."""
        self.peak = max(self.peak, rss_bytes(self.pid))

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.pid)

    def cpu_share(self, start: float, end: float) -> float:
        """The PID's CPU use between two moments, as a fraction of one core."""
        inside = [sample for sample in self.cpu if start <= sample[0] <= end]
        if len(inside) < 2 or inside[-1][0] <= inside[0][0]:
            return 0.0
        return (inside[-1][1] - inside[0][1]) / (inside[-1][0] - inside[0][0])

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample_memory()


# -- the switch --------------------------------------------------------------------------------


def switch_env(workdir: Path, sip_port: int, http_port: int) -> dict[str, str]:
    """The environment of a benchmarked ``softswitch run``: this machine's, without any
    SOFTSWITCH_* of the shell, plus the data directory, ports, admin password and quiet log."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOFTSWITCH_")}
    env.update(
        {
            "SOFTSWITCH_DATA_DIR": str(workdir / "data"),
            "SOFTSWITCH_ADMIN_PASSWORD": PASSWORD,
            "SOFTSWITCH_SIP_LISTEN": f"{SWITCH_IP}:{sip_port}",
            "SOFTSWITCH_SIP_TLS_LISTEN": "",
            "SOFTSWITCH_HTTP_LISTEN": f"{SWITCH_IP}:{http_port}",
            "SOFTSWITCH_LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


@dataclass
class Switch:
    """One ``softswitch run`` subprocess, configured for the benchmark through its API."""

    workdir: Path
    uas_port: int
    sip_port: int = 0
    http_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    client: httpx.Client | None = None
    has_monitor: bool = True
    billing: str = "off"
    """``off``: a postpaid account with ample credit and no rate table (CDRs only);
    ``prepaid``: a prepaid account with a rate table, a carrier rate table and a balance, so
    every call is rated, reserves credit in the database and is settled into the ledger."""
    prefix: list[str] = field(default_factory=list)
    workers: int = 1
    """SOFTSWITCH_SIP_WORKERS: processes behind the one SIP address (experimental)."""
    """Words before the command, e.g. ``["taskset", "-c", "0"]`` (it execs: the PID is the
    switch's)."""

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    @property
    def udp(self) -> str:
        """The SIP UDP socket in /proc/net/udp."""
        return udp_key(SWITCH_IP, self.sip_port)

    @property
    def log_path(self) -> Path:
        return self.workdir / "softswitch.log"

    @property
    def database(self) -> Path:
        return self.workdir / "data" / "softswitch.db"

    def start(self) -> Switch:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sip_port, self.http_port = free_port(SWITCH_IP), free_port(SWITCH_IP)
        env = switch_env(self.workdir, self.sip_port, self.http_port)
        if self.workers > 1:
            env["SOFTSWITCH_SIP_WORKERS"] = str(self.workers)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*self.prefix, str(SOFTSWITCH), "run"],
                cwd=self.workdir,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        self.client = httpx.Client(base_url=f"http://{SWITCH_IP}:{self.http_port}/api/v1")
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"softswitch exited {self.process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"softswitch did not start in 60 s:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if self.client.get("/health", timeout=1).status_code == 200 and udp_bound(
                    SWITCH_IP, self.sip_port
                ):
                    break
            time.sleep(0.1)
        self._configure()
        return self

    def _configure(self) -> None:
        assert self.client is not None
        login = self.client.post("/auth/login", json={"username": "admin", "password": PASSWORD})
        login.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        if self.billing == "prepaid":
            customer = self._create("/rate-tables", name="bench-customer", currency="USD")
            carrier = self._create("/rate-tables", name="bench-carrier", currency="USD")
            for table, price in ((customer, "0.0200"), (carrier, "0.0100")):
                self._create(
                    f"/rate-tables/{table['id']}/rates",
                    prefix="44",
                    rate_per_minute=price,
                    initial_increment=6,
                    subsequent_increment=6,
                )
            account = self._create(
                "/accounts",
                code="BENCH",
                currency="USD",
                billing_mode="prepaid",
                rate_table_id=customer["id"],
            )
            self._create(f"/accounts/{account['id']}/payments", amount="100000000")
        else:
            account = self._create(
                "/accounts",
                code="BENCH",
                currency="USD",
                billing_mode="postpaid",
                credit_limit="1000000000",  # not a billing benchmark: never short of credit
            )
        self._create(
            "/mapping-gateways",
            name="bench-in",
            account_id=account["id"],
            source_ips=[f"{UAC_IP}/32"],
        )
        self._create(
            "/routing-gateways",
            name="bench-out",
            host=UAS_IP,
            port=self.uas_port,
            prefixes=[],
            **({"rate_table_id": carrier["id"]} if self.billing == "prepaid" else {}),
        )
        time.sleep(SNAPSHOT_SETTLE_S)
        self.has_monitor = self.monitor() is not None

    def _create(self, path: str, **body: Any) -> dict[str, Any]:
        assert self.client is not None
        answer = self.client.post(path, json=body)
        if answer.status_code != 201:
            raise RuntimeError(f"POST {path}: {answer.status_code} {answer.text}")
        created: dict[str, Any] = answer.json()
        return created

    def monitor(self) -> dict[str, Any] | None:
        """``GET /api/v1/monitor``, or None when the switch has none (or does not answer)."""
        if self.client is None or not self.has_monitor:
            return None
        try:
            answer = self.client.get("/monitor", timeout=5)
        except httpx.HTTPError:
            return None
        if answer.status_code != 200:
            return None
        found: dict[str, Any] = answer.json()
        return found

    def cdr_count(self) -> int:
        """CDRs in the database (read-only; the switch writes them in batches)."""
        if not self.database.exists():
            return 0
        with contextlib.closing(
            sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)
        ) as db:
            return int(db.execute("SELECT count(*) FROM cdrs").fetchone()[0])

    def cdr_reasons(self, sipp_pid: int) -> dict[str, int]:
        """CDRs of one SIPp run (its Call-IDs are ``<n>-<pid>@<ip>``) by termination reason."""
        with contextlib.closing(
            sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=10)
        ) as db:
            rows = db.execute(
                "SELECT termination_reason, count(*) FROM cdrs WHERE call_id LIKE ? GROUP BY 1",
                (f"%-{sipp_pid}@%",),
            ).fetchall()
        return {str(reason): int(count) for reason, count in rows}

    def drain(self, expected_cdrs: int, timeout_s: float = 30.0) -> tuple[int, int]:
        """Wait (bounded) until no call is live and ``expected_cdrs`` are in the database (or
        the count stops growing); (live calls, CDRs) at the end."""
        deadline = time.monotonic() + timeout_s
        last, still = -1, 0
        live = 0
        while True:
            figures = self.monitor()
            live = int(figures["concurrent_calls"]) if figures else 0
            count = self.cdr_count()
            if live == 0 and count >= expected_cdrs:
                return live, count
            still = still + 1 if count == last else 0
            last = count
            if time.monotonic() > deadline or (live == 0 and still >= 10):
                return live, count
            time.sleep(0.5)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def log_problems(self, offset: int) -> list[str]:
        """Lines of the log past ``offset`` that say WARNING, ERROR, CRITICAL or Traceback."""
        text = self.log()[offset:]
        pattern = re.compile(r"WARNING|ERROR|CRITICAL|Traceback|Exception")
        return [line for line in text.splitlines() if pattern.search(line)]

    def log_size(self) -> int:
        return len(self.log())

    def stop(self) -> int | None:
        if self.client is not None:
            self.client.close()
            self.client = None
        return stop_pid(self.process, 30) if self.process is not None else None


# -- SIPp --------------------------------------------------------------------------------------


@dataclass
class Sipp:
    """One SIPp process with its stat file (one row a second) and, for the UAC, its RTT file."""

    name: str
    workdir: Path
    args: list[str]
    process: subprocess.Popen[bytes] | None = None
    prefix: list[str] = field(default_factory=list)
    """Words before ``sipp``, e.g. ``["taskset", "-c", "1"]`` (it execs: the PID is SIPp's)."""

    @property
    def dir(self) -> Path:
        return self.workdir / self.name

    def start(self) -> Sipp:
        self.dir.mkdir(parents=True, exist_ok=True)
        command = [*self.prefix, SIPP, *self.args, "-nostdin", "-trace_stat", "-stf", "stats.csv"]
        command += ["-fd", "1"]
        command += ["-trace_err", "-error_file", "errors.log"]
        (self.dir / "command").write_text(" ".join(command) + "\n")
        with (self.dir / "stdout.log").open("wb") as out:
            self.process = subprocess.Popen(
                command, cwd=self.dir, stdout=out, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )  # fmt: skip
        return self

    def wait_bound(self, ip: str, port: int) -> None:
        deadline = time.monotonic() + 5
        while not udp_bound(ip, port):
            assert self.process is not None
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"{self.name}: SIPp did not start: {self.stdout()}")
            time.sleep(0.02)

    def stats(self) -> list[dict[str, str]]:
        path = self.dir / "stats.csv"
        if not path.exists():
            return []
        return list(csv.DictReader(path.read_text(errors="replace").splitlines(), delimiter=";"))

    def last(self) -> dict[str, str]:
        rows = self.stats()
        return rows[-1] if rows else {}

    def rtts_ms(self) -> list[float]:
        """Every INVITE->200 response time SIPp traced (``-trace_rtt``), in ms."""
        found: list[float] = []
        for path in self.dir.glob("*_rtt.csv"):
            for row in csv.reader(path.read_text(errors="replace").splitlines(), delimiter=";"):
                with contextlib.suppress(ValueError, IndexError):
                    found.append(float(row[1]))
        return found

    def errors(self, limit: int = 5) -> list[str]:
        path = self.dir / "errors.log"
        if not path.exists():
            return []
        return [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()][:limit]

    def stdout(self) -> str:
        path = self.dir / "stdout.log"
        return path.read_text(errors="replace")[-2000:] if path.exists() else ""

    def wait(self, timeout_s: float) -> int | None:
        """Its exit code once it ends by itself; stopped (by PID) after ``timeout_s``."""
        assert self.process is not None
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.stop()
            return self.process.returncode

    def stop(self) -> None:
        if self.process is not None:
            stop_pid(self.process, 10)


def uas(
    workdir: Path,
    name: str,
    port: int,
    timeout_s: int,
    *,
    scenario: Path | None = None,
    prefix: list[str] | None = None,
) -> Sipp:
    """The carrier: SIPp's built-in ``uas`` (180, 200, then waits for the BYE), or the
    ``scenario`` file given instead; ``prefix`` as in :class:`Sipp`.

    Unexpected messages do not abort its calls (``-abortunexp``): SIPp 3.6 takes a
    retransmitted INVITE (the switch lost the 180/200 in a full receive buffer and, as RFC 3261
    §17.1.1.2 asks, retransmits) or a duplicate ACK as unexpected and by default aborts the
    call, so the 200 is never retransmitted and the call hangs until the caller gives up: a
    failure of the benchmark's carrier, not of the switch. With the call kept, the 200's own
    retransmissions reach the switch and the BYE is answered."""
    args = ["-sf", str(scenario)] if scenario is not None else ["-sn", "uas"]
    args += ["-i", UAS_IP, "-p", str(port), "-timeout", f"{timeout_s}s"]
    args += ["-default_behaviors", "all,-abortunexp"]
    sipp = Sipp(name, workdir, args, prefix=list(prefix or [])).start()
    sipp.wait_bound(UAS_IP, port)
    return sipp


def uac(
    workdir: Path,
    name: str,
    switch: Switch | str,
    *,
    rate: float,
    calls: int,
    hold_ms: int,
    timeout_s: int,
    limit: int | None = None,
    prefix: list[str] | None = None,
) -> Sipp:
    """The customer: SIPp's built-in ``uac`` (INVITE, ACK, hold, BYE) through the switch (or
    any ``host:port``), with responses matched to their transaction (``scenarios/uac.xml``: the
    built-in one takes any 200 for the answer to its BYE, a late 200 to the INVITE included);
    ``prefix`` as in :class:`Sipp`."""
    port = str(free_port(UAC_IP))
    target = switch if isinstance(switch, str) else f"{SWITCH_IP}:{switch.sip_port}"
    args = [target, "-sf", str(SCENARIOS / "uac.xml")]
    args += ["-i", UAC_IP, "-p", port]
    args += ["-s", CALLEE, "-r", f"{rate:g}", "-m", str(calls), "-d", str(hold_ms)]
    args += ["-recv_timeout", str(RECV_TIMEOUT_MS), "-timeout", f"{timeout_s}s", "-timeout_error"]
    args += ["-trace_rtt", "-rtt_freq", "1"]
    if limit is not None:
        args += ["-l", str(limit)]
    return Sipp(name, workdir, args, prefix=list(prefix or [])).start()


def _int(row: dict[str, str], name: str) -> int:
    try:
        return int(row.get(name, "0") or 0)
    except ValueError:
        return 0


def _epoch(text: str) -> float:
    """The epoch seconds at the end of a SIPp stat-file time (``date<TAB>time<TAB>epoch``)."""
    try:
        return float(text.split()[-1])
    except (ValueError, IndexError):
        return 0.0


def offered_rate(rows: list[dict[str, str]], calls: int) -> float:
    """The rate SIPp really offered: ``calls`` over the time it took to create them all, the
    moment it reached ``calls`` interpolated between two one-second stat rows."""
    if not rows:
        return 0.0
    start = _epoch(rows[0]["StartTime"])
    before_t, before_n = start, 0
    for row in rows:
        now, created = _epoch(row["CurrentTime"]), _int(row, "TotalCallCreated")
        if created >= calls:
            if created == before_n:
                return 0.0
            reached = before_t + (calls - before_n) / (created - before_n) * (now - before_t)
            return calls / (reached - start) if reached > start else 0.0
        before_t, before_n = now, created
    return 0.0


# -- the steps ---------------------------------------------------------------------------------


@dataclass
class Step:
    rate: float
    calls: int
    created: int = 0
    successful: int = 0
    failed: int = 0
    offered_cps: float = 0.0
    retransmissions: int = 0
    rtt_ms: list[float] = field(default_factory=list)
    wall_s: float = 0.0
    switch_cpu_s: float = 0.0
    sipp_cpu_s: float = 0.0
    rss_peak: int = 0
    udp_drops: int = 0
    udp_queue_peak: int = 0
    switch_cpu_offering: float = 0.0
    other_cpu_s: float = 0.0
    live_after: int = 0
    cdrs: int = 0
    exit_code: int | None = None
    log_problems: list[str] = field(default_factory=list)
    sipp_errors: list[str] = field(default_factory=list)
    cdr_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def failed_ratio(self) -> float:
        return self.failed / self.calls if self.calls else 1.0

    @property
    def passed(self) -> bool:
        return self.successful + self.failed >= self.calls and self.failed_ratio < FAILED_LIMIT

    def percentile(self, q: float) -> float:
        if not self.rtt_ms:
            return float("nan")
        ordered = sorted(self.rtt_ms)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def read_results(step: Step, customer: Sipp, sampler: Sampler, started: float) -> None:
    """Fill ``step`` from the customer SIPp's last stat row and its RTT trace: calls created,
    successful, failed, retransmissions, the rate it really offered, the SUT's CPU while it
    did, the INVITE->200 times and SIPp's first errors."""
    rows = customer.stats()
    final = rows[-1] if rows else {}
    step.created = _int(final, "TotalCallCreated")
    step.successful = _int(final, "SuccessfulCall(C)")
    step.failed = _int(final, "FailedCall(C)")
    step.retransmissions = _int(final, "Retransmissions(C)")
    step.offered_cps = offered_rate(rows, step.calls)
    if step.offered_cps:
        offering_s = step.calls / step.offered_cps
        step.switch_cpu_offering = sampler.cpu_share(started, started + offering_s)
    step.rtt_ms = customer.rtts_ms()
    step.sipp_errors = customer.errors()


def run_step(
    switch: Switch, workdir: Path, uas_port: int, rate: float, seconds: float, hold_ms: int
) -> Step:
    """Offer ``rate x seconds`` calls at ``rate`` and measure; the switch is left drained."""
    calls = max(1, round(rate * seconds))
    step = Step(rate=rate, calls=calls)
    budget = int(seconds + hold_ms / 1000 + 2 * RECV_TIMEOUT_MS / 1000 + 30)
    name = f"step-{rate:g}"
    cdrs_before = switch.cdr_count()
    log_offset = switch.log_size()
    carrier = uas(workdir, f"{name}-uas", uas_port, budget + 30)
    customer: Sipp | None = None
    try:
        drops_before = udp_socket(switch.udp)[1]
        cpu_before, sipp_before = cpu_seconds(switch.pid), children_cpu()
        busy_before, own_before = machine_busy_s(), own_cpu()
        started = time.monotonic()
        with Sampler(switch.pid, switch.udp) as sampler:
            customer = uac(
                workdir,
                name,
                switch,
                rate=rate,
                calls=calls,
                hold_ms=hold_ms,
                timeout_s=budget,
                limit=calls,  # open loop: SIPp's default cap (3 x rate x hold) throttles it
            )
            step.exit_code = customer.wait(budget + 15)
            step.wall_s = time.monotonic() - started
            step.switch_cpu_s = cpu_seconds(switch.pid) - cpu_before
        step.rss_peak, step.udp_queue_peak = sampler.peak, sampler.queue_peak
        step.udp_drops = udp_socket(switch.udp)[1] - drops_before
        carrier.stop()
        step.sipp_cpu_s = children_cpu() - sipp_before
        busy = machine_busy_s() - busy_before
        ours = step.switch_cpu_s + step.sipp_cpu_s + own_cpu() - own_before
        step.other_cpu_s = max(0.0, busy - ours)
    finally:
        if customer is not None:
            customer.stop()
        carrier.stop()
    read_results(step, customer, sampler, started)
    step.live_after, count = switch.drain(cdrs_before + calls)
    step.cdrs = count - cdrs_before
    step.log_problems = switch.log_problems(log_offset)
    assert customer.process is not None
    step.cdr_reasons = switch.cdr_reasons(customer.process.pid)
    return step


def mb(value: int) -> str:
    return f"{value / 1e6:,.0f} MB"


def cdrs(step: Step) -> str:
    """The step's CDR count, with the reasons other than a normal caller hang-up."""
    other = ", ".join(
        f"{count:,} {reason}"
        for reason, count in sorted(step.cdr_reasons.items())
        if reason != "CallerHangup"
    )
    return f"{step.cdrs:,}" + (f" ({other})" if other else "")


def sipp_share(step: Step) -> float:
    """Both SIPp processes' CPU during the step, as % of one core."""
    return 100 * step.sipp_cpu_s / step.wall_s if step.wall_s else 0.0


def step_cells(s: Step) -> str:
    """The first cells of a step's row, shared by the benches' tables: target and offered
    rate, calls, failures, INVITE->200 percentiles, retransmissions, CPU while offered."""
    rtt = f"{s.percentile(0.5):.0f} / {s.percentile(0.95):.0f} / {s.percentile(0.99):.0f}"
    failed = f"{s.failed:,} ({100 * s.failed_ratio:.2f} %)"
    if s.successful + s.failed < s.calls:
        failed += f", {s.calls - s.successful - s.failed:,} unfinished"
    return (
        f"| {s.rate:g} | {s.offered_cps:,.0f} | {s.calls:,} | {failed} | {rtt} "
        f"| {s.retransmissions:,} | {100 * s.switch_cpu_offering:.0f} %"
    )


def step_table(steps: list[Step]) -> str:
    head = (
        "| target cps | offered cps | calls | failed | INVITE→200 p50 / p95 / p99 ms "
        "| SIPp retrans. | switch CPU while offered | switch CPU per call "
        "| SIPp CPU (UAC+UAS) | other CPU | switch RSS peak | switch UDP queue peak / drops "
        "| CDRs | result |\n"
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
    )
    lines = [head]
    for s in steps:
        other = 100 * s.other_cpu_s / s.wall_s if s.wall_s else 0.0
        per_call = 1000 * s.switch_cpu_s / s.calls
        lines.append(
            f"{step_cells(s)} | {per_call:.1f} ms | {sipp_share(s):.0f} % "
            f"| {other:.0f} % "
            f"| {mb(s.rss_peak)} "
            f"| {s.udp_queue_peak / 1024:,.0f} KiB / {s.udp_drops:,} | {cdrs(s)} "
            f"| {'pass' if s.passed else 'FAIL'} |"
        )
    return "\n".join(lines)


def describe(step: Step) -> None:
    """Details of one step on stderr: what failed and what the switch logged."""
    print(
        f"  step {step.rate:g} cps: {step.successful}/{step.calls} ok, {step.failed} failed, "
        f"{step.created} created, exit {step.exit_code}, {step.cdrs} CDRs, "
        f"{step.live_after} calls still live after drain, wall {step.wall_s:.1f} s",
        file=sys.stderr,
    )
    for line in step.sipp_errors:
        print(f"    sipp: {line}", file=sys.stderr)
    print(f"    CDRs by termination reason: {step.cdr_reasons}", file=sys.stderr)
    if step.log_problems:
        print(f"    switch log: {len(step.log_problems)} problem lines, first:", file=sys.stderr)
        for line in step.log_problems[:8]:
            print(f"      {line}", file=sys.stderr)


@contextlib.contextmanager
def running_switch(workdir: Path, uas_port: int, billing: str = "off") -> Iterator[Switch]:
    switch = Switch(workdir, uas_port, billing=billing)
    try:
        yield switch.start()
    finally:
        code = switch.stop()
        print(f"  switch in {workdir.name} stopped (exit {code})", file=sys.stderr)


def run_steps(
    args: argparse.Namespace, workdir: Path, uas_port: int, billing: str = "off"
) -> list[Step]:
    """Ascending steps to the first failure, then bisection; a fresh switch after a failure."""
    steps: list[Step] = []
    generation = 0
    rates = sorted(args.rates)
    lo: float | None = None
    hi: float | None = None
    pending = list(rates)
    refinements = 0
    while pending:
        generation += 1
        with running_switch(
            workdir / f"switch-{billing}-{generation}", uas_port, billing
        ) as switch:
            print(f"switch pid {switch.pid} (monitor: {switch.has_monitor})", file=sys.stderr)
            while pending:
                rate = pending.pop(0)
                print(f"step {rate:g} cps ...", file=sys.stderr)
                step = run_step(switch, workdir, uas_port, rate, args.step_seconds, args.hold_ms)
                steps.append(step)
                describe(step)
                if step.passed:
                    lo = rate
                else:
                    hi = rate
                    pending = []
                if hi is not None and refinements < args.refine and lo is not None:
                    middle = round((lo + hi) / 2 / 10) * 10
                    if lo < middle < hi:
                        refinements += 1
                        pending = [middle]
                if not step.passed:
                    break  # a fresh switch for what follows
    return steps


# -- the long hold -----------------------------------------------------------------------------


@dataclass
class Hold:
    target: int
    rate: float
    hold_ms: int
    rss_idle: int = 0
    rss_at: dict[int, int] = field(default_factory=dict)
    rss_full: int = 0
    reached: int = 0
    reached_after_s: float = 0.0
    cpu_plateau_pct: float = 0.0
    rss_after: int = 0
    successful: int = 0
    failed: int = 0
    cdrs: int = 0
    cdr_reasons: dict[str, int] = field(default_factory=dict)
    live_after: int = 0
    source: str = ""
    log_problems: list[str] = field(default_factory=list)
    sipp_errors: list[str] = field(default_factory=list)


def live_calls(switch: Switch, customer: Sipp) -> tuple[int, str]:
    figures = switch.monitor()
    if figures is not None:
        return int(figures["concurrent_calls"]), "/api/v1/monitor"
    return _int(customer.last(), "CurrentCall"), "SIPp CurrentCall"


def hold_round(
    switch: Switch, workdir: Path, uas_port: int, hold: Hold, number: int, cdrs_before: int
) -> None:
    """One round: ``hold.target`` calls up, held, ended; RSS along the way (fills ``hold``)."""
    ramp_s = hold.target / hold.rate
    budget = int(ramp_s + hold.hold_ms / 1000 + 2 * RECV_TIMEOUT_MS / 1000 + 60)
    log_offset = switch.log_size()
    hold.rss_idle = rss_bytes(switch.pid)
    carrier = uas(workdir, f"hold-{number}-uas", uas_port, budget + 30)
    customer: Sipp | None = None
    try:
        customer = uac(
            workdir, f"hold-{number}", switch, rate=hold.rate, calls=hold.target,
            hold_ms=hold.hold_ms, timeout_s=budget, limit=hold.target,
        )  # fmt: skip
        started = time.monotonic()
        marks = [hold.target * q // 4 for q in (1, 2, 3)]
        full = int(hold.target * 0.995)
        deadline = started + ramp_s * 2 + 60
        assert customer.process is not None
        while time.monotonic() < deadline and customer.process.poll() is None:
            live, hold.source = live_calls(switch, customer)
            for mark in marks:
                if live >= mark and mark not in hold.rss_at:
                    hold.rss_at[mark] = rss_bytes(switch.pid)
            if live > hold.reached:
                hold.reached, hold.reached_after_s = live, time.monotonic() - started
                hold.rss_full = rss_bytes(switch.pid)
            if live >= full:
                break
            time.sleep(0.5)
        print(f"  {hold.reached} live calls after {hold.reached_after_s:.0f} s", file=sys.stderr)
        if hold.reached >= full:
            # The plateau: every call up and idle. Its RSS, and what idle calls cost in CPU.
            time.sleep(3)
            cpu_before, t0 = cpu_seconds(switch.pid), time.monotonic()
            time.sleep(10)
            hold.cpu_plateau_pct = (
                100 * (cpu_seconds(switch.pid) - cpu_before) / (time.monotonic() - t0)
            )
            live = live_calls(switch, customer)[0]
            if live >= hold.reached:
                hold.reached, hold.rss_full = live, rss_bytes(switch.pid)
        print(f"  RSS {mb(hold.rss_full)} with {hold.reached} calls", file=sys.stderr)
        try:
            customer.process.wait(budget + 15)
        except subprocess.TimeoutExpired:
            customer.stop()
    finally:
        if customer is not None:
            customer.stop()
        carrier.stop()
    final = customer.last()
    hold.successful = _int(final, "SuccessfulCall(C)")
    hold.failed = _int(final, "FailedCall(C)")
    hold.sipp_errors = customer.errors()
    hold.live_after, count = switch.drain(cdrs_before + hold.target, timeout_s=60)
    hold.cdrs = count - cdrs_before
    assert customer.process is not None
    hold.cdr_reasons = switch.cdr_reasons(customer.process.pid)
    time.sleep(2)
    hold.rss_after = rss_bytes(switch.pid)
    hold.log_problems = switch.log_problems(log_offset)


def run_hold(args: argparse.Namespace, workdir: Path, uas_port: int, rate: float) -> list[Hold]:
    """``--hold-rounds`` rounds of the long hold on one fresh switch. A second round tells a
    leak (RSS grows again by as much) from memory the allocator keeps for reuse (flat)."""
    rounds: list[Hold] = []
    billing = "prepaid" if args.billing == "both" else args.billing
    with running_switch(workdir / "switch-hold", uas_port, billing) as switch:
        time.sleep(2)
        for number in range(1, args.hold_rounds + 1):
            hold = Hold(target=args.concurrent, rate=rate, hold_ms=args.concurrent_hold_ms)
            print(f"  round {number}", file=sys.stderr)
            hold_round(switch, workdir, uas_port, hold, number, switch.cdr_count())
            rounds.append(hold)
    return rounds


def hold_table(rounds: list[Hold]) -> str:
    first = rounds[0]
    head = "| live calls | " + " | ".join(
        f"switch RSS, round {n}" for n in range(1, len(rounds) + 1)
    )
    rows = [head + " |", "|---:|" + "---:|" * len(rounds)]

    def row(label: str, values: list[int]) -> str:
        return f"| {label} | " + " | ".join(mb(v) if v else "–" for v in values) + " |"

    rows.append(row("0 (before the round)", [h.rss_idle for h in rounds]))
    for mark in sorted(first.rss_at):
        rows.append(row(f"{mark:,}", [h.rss_at.get(mark, 0) for h in rounds]))
    rows.append(row(f"{first.target:,} (all up)", [h.rss_full for h in rounds]))
    rows.append(row("0 (all ended)", [h.rss_after for h in rounds]))
    notes = []
    for number, hold in enumerate(rounds, start=1):
        per_call = (hold.rss_full - hold.rss_idle) / hold.reached if hold.reached else 0.0
        notes.append(
            f"Round {number}: {hold.reached:,} live calls reached after "
            f"{hold.reached_after_s:.0f} s at {hold.rate:g} cps (counted by {hold.source}); "
            f"≈{per_call / 1024:.1f} KiB per live call; switch CPU with them all up and idle "
            f"{hold.cpu_plateau_pct:.0f} % of one core; {hold.successful:,} successful and "
            f"{hold.failed:,} failed calls; {hold.cdrs:,} CDRs {hold.cdr_reasons}; "
            f"{hold.live_after} calls still "
            f"live in the switch afterwards."
        )
    return "\n".join(rows) + "\n\n" + "\n".join(notes)


# -- main --------------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    sipp = subprocess.run([SIPP, "-v"], capture_output=True, text=True, check=False).stdout
    version = next((ln.strip() for ln in sipp.splitlines() if "SIPp" in ln), "SIPp ?")
    load = os.getloadavg()
    return (
        f"nproc {os.cpu_count()}, {model}, Python {platform.python_version()}, {version}, "
        f"load average before the run {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}, "
        f"ulimit -n {resource.getrlimit(resource.RLIMIT_NOFILE)[0]}"
    )


def work_directory(stack: contextlib.ExitStack, given: Path | None, prefix: str) -> Path:
    """``given`` (kept), else a temporary directory removed when ``stack`` closes."""
    if given is not None:
        workdir = given.resolve()
        workdir.mkdir(parents=True, exist_ok=True)
    else:
        workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=prefix)))
    print(f"work directory: {workdir}", file=sys.stderr)
    return workdir


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rates",
        type=lambda text: [float(item) for item in text.split(",") if item.strip()],
        default=[50, 100, 200, 400, 800, 1600],
        help="call rates of the steps, comma separated",
    )
    parser.add_argument("--step-seconds", type=float, default=10.0, help="offered load per step")
    parser.add_argument("--hold-ms", type=int, default=1000, help="how long each call is held")
    parser.add_argument("--refine", type=int, default=2, help="bisection steps after a failure")
    parser.add_argument("--concurrent", type=int, default=10_000, help="calls of the long hold")
    parser.add_argument("--concurrent-rate", type=float, default=400.0)
    parser.add_argument("--concurrent-hold-ms", type=int, default=120_000)
    parser.add_argument("--hold-rounds", type=int, default=2, help="long-hold rounds, one switch")
    parser.add_argument("--skip-steps", action="store_true")
    parser.add_argument("--skip-concurrent", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep the logs here (default: a temp dir)")
    parser.add_argument(
        "--billing",
        choices=("off", "prepaid", "both"),
        default="off",
        help="off: postpaid, unrated (CDRs only); prepaid: rating, reservation, ledger, CDR; "
        "both: the steps with each, in this run, and the ratio",
    )
    args = parser.parse_args()

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # children inherit it; never above what the hard limit allows
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"machine: {machine()}")

    with contextlib.ExitStack() as stack:
        workdir = work_directory(stack, args.workdir, "bench-cps-")
        uas_port = free_port(UAS_IP)
        steps: list[Step] = []
        modes = ("off", "prepaid") if args.billing == "both" else (args.billing,)
        best_by_mode: dict[str, float] = {}
        for mode in modes if not args.skip_steps else ():
            mode_steps = run_steps(args, workdir, uas_port, mode)
            mode_steps.sort(key=lambda s: s.rate)
            print(
                f"\n### Steps, billing {mode} ({args.step_seconds:g} s of offered load, "
                f"hold {args.hold_ms} ms)\n"
            )
            print(step_table(mode_steps))
            best = max((s for s in mode_steps if s.passed), key=lambda s: s.rate, default=None)
            if best is not None:
                best_by_mode[mode] = best.rate
                cpu = 100 * best.switch_cpu_offering
                print(
                    f"\nHighest passing step: {best.rate:g} cps (offered {best.offered_cps:,.0f}), "
                    f"{best.failed} failed of {best.calls:,}; switch CPU {cpu:.0f} % of one core "
                    f"while offered, RSS peak {mb(best.rss_peak)}."
                )
            else:
                print("\nNo step passed.")
            steps = mode_steps
        if len(best_by_mode) == 2:
            ratio = best_by_mode["prepaid"] / best_by_mode["off"]
            print(
                f"\nBilling on / billing off, highest passing step: {best_by_mode['prepaid']:g} / "
                f"{best_by_mode['off']:g} cps = {100 * ratio:.0f} % ({100 * (1 - ratio):.0f} % "
                "fewer calls per second with prepaid billing)"
            )
        if not args.skip_concurrent:
            passing = [s.rate for s in steps if s.passed]
            rate = min(args.concurrent_rate, max(passing)) if passing else args.concurrent_rate
            print(f"long hold: {args.concurrent} calls at {rate:g} cps ...", file=sys.stderr)
            rounds = run_hold(args, workdir, uas_port, rate)
            held = f"hold {args.concurrent_hold_ms / 1000:g} s"
            print(f"\n### {args.concurrent:,} concurrent calls ({held})\n")
            print(hold_table(rounds))
            for hold in rounds:
                for line in hold.sipp_errors:
                    print(f"    sipp: {line}", file=sys.stderr)
                if hold.log_problems:
                    count = len(hold.log_problems)
                    print(f"    switch log: {count} problem lines:", file=sys.stderr)
                    for line in hold.log_problems[:8]:
                        print(f"      {line}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
