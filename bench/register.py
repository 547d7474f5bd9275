"""REGISTER refresh benchmark (issue 7 §2): what SS_SIP_REGISTRATION_LIGTHWEIGHT saves. Run by
hand, not a test.

    .venv/bin/python bench/register.py [--phones 200] [--seconds 5] [--rounds 2] [--workdir DIR]

``softswitch run`` starts as a subprocess on 127.0.0.1 (SQLite in a temporary data directory,
log level WARNING, SS_FLOOD_RATE 0 so the one benchmark source is not banned) and gets
``--phones`` phones through its HTTP API. This script is the phones: one UDP socket each on
127.0.0.2, registered once with digest, then refreshing in a closed loop (each phone sends its
next refresh as soon as the last one was answered) for ``--seconds`` per mode:

* ``off, challenged``: SS_SIP_REGISTRATION_LIGTHWEIGHT Off, a refresh without credentials, as
  today: 401, then the REGISTER again with a digest over the new nonce, then 200 (two
  transactions per refresh).
* ``off, nonce reused``: Off, the phone answers the last nonce again with nc+1 (what many
  devices do; accepted while the nonce is younger than SS_SIP_AUTHENTICATION_TIMEOUT): one
  transaction and one digest check per refresh.
* ``on, lightweight``: On, a refresh without credentials from the same socket and Call-ID with
  a higher CSeq: 200 at once, no digest.

Per mode: refreshes per second, the switch's CPU (utime+stime from /proc) per refresh and as %
of one core, and what this client used. The modes run ``--rounds`` times, interleaved, on one
switch; between modes the script waits (bounded) for the switch to go idle (its binding writes
drained). Every wait is bounded and the switch is stopped by its PID.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from cps import (  # the same switch launch and /proc readings as the call-rate bench
    PASSWORD,
    cpu_seconds,
    free_port,
    own_cpu,
    switch_env,
)

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from softswitch.sip.digest import Algorithm, ha1, request_digest

REPO = Path(__file__).resolve().parent.parent
SOFTSWITCH = REPO / ".venv" / "bin" / "softswitch"
SWITCH_IP = "127.0.0.1"
PHONE_IP = "127.0.0.2"
PHONE_PASSWORD = "bench-phone-secret-1"
ANSWER_TIMEOUT = 2.0
"""A phone whose answer is this late resends a fresh refresh (counted as lost)."""

_NONCE = re.compile(rb'nonce="([^"]+)"')
_OPAQUE = re.compile(rb'opaque="([^"]+)"')
_REALM = re.compile(rb'realm="([^"]+)"')


class Switch:
    """One ``softswitch run`` subprocess, stopped by its PID."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.sip_port = free_port(SWITCH_IP)
        self.http_port = free_port(SWITCH_IP)
        self.process: subprocess.Popen[bytes] | None = None
        self.api = httpx.Client(base_url=f"http://{SWITCH_IP}:{self.http_port}/api/v1", timeout=10)

    def start(self) -> None:
        env = switch_env(self.workdir, self.sip_port, self.http_port)
        log = (self.workdir / "softswitch.log").open("ab")
        self.process = subprocess.Popen(
            [str(SOFTSWITCH), "run"], cwd=self.workdir, env=env, stdout=log, stderr=log
        )
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise RuntimeError("softswitch exited; see softswitch.log")
            if time.monotonic() > deadline:
                raise RuntimeError("softswitch did not start in 60 s")
            with contextlib.suppress(httpx.HTTPError):
                if self.api.get("/health", timeout=1).status_code == 200:
                    break
            time.sleep(0.1)
        login = self.api.post("/auth/login", json={"username": "admin", "password": PASSWORD})
        login.raise_for_status()
        self.api.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        self.param("SS_FLOOD_RATE", "0")

    def param(self, name: str, value: str) -> None:
        self.api.put(f"/params/{name}", json={"value": value}).raise_for_status()

    def phones(self, count: int) -> None:
        account = self.api.post(
            "/accounts",
            json={"code": "BENCH", "currency": "USD", "billing_mode": "postpaid"},
        )
        account.raise_for_status()
        for i in range(count):
            body = {
                "number": f"{7000 + i}",
                "account_id": account.json()["id"],
                "password": PHONE_PASSWORD,
            }
            self.api.post("/phones", json=body).raise_for_status()

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def idle(self, limit_s: float = 30.0) -> None:
        """Wait (bounded) until the switch uses under 5 % of a core over 0.5 s."""
        end = time.monotonic() + limit_s
        while time.monotonic() < end:
            before = cpu_seconds(self.pid)
            time.sleep(0.5)
            if cpu_seconds(self.pid) - before < 0.025:
                return

    def stop(self) -> None:
        process = self.process
        if process is None or process.poll() is not None:
            return
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(15)


