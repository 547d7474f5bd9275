"""Side-by-side call-rate benchmark: the softswitch against Sippy B2BUA and Kamailio (issue 8 §1).

    .venv/bin/python bench/peers.py [--systems softswitch-off,softswitch-prepaid,sippy,kamailio]
                                    [--rates 100,200,400,800,1600,3200,6400,12800] [--refine 3]
                                    [--step-seconds 10] [--hold-ms 1000]
                                    [--concurrent 10000,50000] [--concurrent-rate 1000]
                                    [--skip-concurrent] [--workdir DIR] [--plot PATH]

The same load for every system under test (SUT), built from bench/cps.py's pieces: a SIPp UAC on
127.0.0.2 (``scenarios/uac.xml``, responses matched to their transaction) calls through the SUT
on 127.0.0.1 to a SIPp UAS on 127.0.0.3 that answers at once (180, 200). The UAS is SIPp's
built-in ``uas`` with ``;transport=UDP`` left out of its Contact (generated from ``sipp -sd uas``
into the work directory): Sippy 2.5.0 cannot send an in-dialog request to a Contact whose
transport is spelled in capitals (``RuntimeError: BUG: newTransaction() to unsupported transport:
UDP``, so every BYE to the carrier failed). The SUT runs under ``taskset -c 0``, both SIPp
processes (and this script) on core 1, so the SUT has one core to itself and SIPp's own CPU (in
the tables) shows when SIPp is the limit. The systems, each started fresh by the script:

- ``softswitch-off``: ``softswitch run`` as in cps.py, a postpaid account, CDRs on;
- ``softswitch-prepaid``: the same with prepaid billing (rating, credit reservation, ledger);
- ``softswitch-off-2w``, ``softswitch-prepaid-2w``: the same with two worker processes
  (``SOFTSWITCH_SIP_WORKERS=2``, experimental) under ``taskset -c 0,1``: the switch using both
  cores of the machine, the second one shared with SIPp. Not a one-core figure: the ratios
  against the one-core peers say what the whole machine gives, not what a core gives;
- ``sippy``: Sippy B2BUA (PyPI ``sippy`` 2.5.0, in a venv the script creates under
  ~/.cache/softswitch-bench/), its ``b2bua`` in the foreground with a static route to the UAS,
  RADIUS authentication and accounting off (``--auth_enable=off --acct_enable=off``: without them
  it asks a RADIUS server about every call), no RTPproxy, SIP logging at WARN (``SIPLOG_LVL``);
- ``kamailio``: Kamailio (Debian ``kamailio``) with ``bench/peers/kamailio.cfg``, a
  transaction-stateful proxy with record-route and no call state, ``-n 2`` UDP workers (plus its
  main, timer processes), ``-m 1024 -M 32`` MB of shared and private memory.

1. Steps. Rates in ``--rates`` ascending (each ``rate x --step-seconds`` calls held ``--hold-ms``,
   open loop) until a step fails, then ``--refine`` bisection steps; a fresh SUT after a failing
   step. A step passes when under 0.1 % of its calls failed, every call completed, and the 95th
   percentile of INVITE->200 (SIPp's ``-trace_rtt``) is under 100 ms. Per step: offered rate,
   failures, p50/p95/p99, the SUT's CPU while the load was offered (% of one core) and per call
   (all its CPU from the first INVITE to the last BYE, over the calls), SIPp's CPU (UAC + UAS, %
   of one core: near 100 % means SIPp, not the SUT, is the limit), the SUT's peak RSS and PSS
   summed over its process tree (PSS, from /proc/PID/smaps_rollup, shares shared pages out
   between processes: Kamailio's shared memory is mapped by every one of them, so the RSS sum
   counts it several times; for one process both agree but for what it shares with others), and
   its UDP socket's peak receive queue and drops.
2. Long hold, per SUT and per count in ``--concurrent``: a fresh SUT, that many calls started at
   the SUT's best passing rate capped at ``--concurrent-rate``, held until all are up at once
   (ramp time + 20 s), concurrency from the softswitch's ``/api/v1/monitor`` or else SIPp's
   ``CurrentCall``; RSS and PSS before and with all calls up, and per call. Kamailio keeps no
   call state: what grows there is tm's transactions (each INVITE's lives 5 s past its 200) and
   the first touch of its shared memory, so its "per call" figure depends on the rate, not on
   how many calls are up.

Markdown tables on stdout, everything in ``results.json`` in the work directory, and with
``--plot`` a PNG: failed calls and p95 INVITE->200 against offered rate, one line per system.
Every load is bounded in calls and time and aimed at 127.0.0.x; every process is stopped by its
PID (Kamailio: its main process, then whatever is left of its process group).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import resource
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import cps

PEERS = Path(__file__).resolve().parent / "peers"
KAMAILIO_CFG = PEERS / "kamailio.cfg"
KAMAILIO_MODULES = Path("/usr/lib/x86_64-linux-gnu/kamailio/modules")
SIPPY_VERSION = "2.5.0"
SIPPY_VENV = Path.home() / ".cache" / "softswitch-bench" / "sippy-venv"
SOFTSWITCHES = (
    "softswitch-off",
    "softswitch-prepaid",
    "softswitch-off-2w",
    "softswitch-prepaid-2w",
)
SYSTEMS = (*SOFTSWITCHES, "sippy", "kamailio")
WORKERS_SUFFIX = "-2w"
"""A softswitch with two worker processes (SOFTSWITCH_SIP_WORKERS=2) on both cores."""
P95_LIMIT_MS = 100.0
"""A step passes only while the 95th percentile of INVITE->200 stays under this."""
HOLD_SETTLE_S = 20.0
"""Long hold: calls are held this long past the ramp, so that all are up at once."""


# -- /proc: process trees --------------------------------------------------------------------


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (from the parent PIDs in /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                parents.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def group(pgid: int) -> list[int]:
    """Live (not zombie) processes in process group ``pgid``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, IndexError, ValueError):
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                if int(fields[2]) == pgid and fields[0] != "Z":
                    found.append(int(entry.name))
    return found


