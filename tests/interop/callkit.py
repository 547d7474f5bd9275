"""Helpers for the SIPp call tests: SIPp processes as customer, carriers and phones, their
message traces parsed into SIP messages, silent listeners, and the switch's HTTP API driven as
an operator would.

Every SIPp run is bounded three ways: a call count (``-m``), SIPp's own global timeout
(``-timeout``, reported as an error) and a subprocess wait; a process still running at the end
of a test is stopped by its own PID. Carriers listen on 127.0.0.3, the customer trunk sends
from 127.0.0.2, phones use 127.0.0.1 (where the switch listens), so the switch can only tell
them apart the way the product does: by source address, or by digest for phones.
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

SCENARIOS = Path(__file__).parent / "scenarios"
SIPP = shutil.which("sipp") or "/usr/bin/sipp"
ADMIN_PASSWORD = "interop-admin-pw-1"

TRUNK_IP = "127.0.0.2"
CARRIER_IP = "127.0.0.3"
STRANGER_IP = "127.0.0.4"
PHONE_IP = "127.0.0.1"

SIPP_TIMEOUT_S = 20
"""SIPp's own global timeout (``-timeout``, an error when reached); the subprocess wait allows a
little more so SIPp can write its traces before we would kill it."""

_READY_TIMEOUT_S = 5.0
_SEPARATOR = re.compile(r"^-{20,} \d{4}-\d\d-\d\d[ \t][\d:.]+$", re.MULTILINE)
_DIRECTION = re.compile(r"^(UDP|TCP|TLS) message (sent|received)")
_COMPACT = {
    "i": "call-id",
    "f": "from",
    "t": "to",
    "v": "via",
    "m": "contact",
    "c": "content-type",
    "l": "content-length",
    "k": "supported",
}


# -- SIP messages from SIPp traces -------------------------------------------------------------


@dataclass(frozen=True)
class SipMessage:
    """One message of a SIPp ``-trace_msg`` file, as SIPp sent or received it."""

    direction: str
    transport: str
    text: str

    @property
    def start_line(self) -> str:
        return self.text.split("\r\n", 1)[0].split("\n", 1)[0].strip()

    @property
    def is_response(self) -> bool:
        return self.start_line.startswith("SIP/2.0 ")

    @property
    def method(self) -> str | None:
        """The request method, or None for a response."""
        return None if self.is_response else self.start_line.split(" ", 1)[0]

    @property
    def status(self) -> int | None:
        """The response status, or None for a request."""
        return int(self.start_line.split(" ")[1]) if self.is_response else None

    @property
    def request_uri(self) -> str:
        return self.start_line.split(" ")[1]

    @property
    def cseq_method(self) -> str:
        return (self.header("CSeq") or " ").split()[-1]

    def _split(self) -> tuple[list[str], str]:
        head, _, body = self.text.replace("\r\n", "\n").partition("\n\n")
        return head.split("\n")[1:], body

    def headers(self, name: str) -> list[str]:
        """Every value of header ``name`` (compact forms too), in order."""
        wanted = name.lower()
        values = []
        for line in self._split()[0]:
            key, sep, value = line.partition(":")
            key = key.strip().lower()
            if sep and _COMPACT.get(key, key) == wanted:
                values.append(value.strip())
        return values

    def header(self, name: str) -> str | None:
        found = self.headers(name)
        return found[0] if found else None

    @property
    def body(self) -> str:
        """The body with CRLF line ends normalised to LF and surrounding blank lines removed."""
        return self._split()[1].strip()

    @property
    def call_id(self) -> str:
        return self.header("Call-ID") or ""

    def tag(self, name: str) -> str | None:
        """The tag parameter of the From or To header."""
        match = re.search(r";\s*tag=([^;>\s]+)", self.header(name) or "")
        return match.group(1) if match else None

    def summary(self) -> str:
        return f"{self.direction}: {self.start_line} ({self.header('CSeq')})"


def parse_trace(path: Path) -> list[SipMessage]:
    """The messages of a SIPp message trace, in the order SIPp logged them."""
    if not path.exists():
        return []
    messages = []
    for chunk in _SEPARATOR.split(path.read_text(encoding="utf-8", errors="replace")):
        chunk = chunk.strip("\r\n")
        match = _DIRECTION.match(chunk)
        if match is None:
            continue
        text = chunk.split("\n", 1)[1].lstrip("\r\n") if "\n" in chunk else ""
        messages.append(SipMessage(match.group(2), match.group(1), text))
    return messages


# -- SIPp processes ---------------------------------------------------------------------------


def _bound(ip: str, port: int, transport: str) -> bool:
    """Whether something listens on ``ip:port`` (read from /proc, so no race with SIPp's bind)."""
    table = "/proc/net/tcp" if transport.startswith("t") else "/proc/net/udp"
    want = f"{socket.inet_aton(ip)[::-1].hex().upper()}:{port:04X}"
    with open(table, encoding="ascii") as lines:
        return any(line.split()[1] == want for line in list(lines)[1:])


@dataclass
class Sipp:
    """One SIPp process. With ``remote`` it is a client (UAC) calling ``remote``; without, a
    server (UAS) that :meth:`start` returns only once it is listening."""

    name: str
    scenario: str
    workdir: Path
    local_ip: str
    port: int
    remote: str | None = None
    transport: str = "u1"
    calls: int = 1
    service: str | None = None
    caller: str = "5551000"
    hold_ms: int = 500
    user: str | None = None
    password: str | None = None
    extra: Sequence[str] = ()
    timeout_s: int = SIPP_TIMEOUT_S
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def dir(self) -> Path:
        return self.workdir / self.name

    def command(self) -> list[str]:
        out = self.dir
        command = [SIPP] + ([self.remote] if self.remote else [])
        command += ["-sf", str(SCENARIOS / self.scenario), "-t", self.transport]
        command += ["-i", self.local_ip, "-p", str(self.port), "-mi", self.local_ip]
        command += ["-m", str(self.calls), "-d", str(self.hold_ms)]
        command += ["-timeout", f"{self.timeout_s}s", "-timeout_error", "-nostdin"]
        command += ["-key", "caller", self.caller]
        if self.service is not None:
            command += ["-s", self.service]
        if self.user is not None:
            command += ["-au", self.user, "-ap", self.password or ""]
        command += ["-trace_msg", "-message_file", str(out / "messages.log")]
        command += ["-trace_logs", "-log_file", str(out / "actions.log")]
        command += ["-trace_err", "-error_file", str(out / "errors.log")]
        command += ["-trace_stat", "-stf", str(out / "stats.csv")]
        return command + list(self.extra)

    def start(self) -> Sipp:
        self.dir.mkdir(parents=True, exist_ok=True)
        with (self.dir / "stdout.log").open("wb") as stdout:
            self.process = subprocess.Popen(
                self.command(),
                cwd=self.dir,
                stdout=stdout,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        if self.remote is None:
            deadline = time.monotonic() + _READY_TIMEOUT_S
            while not _bound(self.local_ip, self.port, self.transport):
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(f"{self.name}: SIPp did not start\n{self.report()}")
                time.sleep(0.02)
        return self

    def wait(self) -> int:
        """Wait (bounded) for SIPp to finish; its exit code."""
        assert self.process is not None
        try:
            return self.process.wait(self.timeout_s + 10)
        except subprocess.TimeoutExpired:
            self.stop()
            raise AssertionError(f"{self.name}: SIPp did not stop\n{self.report()}") from None

    def stop(self) -> None:
        """Stop this SIPp by its PID if it still runs (SIGTERM, then SIGKILL)."""
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(5)

    def succeeded(self, switch_log: str = "") -> Sipp:
        """Wait and require every call of the scenario to have passed (exit code 0)."""
        code = self.wait()
        assert code == 0, f"{self.name}: SIPp exited {code}\n{self.report()}\n{switch_log[-6000:]}"
        return self

    def messages(self) -> list[SipMessage]:
        return parse_trace(self.dir / "messages.log")

    def received(self, method_or_status: str | int) -> list[SipMessage]:
        """Messages received that are requests of this method or responses with this status."""
        return [
            message
            for message in self.messages()
            if message.direction == "received"
            and (message.method == method_or_status or message.status == method_or_status)
        ]

    def sent(self, method_or_status: str | int) -> list[SipMessage]:
        return [
            message
            for message in self.messages()
            if message.direction == "sent"
            and (message.method == method_or_status or message.status == method_or_status)
        ]

    def actions(self) -> str:
        path = self.dir / "actions.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logged(self, word: str) -> list[str]:
        """The Call-IDs of ``<log message="WORD [call_id]"/>`` lines of the scenario."""
        return [line.split()[1] for line in self.actions().splitlines() if line.startswith(word)]

    def successful_calls(self) -> int:
        rows = list(
            csv.DictReader((self.dir / "stats.csv").read_text().splitlines(), delimiter=";")
        )
        return int(rows[-1]["SuccessfulCall(C)"]) if rows else 0

    def report(self) -> str:
        """What went wrong, for an assertion message: errors, and the message flow."""
        parts = [f"command: {' '.join(self.command())}"]
        for name in ("errors.log", "stdout.log"):
            path = self.dir / name
            if path.exists():
                parts.append(f"--- {name}\n{path.read_text(errors='replace')[-4000:]}")
        flow = "\n".join(message.summary() for message in self.messages())
        parts.append(f"--- message flow\n{flow}")
        return "\n".join(parts)

    def __enter__(self) -> Sipp:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class Silent:
    """A UDP socket where a gateway that must not be tried would listen; it never answers."""

    def __init__(self, ip: str, port: int) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((ip, port))
        self.sock.setblocking(False)
        self.port = port

    def received(self) -> list[bytes]:
        """Every datagram that arrived so far (their start lines tell what the switch sent)."""
        got = []
        while True:
            try:
                got.append(self.sock.recv(65535))
            except BlockingIOError:
                return got

    def close(self) -> None:
        self.sock.close()


# -- the switch's API, as an operator ---------------------------------------------------------


class Operator:
    """An admin session on the switch's HTTP API: create the entities of a call test, set
    parameters, read CDRs."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=10.0)
        login = self.client.post(
            "/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}
        )
        assert login.status_code == 200, login.text
        self.client.headers["Authorization"] = f"Bearer {login.json()['access_token']}"
        self.since = datetime.now(UTC) - timedelta(minutes=5)

    def create(self, path: str, **body: Any) -> dict[str, Any]:
        answer = self.client.post(path, json=body)
        assert answer.status_code == 201, f"POST {path} {body}: {answer.status_code} {answer.text}"
        result: dict[str, Any] = answer.json()
        return result

    def account(self, code: str = "CUSTOMER") -> dict[str, Any]:
        """A postpaid account with ample credit: these tests are not about billing."""
        return self.create(
            "/accounts",
            code=code,
            currency="USD",
            billing_mode="postpaid",
            credit_limit="1000000",
        )

    def trunk(self, account_id: int, name: str = "TRUNK", source: str = TRUNK_IP) -> dict[str, Any]:
        return self.create(
            "/mapping-gateways", name=name, account_id=account_id, source_ips=[f"{source}/32"]
        )

    def carrier(
        self, name: str, port: int, prefixes: Sequence[str], **fields: Any
    ) -> dict[str, Any]:
        return self.create(
            "/routing-gateways",
            name=name,
            host=CARRIER_IP,
            port=port,
            prefixes=list(prefixes),
            **fields,
        )

    def phone(self, number: str, account_id: int, password: str) -> dict[str, Any]:
        return self.create("/phones", number=number, account_id=account_id, password=password)

    def set_param(self, name: str, value: str) -> None:
        answer = self.client.put(f"/params/{name}", json={"value": value})
        assert answer.status_code == 200, f"PUT /params/{name}={value}: {answer.text}"

    def cdrs(self) -> list[dict[str, Any]]:
        """Every CDR of calls started since this session began (newest first)."""
        end = datetime.now(UTC) + timedelta(minutes=5)
        params: dict[str, Any] = {"start": self.since.isoformat(), "end": end.isoformat()}
        items: list[dict[str, Any]] = []
        while True:
            answer = self.client.get("/cdrs", params=params)
            assert answer.status_code == 200, answer.text
            page = answer.json()
            items.extend(page["items"])
            if not page["next_cursor"]:
                return items
            params["cursor"] = page["next_cursor"]

    def cdrs_of(self, call_ids: Sequence[str], timeout: float = 5.0) -> dict[str, dict[str, Any]]:
        """The CDRs of these caller Call-IDs, waiting (bounded) for all of them to be written;
        returns what is there at the deadline so the assertion can say what is missing."""
        deadline = time.monotonic() + timeout
        while True:
            found = {cdr["call_id"]: cdr for cdr in self.cdrs() if cdr["call_id"] in call_ids}
            if len(found) == len(set(call_ids)) or time.monotonic() > deadline:
                return found
            time.sleep(0.1)

    def cdr(self, call_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """The one CDR of caller Call-ID ``call_id``."""
        found = self.cdrs_of([call_id], timeout)
        assert call_id in found, f"no CDR for Call-ID {call_id}; CDRs: {self.cdrs()}"
        return found[call_id]

    def close(self) -> None:
        self.client.close()


def ports(count: int, free: Any, ip: str) -> Iterator[int]:
    """``count`` distinct free ports on ``ip`` (``free`` is the ``free_port_for`` fixture)."""
    seen: set[int] = set()
    while len(seen) < count:
        port = int(free(ip))
        if port not in seen:
            seen.add(port)
            yield port