class Phone(asyncio.DatagramProtocol):
    """One registered phone refreshing in a closed loop."""

    def __init__(self, number: str, target: tuple[str, int]) -> None:
        self.number = number
        self.target = target
        self.call_id = f"bench-{number}@{PHONE_IP}"
        self.cseq = itertools.count(1)
        self.transport: asyncio.DatagramTransport | None = None
        self.answers: asyncio.Queue[bytes] = asyncio.Queue()
        self.realm = b""
        self.nonce = b""
        self.opaque = b""
        self.nc = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: object) -> None:
        self.answers.put_nowait(data)

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def request(self, authorization: str = "") -> bytes:
        host, port = self.target
        seq = next(self.cseq)
        lines = [
            f"REGISTER sip:{host}:{port} SIP/2.0",
            f"Via: SIP/2.0/UDP {PHONE_IP}:{self.port};branch=z9hG4bK-b{seq}-{self.number};rport",
            "Max-Forwards: 70",
            f"From: <sip:{self.number}@{host}>;tag=b{self.number}",
            f"To: <sip:{self.number}@{host}>",
            f"Call-ID: {self.call_id}",
            f"CSeq: {seq} REGISTER",
            f"Contact: <sip:{self.number}@{PHONE_IP}:{self.port}>",
            "Expires: 3600",
            *([authorization] if authorization else []),
            "Content-Length: 0",
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    def authorization(self) -> str:
        self.nc += 1
        host, port = self.target
        uri, nc = f"sip:{host}:{port}", f"{self.nc:08x}"
        realm, nonce = self.realm.decode(), self.nonce.decode()
        digest = request_digest(
            Algorithm.MD5,
            ha1(self.number, realm, PHONE_PASSWORD, Algorithm.MD5),
            nonce=nonce,
            method="REGISTER",
            uri=uri,
            qop="auth",
            nc=nc,
            cnonce="bench",
        )
        return (
            f'Authorization: Digest username="{self.number}", realm="{realm}", '
            f'nonce="{nonce}", uri="{uri}", response="{digest}", algorithm=MD5, qop=auth, '
            f'nc={nc}, cnonce="bench", opaque="{self.opaque.decode()}"'
        )

    def learn(self, challenge: bytes) -> None:
        for pattern, name in ((_NONCE, "nonce"), (_OPAQUE, "opaque"), (_REALM, "realm")):
            found = pattern.search(challenge)
            if found:
                setattr(self, name, found.group(1))
        self.nc = 0

    async def ask(self, data: bytes) -> int:
        assert self.transport is not None
        self.transport.sendto(data, self.target)
        while True:
            answer = await asyncio.wait_for(self.answers.get(), ANSWER_TIMEOUT)
            status = int(answer[8:11])
            if status >= 200:
                if status in (401, 407):
                    self.learn(answer)
                return status

    async def refresh(self, mode: str) -> bool:
        """One refresh as ``mode`` does it; True when it ended in 200."""
        if mode == "reuse" and self.nonce:
            status = await self.ask(self.request(self.authorization()))
            if status == 200:
                return True
        else:
            status = await self.ask(self.request())
            if status == 200:
                return True
        if status != 401:
            return False
        return await self.ask(self.request(self.authorization())) == 200


@dataclass
class Result:
    mode: str
    refreshes: int
    lost: int
    seconds: float
    switch_cpu: float
    client_cpu: float

    @property
    def rate(self) -> float:
        return self.refreshes / self.seconds

    def row(self) -> str:
        per = self.switch_cpu / self.refreshes * 1e6 if self.refreshes else float("nan")
        return (
            f"| {self.mode} | {self.rate:,.0f} | {per:,.0f} | "
            f"{self.switch_cpu / self.seconds * 100:.0f} % | "
            f"{self.client_cpu / self.seconds * 100:.0f} % | {self.lost} |"
        )


MODES = {
    "off, challenged": ("Off", "challenge"),
    "off, nonce reused": ("Off", "reuse"),
    "on, lightweight": ("On", "plain"),
}


async def run_mode(switch: Switch, phones: list[Phone], name: str, seconds: float) -> Result:
    value, mode = MODES[name]
    switch.param("SS_SIP_REGISTRATION_LIGTHWEIGHT", value)
    loop = asyncio.get_running_loop()
    counts = {"ok": 0, "lost": 0}
    stop_at = loop.time() + seconds + 0.5  # 0.5 s of warm-up not counted
    measuring = False

    async def drive(phone: Phone) -> None:
        while loop.time() < stop_at:
            try:
                ok = await phone.refresh(mode)
            except TimeoutError:
                ok = False
            if measuring:
                counts["ok" if ok else "lost"] += 1

    tasks = [loop.create_task(drive(p)) for p in phones]
    await asyncio.sleep(0.5)
    measuring = True
    cpu0, own0, t0 = cpu_seconds(switch.pid), own_cpu(), loop.time()
    await asyncio.sleep(seconds)
    cpu1, own1, t1 = cpu_seconds(switch.pid), own_cpu(), loop.time()
    measuring = False
    await asyncio.wait_for(asyncio.gather(*tasks), ANSWER_TIMEOUT * 3 + 5)
    return Result(name, counts["ok"], counts["lost"], t1 - t0, cpu1 - cpu0, own1 - own0)


async def bench(args: argparse.Namespace, switch: Switch) -> list[Result]:
    loop = asyncio.get_running_loop()
    phones: list[Phone] = []
    for i in range(args.phones):
        phone = Phone(f"{7000 + i}", (SWITCH_IP, switch.sip_port))
        await loop.create_datagram_endpoint(lambda p=phone: p, local_addr=(PHONE_IP, 0))
        phones.append(phone)
    for phone in phones:  # the first registration, always with digest
        if not await phone.refresh("challenge"):
            raise RuntimeError(f"phone {phone.number} could not register")
    results = []
    for _ in range(args.rounds):
        for name in MODES:
            switch.idle()
            result = await run_mode(switch, phones, name, args.seconds)
            print(result.row(), flush=True)
            results.append(result)
    for phone in phones:
        if phone.transport is not None:
            phone.transport.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--phones", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workdir", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-register-") as tmp:
        workdir = args.workdir or Path(tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        switch = Switch(workdir)
        try:
            switch.start()
            switch.phones(args.phones)
            print(
                f"{platform.python_version()}, nproc {os.cpu_count()}, "
                f"{args.phones} phones, {args.seconds:g} s per mode\n"
            )
            print("| mode | refreshes/s | switch µs/refresh | switch CPU | client CPU | lost |")
            print("|---|---:|---:|---:|---:|---:|")
            asyncio.run(bench(args, switch))
        finally:
            switch.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