def pss_bytes(pid: int) -> int:
    """Proportional set size of a process (/proc/PID/smaps_rollup); 0 once it is gone."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def memory(pids: list[int]) -> tuple[int, int]:
    """(RSS, PSS) summed over processes."""
    return sum(cps.rss_bytes(p) for p in pids), sum(pss_bytes(p) for p in pids)


def tree_cpu(pids: list[int]) -> float:
    return sum(cps.cpu_seconds(p) for p in pids)


class TreeSampler(cps.Sampler):
    """cps.Sampler over a process tree: CPU and RSS summed, PSS too (peak of the sums)."""

    def __init__(self, pids: list[int], udp: str, interval_s: float = 0.1) -> None:
        super().__init__(pids[0], udp, interval_s)
        self.pids = pids
        self.peak, self.pss_peak = memory(pids)
        self.cpu = [(time.monotonic(), tree_cpu(pids))]

    def sample_memory(self) -> None:
        rss, pss = memory(self.pids)
        self.peak, self.pss_peak = max(self.peak, rss), max(self.pss_peak, pss)

    def cpu_seconds(self) -> float:
        return tree_cpu(self.pids)

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self


# -- the systems under test ------------------------------------------------------------------


@dataclass
class Sut:
    """One system under test: started fresh, SIP on 127.0.0.1:``sip_port``, stopped by PID."""

    name: str
    workdir: Path
    uas_port: int
    prefix: list[str]
    args: argparse.Namespace
    sip_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)

    @property
    def target(self) -> str:
        return f"{cps.SWITCH_IP}:{self.sip_port}"

    @property
    def udp(self) -> str:
        return cps.udp_key(cps.SWITCH_IP, self.sip_port)

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self) -> None:
        raise NotImplementedError

    def _launch(self, command: list[str], env: dict[str, str] | None = None) -> None:
        """Start ``command`` in its own process group; wait until it has bound the SIP port
        and its process tree stopped growing."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "command").write_text(" ".join(command) + "\n")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command, cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while not cps.udp_bound(cps.SWITCH_IP, self.sip_port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                log_text = self.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{self.name} did not start:\n{log_text}")
            time.sleep(0.05)
        seen: list[int] = []
        while time.monotonic() < deadline:
            time.sleep(0.5)
            self.pids = tree(self.process.pid)
            if self.pids == seen:
                break
            seen = self.pids

    def live_calls(self) -> int | None:
        """Calls up in the SUT by its own count, None when it has none."""
        return None

    def mark(self) -> None:
        """Before a step."""

    def settle(self, calls: int) -> int | None:
        """After a step: let the SUT finish its work; the step's CDRs when it writes them."""
        time.sleep(1)
        return None

    def stop(self) -> int | None:
        if self.process is None:
            return None
        code = cps.stop_pid(self.process, 15)
        left = group(self.process.pid)  # Kamailio's children, should the main one leave them
        if left:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            print(f"  {self.name}: killed {len(left)} leftover processes", file=sys.stderr)
        return code


@dataclass
class Softswitch(Sut):
    switch: cps.Switch | None = None
    cdrs_before: int = 0

    def start(self) -> None:
        billing = self.name.removeprefix("softswitch-").removesuffix(WORKERS_SUFFIX)
        workers = 2 if self.name.endswith(WORKERS_SUFFIX) else 1
        self.switch = cps.Switch(
            self.workdir, self.uas_port, billing=billing, prefix=self.prefix, workers=workers
        )
        self.switch.start()
        self.process, self.sip_port = self.switch.process, self.switch.sip_port
        self.pids = tree(self.switch.pid)

    def live_calls(self) -> int | None:
        if self.name.endswith(WORKERS_SUFFIX):
            return None  # the monitor shows worker 0's calls only: SIPp's count instead
        figures = self.switch.monitor() if self.switch else None
        return int(figures["concurrent_calls"]) if figures else None

    def mark(self) -> None:
        assert self.switch is not None
        self.cdrs_before = self.switch.cdr_count()

    def settle(self, calls: int) -> int | None:
        assert self.switch is not None
        return self.switch.drain(self.cdrs_before + calls)[1] - self.cdrs_before

    def stop(self) -> int | None:
        return self.switch.stop() if self.switch is not None else None


class Sippy(Sut):
    def start(self) -> None:
        b2bua = sippy_b2bua(self.args.sippy_venv)
        self.sip_port = cps.free_port(cps.SWITCH_IP)
        command = [*self.prefix, str(b2bua), f"--sip_address={cps.SWITCH_IP}"]
        command += [f"--sip_port={self.sip_port}", f"--static_route={cps.UAS_IP}:{self.uas_port}"]
        command += ["--foreground=on", "--auth_enable=off", "--acct_enable=off"]
        command += [f"--logfile={self.workdir / 'b2bua.log'}"]
        command += [f"--pidfile={self.workdir / 'b2bua.pid'}"]
        command += [f"--b2bua_socket={self.workdir / 'b2bua.sock'}"]
        self._launch(command, {**os.environ, "SIPLOG_LVL": "WARN", "PYTHONUNBUFFERED": "1"})


class Kamailio(Sut):
    def start(self) -> None:
        self.sip_port = cps.free_port(cps.SWITCH_IP)
        command = [*self.prefix, kamailio_binary(), "-DD", "-E", "-f", str(KAMAILIO_CFG)]
        command += ["-L", str(self.args.kamailio_modules)]
        command += ["-A", f'UAS_URI="sip:{cps.UAS_IP}:{self.uas_port}"']
        command += ["-l", f"udp:{self.target}", "-n", str(self.args.kamailio_children)]
        command += ["-m", "1024", "-M", "32", "-P", str(self.workdir / "kamailio.pid")]
        command += ["-Y", str(self.workdir), "-w", str(self.workdir)]
        self._launch(command)


def sippy_b2bua(venv: Path) -> Path:
    """Sippy's ``b2bua`` script from its own venv, created (``pip install sippy==2.5.0``) when
    missing."""
    python, b2bua = venv / "bin" / "python", venv / "bin" / "b2bua"
    probe = [str(python), "-c", "import importlib.metadata as m; print(m.version('sippy'))"]
    if b2bua.exists():
        found = subprocess.run(probe, capture_output=True, text=True, check=False, timeout=60)
        if found.stdout.strip() == SIPPY_VERSION:
            return b2bua
    print(f"creating {venv} with sippy=={SIPPY_VERSION} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
    pip = [str(venv / "bin" / "pip"), "install", "--quiet", f"sippy=={SIPPY_VERSION}"]
    subprocess.run(pip, check=True, timeout=900)
    return b2bua


def kamailio_binary() -> str:
    """Kamailio's binary; installed from Debian's ``kamailio`` package when missing (as root)."""
    for candidate in ("/usr/sbin/kamailio", "/usr/local/sbin/kamailio"):
        if Path(candidate).exists():
            return candidate
    if os.geteuid() != 0:
        raise SystemExit("kamailio is missing: sudo apt-get install -y kamailio")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "install", "-y", "kamailio"], check=True, env=env, timeout=900)
    return "/usr/sbin/kamailio"


def make_sut(name: str, workdir: Path, uas_port: int, args: argparse.Namespace) -> Sut:
    kind = {"sippy": Sippy, "kamailio": Kamailio}.get(name, Softswitch)
    # Two workers get both cores (SIPp keeps its own, shared with them): the one measurement
    # here of the switch using every core of the machine rather than one.
    prefix = args.all_cpus_prefix if name.endswith(WORKERS_SUFFIX) else args.sut_prefix
    return kind(name, workdir, uas_port, prefix, args)


@contextlib.contextmanager
def running(name: str, workdir: Path, uas_port: int, args: argparse.Namespace) -> Iterator[Sut]:
    sut = make_sut(name, workdir, uas_port, args)
    try:
        sut.start()
        print(f"{name} pid {sut.pids} on 127.0.0.1:{sut.sip_port}", file=sys.stderr)
        yield sut
    finally:
        code = sut.stop()
        print(f"  {name} in {workdir.name} stopped (exit {code})", file=sys.stderr)


def uas_scenario(workdir: Path) -> Path:
    """SIPp's built-in ``uas`` without ``;transport=UDP`` in its Contact (see the docstring)."""
    text = subprocess.run(  # SIPp exits 99 after dumping a scenario
        [cps.SIPP, "-sd", "uas"], capture_output=True, text=True, check=False, timeout=30
    ).stdout
    if "</scenario>" not in text or ";transport=[transport]" not in text:
        raise RuntimeError(f"unexpected output of sipp -sd uas:\n{text[:2000]}")
    path = workdir / "uas.xml"
    path.write_text(text.replace(";transport=[transport]", ""))
    return path


# -- the steps ---------------------------------------------------------------------------------


@dataclass
class PeerStep(cps.Step):
    """cps.Step of one SUT (``switch_*`` fields: the SUT's), with PSS and the latency bound."""

    system: str = ""
    pss_peak: int = 0
    processes: int = 0

    @property
    def passed(self) -> bool:
        return super().passed and self.percentile(0.95) < P95_LIMIT_MS

    def summary(self) -> dict[str, Any]:
        data = asdict(self)
        del data["rtt_ms"]
        data |= {f"p{q}": self.percentile(q / 100) for q in (50, 95, 99)}
        data["passed"] = self.passed
        return data


def run_step(
    sut: Sut, workdir: Path, scenario: Path, rate: float, args: argparse.Namespace
) -> PeerStep:
    """Offer ``rate x --step-seconds`` calls at ``rate`` through ``sut`` and measure."""
    calls = max(1, round(rate * args.step_seconds))
    step = PeerStep(rate=rate, calls=calls, system=sut.name, processes=len(sut.pids))
    budget = int(args.step_seconds + args.hold_ms / 1000 + 2 * cps.RECV_TIMEOUT_MS / 1000 + 30)
    name = f"{sut.workdir.name}-step-{rate:g}"
    sipp = args.sipp_prefix
    sut.mark()
    carrier = cps.uas(
        workdir, f"{name}-uas", sut.uas_port, budget + 30, scenario=scenario, prefix=sipp
    )
    customer: cps.Sipp | None = None
    try:
        drops_before = cps.udp_socket(sut.udp)[1]
        cpu_before, sipp_before = tree_cpu(sut.pids), cps.children_cpu()
        started = time.monotonic()
        with TreeSampler(sut.pids, sut.udp) as sampler:
            customer = cps.uac(
                workdir, name, sut.target, rate=rate, calls=calls, hold_ms=args.hold_ms,
                timeout_s=budget, limit=calls, prefix=sipp,
            )  # fmt: skip
            step.exit_code = customer.wait(budget + 15)
            step.wall_s = time.monotonic() - started
            step.switch_cpu_s = tree_cpu(sut.pids) - cpu_before
        step.rss_peak, step.pss_peak = sampler.peak, sampler.pss_peak
        step.udp_queue_peak = sampler.queue_peak
        step.udp_drops = cps.udp_socket(sut.udp)[1] - drops_before
        carrier.stop()
        step.sipp_cpu_s = cps.children_cpu() - sipp_before
    finally:
        if customer is not None:
            customer.stop()
        carrier.stop()
    cps.read_results(step, customer, sampler, started)
    step.cdrs = sut.settle(calls) or 0
    return step


def run_steps(
    system: str, workdir: Path, uas_port: int, scenario: Path, args: argparse.Namespace
) -> list[PeerStep]:
    """Ascending steps to the first failure, then bisection; a fresh SUT after a failure (the
    stepping of cps.run_steps)."""
    steps: list[PeerStep] = []
    pending, lo, hi, refinements, generation = sorted(args.rates), 0.0, 0.0, 0, 0
    while pending and time.monotonic() < args.deadline:
        generation += 1
        with running(system, workdir / f"{system}-{generation}", uas_port, args) as sut:
            while pending and time.monotonic() < args.deadline:
                rate = pending.pop(0)
                print(f"{system}: step {rate:g} cps ...", file=sys.stderr)
                step = run_step(sut, workdir, scenario, rate, args)
                steps.append(step)
                print(f"  {line(step)}", file=sys.stderr)
                for error in step.sipp_errors:
                    print(f"    sipp: {error}", file=sys.stderr)
                if step.passed:
                    lo = rate
                else:
                    hi, pending = rate, []
                if hi and refinements < args.refine:
                    middle = round((lo + hi) / 2 / 10) * 10
                    if lo < middle < hi:
                        refinements += 1
                        pending = [middle]
                if not step.passed:
                    break  # a fresh SUT for what follows
    return sorted(steps, key=lambda s: s.rate)


def line(step: PeerStep) -> str:
    return (
        f"{step.successful}/{step.calls} ok, {step.failed} failed, p95 "
        f"{step.percentile(0.95):.0f} ms, CPU {100 * step.switch_cpu_offering:.0f} %, "
        f"{'pass' if step.passed else 'FAIL'}"
    )


def best(steps: list[PeerStep]) -> PeerStep | None:
    return max((s for s in steps if s.passed), key=lambda s: s.rate, default=None)


# -- the long hold -----------------------------------------------------------------------------


@dataclass
class PeerHold:
    system: str
    target: int
    rate: float
    hold_ms: int
    source: str = "SIPp CurrentCall"
    reached: int = 0
    reached_after_s: float = 0.0
    rss_before: int = 0
    pss_before: int = 0
    rss_full: int = 0
    pss_full: int = 0
    cpu_plateau_pct: float = 0.0
    successful: int = 0
    failed: int = 0

    def per_call(self, full: int, before: int) -> float:
        return (full - before) / self.reached if self.reached else float("nan")


def run_hold(
    system: str, target: int, rate: float, workdir: Path, uas_port: int, scenario: Path,
    args: argparse.Namespace,
) -> PeerHold:  # fmt: skip
    """``target`` calls up at once on a fresh SUT; its memory before and with them all up."""
    ramp_s = target / rate
    hold = PeerHold(system, target, rate, int((ramp_s + HOLD_SETTLE_S) * 1000))
    budget = int(2 * ramp_s + HOLD_SETTLE_S + 2 * cps.RECV_TIMEOUT_MS / 1000 + 60)
    sipp = args.sipp_prefix
    name = f"{system}-hold-{target}"
    with running(system, workdir / name, uas_port, args) as sut:
        time.sleep(2)
        hold.rss_before, hold.pss_before = memory(sut.pids)
        carrier = cps.uas(
            workdir, f"{name}-uas", uas_port, budget + 30, scenario=scenario, prefix=sipp
        )
        customer: cps.Sipp | None = None
        try:
            customer = cps.uac(
                workdir, name, sut.target, rate=rate, calls=target, hold_ms=hold.hold_ms,
                timeout_s=budget, limit=target, prefix=sipp,
            )  # fmt: skip
            assert customer.process is not None
            started = time.monotonic()
            full = int(target * 0.995)
            while time.monotonic() < started + ramp_s * 1.5 + 30:
                live = sut.live_calls()
                if live is None:
                    live = cps._int(customer.last(), "CurrentCall")
                else:
                    hold.source = "/api/v1/monitor"
                if live > hold.reached:
                    hold.reached, hold.reached_after_s = live, time.monotonic() - started
                if live >= full or customer.process.poll() is not None:
                    break
                time.sleep(0.5)
            if hold.reached >= full:
                time.sleep(2)
                cpu_before, t0 = tree_cpu(sut.pids), time.monotonic()
                time.sleep(5)
                elapsed = time.monotonic() - t0
                hold.cpu_plateau_pct = 100 * (tree_cpu(sut.pids) - cpu_before) / elapsed
            hold.rss_full, hold.pss_full = memory(sut.pids)
            print(
                f"  {hold.reached} calls up after {hold.reached_after_s:.0f} s, RSS "
                f"{cps.mb(hold.rss_full)}, PSS {cps.mb(hold.pss_full)}",
                file=sys.stderr,
            )
            with contextlib.suppress(subprocess.TimeoutExpired):
                customer.process.wait(max(1, budget + 15 - (time.monotonic() - started)))
        finally:
            if customer is not None:
                customer.stop()
            carrier.stop()
        final = customer.last()
        hold.successful = cps._int(final, "SuccessfulCall(C)")
        hold.failed = cps._int(final, "FailedCall(C)")
    return hold


# -- output ------------------------------------------------------------------------------------


def step_table(steps: list[PeerStep]) -> str:
    rows = [
        "| target cps | offered cps | calls | failed | INVITE→200 p50 / p95 / p99 ms "
        "| SIPp retrans. | SUT CPU while offered | SUT CPU per call | SIPp CPU (UAC+UAS) "
        "| SUT RSS / PSS peak | UDP queue peak / drops | result |",
        "|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for s in steps:
        rows.append(
            f"{cps.step_cells(s)} "
            f"| {1000 * s.switch_cpu_s / s.calls:.2f} ms | {cps.sipp_share(s):.0f} % "
            f"| {cps.mb(s.rss_peak)} / {cps.mb(s.pss_peak)} "
            f"| {s.udp_queue_peak / 1024:,.0f} KiB / {s.udp_drops:,} "
            f"| {'pass' if s.passed else 'FAIL'} |"
        )
    return "\n".join(rows)


def hold_table(holds: list[PeerHold]) -> str:
    rows = [
        "| system | calls | rate cps | reached (after) | RSS / PSS before | RSS / PSS all up "
        "| per call RSS / PSS | CPU all up | ok / failed |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for h in holds:
        rss, pss = h.per_call(h.rss_full, h.rss_before), h.per_call(h.pss_full, h.pss_before)
        rows.append(
            f"| {h.system} | {h.target:,} | {h.rate:g} | {h.reached:,} ({h.reached_after_s:.0f} s"
            f", {h.source}) | {cps.mb(h.rss_before)} / {cps.mb(h.pss_before)} "
            f"| {cps.mb(h.rss_full)} / {cps.mb(h.pss_full)} "
            f"| {rss / 1024:.1f} / {pss / 1024:.1f} KiB | {h.cpu_plateau_pct:.0f} % "
            f"| {h.successful:,} / {h.failed:,} |"
        )
    return "\n".join(rows)


def figures(steps: list[PeerStep], holds: list[PeerHold]) -> dict[str, float]:
    """One system's headline figures (NaN where there are none)."""
    top = best(steps)
    nan = float("nan")
    largest = max((h for h in holds if h.reached), key=lambda h: h.reached, default=None)
    return {
        "best_cps": top.rate if top else nan,
        "p95_ms": top.percentile(0.95) if top else nan,
        "cpu_pct": 100 * top.switch_cpu_offering if top else nan,
        "cpu_ms_per_call": 1000 * top.switch_cpu_s / top.calls if top else nan,
        "rss": top.rss_peak if top else nan,
        "pss": top.pss_peak if top else nan,
        "held": largest.reached if largest else nan,
        "rss_per_call": largest.per_call(largest.rss_full, largest.rss_before) if largest else nan,
        "pss_per_call": largest.per_call(largest.pss_full, largest.pss_before) if largest else nan,
    }


def summary_table(results: dict[str, dict[str, float]]) -> str:
    rows = [
        "| system | best cps | p95 there | SUT CPU there | CPU per call | RSS / PSS peak there "
        "| concurrent calls held | RSS / PSS per concurrent call |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in results.items():
        rows.append(
            f"| {name} | {num(f['best_cps'], 'g')} | {num(f['p95_ms'], '.0f', ' ms')} "
            f"| {num(f['cpu_pct'], '.0f', ' %')} | {num(f['cpu_ms_per_call'], '.2f', ' ms')} "
            f"| {mb(f['rss'])} / {mb(f['pss'])} | {num(f['held'], ',.0f')} "
            f"| {num(f['rss_per_call'] / 1024, '.1f')} / "
            f"{num(f['pss_per_call'] / 1024, '.1f', ' KiB')} |"
        )
    ratios = []
    pairs = [(mine, peer) for mine in SOFTSWITCHES for peer in ("sippy", "kamailio")]
    pairs.append(("softswitch-prepaid", "softswitch-off"))  # what billing costs
    pairs.append(("softswitch-prepaid-2w", "softswitch-off-2w"))
    pairs.append(("softswitch-prepaid-2w", "softswitch-prepaid"))  # what the second core gives
    for mine, peer in pairs:
        if mine in results and peer in results:
            a, b = results[mine], results[peer]
            ratios.append(
                f"| {mine} / {peer} | {ratio(a['best_cps'], b['best_cps'])} "
                f"| {ratio(a['cpu_ms_per_call'], b['cpu_ms_per_call'])} "
                f"| {ratio(a['pss_per_call'], b['pss_per_call'])} |"
            )
    if ratios:
        rows += ["", "| ratio (same run) | best cps | CPU per call | PSS per concurrent call |"]
        rows += ["|---|---:|---:|---:|", *ratios]
    return "\n".join(rows)


def mb(value: float) -> str:
    return "–" if math.isnan(value) else cps.mb(int(value))


def num(value: float, spec: str, unit: str = "") -> str:
    return "–" if math.isnan(value) else f"{value:{spec}}{unit}"


def ratio(a: float, b: float) -> str:
    return "–" if math.isnan(a) or math.isnan(b) or b <= 0 else f"{a / b:.2f}"


def plot(path: Path, steps: dict[str, list[PeerStep]]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    fig, (failed, latency) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, series in steps.items():
        ordered = sorted(series, key=lambda s: s.rate)
        x = [s.offered_cps or s.rate for s in ordered]
        failed.plot(x, [100 * s.failed_ratio for s in ordered], marker="o", label=name)
        latency.plot(x, [s.percentile(0.95) for s in ordered], marker="o", label=name)
    failed.axhline(100 * cps.FAILED_LIMIT, color="grey", linestyle="--", linewidth=0.8)
    latency.axhline(P95_LIMIT_MS, color="grey", linestyle="--", linewidth=0.8)
    failed.set_yscale("symlog", linthresh=0.1)
    failed.set(xscale="log", xlabel="offered calls per second",
               ylabel="failed calls (%)", title="Failed calls")  # fmt: skip
    latency.set_yscale("symlog", linthresh=10)  # SIPp's ticks: 0 ms is "within a tick"
    latency.set(xscale="log", xlabel="offered calls per second",
                ylabel="p95 INVITE→200 (ms)", title="95th percentile INVITE→200")  # fmt: skip
    for axes in (failed, latency):
        axes.set_ylim(bottom=0)
        axes.xaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
        axes.yaxis.set_major_formatter(matplotlib.ticker.FormatStrFormatter("%g"))
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- main --------------------------------------------------------------------------------------


def plain(value: Any) -> Any:
    """``value`` with NaN as None, for strict JSON."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def numbers(text: str) -> list[float]:
    return [float(item) for item in text.split(",") if item.strip()]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", type=lambda t: t.split(","), default=list(SYSTEMS))
    parser.add_argument("--rates", type=numbers, default=[100 * 2**n for n in range(8)])
    parser.add_argument("--refine", type=int, default=3, help="bisection steps after a failure")
    parser.add_argument("--step-seconds", type=float, default=10.0)
    parser.add_argument("--hold-ms", type=int, default=1000)
    parser.add_argument("--concurrent", type=lambda t: [int(v) for v in numbers(t)],
                        default=[10_000, 50_000])  # fmt: skip
    parser.add_argument("--concurrent-rate", type=float, default=1000.0, help="long hold cap")
    parser.add_argument("--skip-concurrent", action="store_true")
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: temp dir)")
    parser.add_argument(
        "--plot", type=Path, nargs="?", const=cps.REPO / "docs/performance-peers.png"
    )
    parser.add_argument("--max-minutes", type=float, default=240.0, help="no new load after")
    parser.add_argument("--sut-cpu", type=int, default=0)
    parser.add_argument("--sipp-cpu", type=int, default=1)
    parser.add_argument("--kamailio-children", type=int, default=2, help="UDP worker processes")
    parser.add_argument("--kamailio-modules", type=Path, default=KAMAILIO_MODULES)
    parser.add_argument("--sippy-venv", type=Path, default=SIPPY_VENV)
    args = parser.parse_args()
    unknown = set(args.systems) - set(SYSTEMS)
    if unknown:
        parser.error(f"unknown systems {sorted(unknown)}; known: {', '.join(SYSTEMS)}")
    args.deadline = time.monotonic() + 60 * args.max_minutes
    args.sut_prefix = ["taskset", "-c", str(args.sut_cpu)]
    args.sipp_prefix = ["taskset", "-c", str(args.sipp_cpu)]
    args.all_cpus_prefix = ["taskset", "-c", f"{args.sut_cpu},{args.sipp_cpu}"]
    if (os.cpu_count() or 1) < 2:
        print("one CPU only: nothing pinned", file=sys.stderr)
        args.sut_prefix, args.sipp_prefix, args.all_cpus_prefix = [], [], []
    else:
        os.sched_setaffinity(0, {args.sipp_cpu})  # this script (and its sampler) with SIPp

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:  # SIPp inherits it
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    print(f"machine: {cps.machine()}")
    print(f"SUT on CPU {args.sut_cpu}, SIPp and this script on CPU {args.sipp_cpu}")
    versions = {}  # and the peers installed, before any load
    if "sippy" in args.systems:
        sippy_b2bua(args.sippy_venv)
        versions["sippy"] = f"sippy {SIPPY_VERSION} ({args.sippy_venv})"
    if "kamailio" in args.systems:
        found = subprocess.run([kamailio_binary(), "-v"], capture_output=True, text=True)
        versions["kamailio"] = found.stdout.splitlines()[0].strip() if found.stdout else "?"
        versions["kamailio"] += f", -n {args.kamailio_children} UDP workers"
    for name, version in versions.items():
        print(f"{name}: {version}")

    with contextlib.ExitStack() as stack:
        workdir = cps.work_directory(stack, args.workdir, "bench-peers-")
        uas_port = cps.free_port(cps.UAS_IP)
        scenario = uas_scenario(workdir)
        steps: dict[str, list[PeerStep]] = {}
        holds: dict[str, list[PeerHold]] = {}
        failures: dict[str, str] = {}
        for system in args.systems:
            try:
                steps[system] = run_steps(system, workdir, uas_port, scenario, args)
            except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                print(f"{system}: {error}", file=sys.stderr)
                failures[system] = str(error)
                continue
            print(
                f"\n### {system} ({args.step_seconds:g} s of load a step, hold {args.hold_ms} ms)"
            )
            print("\n" + step_table(steps[system]))
            holds[system] = []
            top = best(steps[system])
            rate = min(top.rate if top else min(args.rates), args.concurrent_rate)
            for target in [] if args.skip_concurrent else args.concurrent:
                if time.monotonic() > args.deadline:
                    break
                print(f"{system}: {target:,} calls held, at {rate:g} cps ...", file=sys.stderr)
                try:
                    hold = run_hold(system, target, rate, workdir, uas_port, scenario, args)
                except (RuntimeError, OSError, subprocess.SubprocessError) as error:
                    print(f"{system}: {error}", file=sys.stderr)
                    failures[f"{system} hold {target}"] = str(error)
                    break
                holds[system].append(hold)
        results = {name: figures(steps[name], holds[name]) for name in steps}
        if any(holds.values()):
            print("\n### Concurrent calls\n")
            print(hold_table([h for name in holds for h in holds[name]]))
        print("\n### Summary\n")
        print(summary_table(results))
        for what, reason in failures.items():
            print(f"\n{what} did not run to the end: {reason.splitlines()[0] if reason else '?'}")
        report = {
            "machine": cps.machine(),
            "versions": versions,
            "failures": failures,
            "args": {k: str(v) for k, v in vars(args).items() if k != "deadline"},
            "systems": {
                name: {
                    "figures": results[name],
                    "steps": [s.summary() for s in steps[name]],
                    "holds": [asdict(h) for h in holds[name]],
                }
                for name in steps
            },
        }
        text = json.dumps(plain(report), indent=2, default=str, allow_nan=False)
        (workdir / "results.json").write_text(text + "\n")
        print(f"\nresults: {workdir / 'results.json'}", file=sys.stderr)
        if args.plot is not None:
            plot(args.plot, steps)
            print(f"plot: {args.plot}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
