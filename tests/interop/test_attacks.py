"""Real attack tools against the running switch (issue 6 §2), bounded in count and time.

sipvicious (Debian's 0.3.3: svmap, svwar, svcrack) scans, enumerates extensions and guesses a
phone's password; SIPp floods the switch with INVITEs at ten times its documented capacity while
a second SIPp places legitimate calls from a customer's trunk. The switch is a subprocess
configured only through its HTTP API, one per test, so bans and counts never leak between tests.

Each attacker has its own loopback address (127.0.0.5x-9x; any 127/8 address works on Linux),
so what the switch does to one source is read from ``GET /api/v1/security/bans`` by that key.

The tools run through a small launcher (``_SIPVICIOUS``) for two reasons, neither of which
changes what they send:

* svwar and svcrack 0.3.3 parse ``-b`` but never hand it to their scanner class (svmap does),
  so they would all send from 127.0.0.1; the launcher passes it on.
* Every datagram a tool sends or receives is written to stderr as one ``SV-TRACE`` line
  (direction, whether it carries credentials, the From user, the start line), so a test counts
  what the switch answered instead of inferring it from the tool's summary.

Each defence is shown on its own: the sipvicious tests other than the fingerprint one empty
SS_SCANNER_USER_AGENTS (sipvicious announces itself as ``friendly-scanner``, which alone would
hide the switch from it).
"""

from __future__ import annotations

import csv
import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from callkit import ADMIN_PASSWORD, CARRIER_IP, SCENARIOS, SIPP, TRUNK_IP, Operator, Sipp

SIPVICIOUS_DIR = Path(os.path.realpath(shutil.which("svmap") or "/usr/bin/svmap")).parent
"""Where Debian keeps the ``sipvicious`` package (its scripts put their own directory on
``sys.path``; the package is not on the system Python's path)."""
SYSTEM_PYTHON = "/usr/bin/python3"
TOOL_TIMEOUT_S = 40
"""A bound on any one tool run (svcrack's own wait after its last answer is 10 s)."""

PHONE, PHONE_PASSWORD = "1001", "Right-Pass-1001"
WRONG_PASSWORDS = ["123456", "password", "1001", "admin", "qwerty"]
MAX_RETRY = 3

_SIPVICIOUS = r"""
import functools, re, socket, sys, time

tool, args = sys.argv[1], sys.argv[2:]
_real = socket.socket


def _trace(direction, data):
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data)
    head = text.split("\r\n", 1)[0].split("\n", 1)[0]
    auth = "auth" if re.search(r"(?im)^(proxy-)?authorization\s*:", text) else "-"
    found = re.search(r"(?im)^(?:from|f)\s*:[^\r\n]*?sips?:([^@>;\s]+)@", text)
    user = found.group(1) if found else "?"
    print(f"SV-TRACE {time.monotonic():.3f} {direction} {auth} {user} {head}",
          file=sys.stderr, flush=True)


class TracedSocket(_real):
    def sendto(self, data, *rest):
        _trace("sent", data)
        return super().sendto(data, *rest)

    def recvfrom(self, *rest):
        data, peer = super().recvfrom(*rest)
        _trace("recv", data)
        return data, peer


socket.socket = TracedSocket
module = __import__("sipvicious." + tool, fromlist=[tool])
if "-b" in args:
    bind = args[args.index("-b") + 1]
    for name in ("TakeASip", "ASipOfRedWine"):
        cls = getattr(module, name, None)
        if cls is not None:
            cls.__init__ = functools.partialmethod(cls.__init__, bindingip=bind)
sys.argv = [tool, *args]
sys.exit(module.main())
"""


# -- sipvicious ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Packet:
    """One datagram a sipvicious tool sent or received."""

    at: float
    direction: str
    credentials: bool
    user: str
    start_line: str

    @property
    def status(self) -> int | None:
        if self.start_line.startswith("SIP/2.0 "):
            return int(self.start_line.split()[1])
        return None


@dataclass(frozen=True)
class ToolRun:
    command: list[str]
    returncode: int
    stdout: str
    stderr: str

    @property
    def packets(self) -> list[Packet]:
        found = []
        for line in self.stderr.splitlines():
            if line.startswith("SV-TRACE "):
                _, at, direction, auth, user, start_line = line.split(" ", 5)
                found.append(Packet(float(at), direction, auth == "auth", user, start_line))
        return found

    def sent(self) -> list[Packet]:
        return [p for p in self.packets if p.direction == "sent"]

    def answers(self, status: int | None = None) -> list[Packet]:
        """Responses the tool received (with ``status`` only)."""
        return [
            p
            for p in self.packets
            if p.direction == "recv" and p.status is not None and status in (None, p.status)
        ]

    @property
    def found_nothing(self) -> bool:
        """The tool's own verdict: no table of results, and its "found nothing" line."""
        return "found nothing" in self.stderr and "+====" not in self.stdout

    def report(self) -> str:
        return (
            f"$ {' '.join(self.command[3:])} (exit {self.returncode})\n--- stdout\n"
            f"{self.stdout[-3000:]}\n--- stderr\n{self.stderr[-5000:]}"
        )


def sipvicious(tool: str, *args: str) -> ToolRun:
    """Run one sipvicious tool to its end (bounded: killed by its PID after TOOL_TIMEOUT_S)."""
    command = [SYSTEM_PYTHON, "-c", _SIPVICIOUS, tool, *args]
    env = {**os.environ, "PYTHONPATH": str(SIPVICIOUS_DIR), "PYTHONDONTWRITEBYTECODE": "1"}
    try:
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=TOOL_TIMEOUT_S,
            env=env,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as timeout:  # run() has killed it by its PID
        raise AssertionError(f"{tool} did not finish in {TOOL_TIMEOUT_S} s: {timeout}") from None
    return ToolRun(command, done.returncode, done.stdout, done.stderr)


# -- the switch ----------------------------------------------------------------------------------


@dataclass
class Target:
    switch: Any
    api: Operator
    account: dict[str, Any]
    free_port: Callable[[str], int]

    @property
    def port(self) -> str:
        return str(self.switch.sip_port)

    def bans(self) -> list[dict[str, Any]]:
        answer = self.api.client.get("/security/bans")
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def entry(self, type_: str, key: str) -> dict[str, Any] | None:
        found = [e for e in self.bans() if e["type"] == type_ and e["key"] == key]
        return found[0] if found else None

    def lift(self, type_: str, key: str) -> int:
        return self.api.client.delete(f"/security/bans/{type_}/{key}").status_code


@pytest.fixture
def target(launch_switch: Any, free_port_for: Any) -> Iterator[Target]:
    """A switch with one postpaid account and phone 1001 (created through the API)."""
    http = f"127.0.0.1:{free_port_for('127.0.0.1')}"
    switch = launch_switch(
        {"SOFTSWITCH_ADMIN_PASSWORD": ADMIN_PASSWORD, "SOFTSWITCH_HTTP_LISTEN": http}
    )
    api = Operator(f"http://{http}/api/v1")
    account = api.account()
    api.phone(PHONE, account["id"], PHONE_PASSWORD)
    yield Target(switch, api, account, free_port_for)
    api.close()


def probe(target: Target, source: str, options: Callable[..., bytes]) -> str | None:
    """The start line of the answer to one plain OPTIONS (no scanner User-Agent) from
    ``source``, or None when none came within a second."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((source, 0))
        sock.settimeout(1.0)
        port = int(sock.getsockname()[1])
        switch = target.switch
        address = (switch.host, switch.sip_port)
        sock.sendto(options(f"{switch.host}:{switch.sip_port}", source, port), address)
        try:
            return sock.recv(65535).split(b"\r\n", 1)[0].decode()
        except TimeoutError:
            return None


# -- svmap -------------------------------------------------------------------------------------


def svmap(target: Target, source: str) -> ToolRun:
    port = str(target.free_port(source))
    return sipvicious("svmap", "-b", source, "-P", port, "-p", target.port, target.switch.host)


def test_svmap_finds_nothing_while_reply_unauthorized_is_off(target: Target) -> None:
    """SS_REPLY_UNAUTHORIZED Off (the default): svmap's OPTIONS from an unknown source gets no
    answer at all, so the scan lists no device. The same scan finds the switch once the
    parameter is On: the silence is that parameter's doing (no scanner fingerprint, no ban)."""
    target.api.set_param("SS_SCANNER_USER_AGENTS", "")

    hidden = svmap(target, "127.0.0.51")
    assert hidden.sent(), hidden.report()
    assert hidden.answers() == [], hidden.report()
    assert hidden.found_nothing, hidden.report()
    assert target.bans() == [], "silence must come from SS_REPLY_UNAUTHORIZED, not from a ban"

    target.api.set_param("SS_REPLY_UNAUTHORIZED", "On")
    seen = svmap(target, "127.0.0.53")
    assert [p.status for p in seen.answers()] == [200], seen.report()
    assert f"{target.switch.host}:{target.port}" in seen.stdout, seen.report()
    assert "softswitch" in seen.stdout, seen.report()


def test_scanner_user_agent_alone_hides_the_switch_and_bans_the_source(
    target: Target, make_options: Callable[..., bytes]
) -> None:
    """With SS_REPLY_UNAUTHORIZED On (a plain OPTIONS is answered) and the default
    SS_SCANNER_USER_AGENTS, svmap's ``friendly-scanner`` packets are dropped unanswered and
    its address banned (type ban, reason scanner): nothing from it is answered any more, until
    an operator lifts the ban (204), after which it is answered again."""
    scanner = "127.0.0.52"
    target.api.set_param("SS_REPLY_UNAUTHORIZED", "On")
    assert probe(target, scanner, make_options) == "SIP/2.0 200 OK"

    scan = svmap(target, scanner)
    assert scan.sent(), scan.report()
    assert scan.answers() == [], scan.report()
    assert scan.found_nothing, scan.report()

    ban = target.entry("ban", scanner)
    assert ban is not None, target.bans()
    assert ban["reason"] == "scanner" and ban["dropped"] >= 1, ban
    assert f"security: banned {scanner}" in target.switch.log()
    assert probe(target, scanner, make_options) is None, "a banned source must get no answer"

    assert target.lift("ban", scanner) == 204
    assert target.entry("ban", scanner) is None
    assert target.lift("ban", scanner) == 404
    assert probe(target, scanner, make_options) == "SIP/2.0 200 OK"


# -- svwar -------------------------------------------------------------------------------------


def svwar(target: Target, source: str, method: str, extensions: str, *flags: str) -> ToolRun:
    port = str(target.free_port(source))
    return sipvicious(
        "svwar",
        *("-b", source, "-P", port, "-p", target.port, "-m", method, f"-e{extensions}"),
        *("--maximumtime", "3", *flags, target.switch.host),
    )


def test_svwar_learns_no_extension(target: Target) -> None:
    """Phone 1001 exists; svwar scans 1000-1010 around it. REGISTER is challenged alike for
    every username, so svwar refuses to scan, and with --force the real extension gets the very
    answer a random name got (svwar lists nothing). INVITE and OPTIONS from an unknown source
    get no answer at all (SS_REPLY_UNAUTHORIZED Off; INVITEs are never challenged)."""
    target.api.set_param("SS_SCANNER_USER_AGENTS", "")

    register = svwar(target, "127.0.0.61", "REGISTER", "1000-1010")
    assert "authentication request for an unknown extension" in register.stderr, register.report()
    assert [p.status for p in register.answers()] == [401], register.report()
    assert register.found_nothing, register.report()

    # 1001 first: svwar compares each answer with the one a random name got.
    forced = svwar(target, "127.0.0.62", "REGISTER", "1001,1000,1002-1010", "--force")
    answers = {p.user: p.start_line for p in forced.answers()}
    assert PHONE in answers and len(answers) >= 2, forced.report()
    assert set(answers.values()) == {"SIP/2.0 401 Unauthorized"}, forced.report()
    assert forced.found_nothing, forced.report()

    for source, method in (("127.0.0.63", "INVITE"), ("127.0.0.64", "OPTIONS")):
        scan = svwar(target, source, method, "1000-1010")
        assert scan.sent(), scan.report()
        assert scan.answers() == [], scan.report()
        assert scan.found_nothing, scan.report()
    assert target.bans() == []


# -- svcrack -----------------------------------------------------------------------------------


def svcrack(target: Target, source: str, words: list[str], tmp_path: Path, wait: int) -> ToolRun:
    dictionary = tmp_path / f"words-{source}.txt"
    dictionary.write_text("\n".join(words) + "\n")
    port = str(target.free_port(source))
    return sipvicious(
        "svcrack",
        *("-b", source, "-P", port, "-p", target.port, "-u", PHONE, "-d", str(dictionary)),
        *("--maximumtime", str(wait), target.switch.host),
    )


def cracked(run: ToolRun) -> bool:
    """Whether svcrack printed the password it found (its table of results)."""
    return PHONE_PASSWORD in run.stdout


def test_svcrack_is_suspended_after_max_retry_and_an_operator_can_lift_it(
    target: Target, tmp_path: Path
) -> None:
    """SS_AUTHENTICATION_MAX_RETRY 3: svcrack's first three wrong passwords are answered
    (401 challenge, then 403), then its address is suspended (type suspension, key the address)
    and nothing more is answered, so the right password, sixth in its list, is never tried
    against a challenge and never accepted. Lifting the suspension (204) lets the address in
    again: the right password then registers."""
    attacker = "127.0.0.66"
    target.api.set_param("SS_SCANNER_USER_AGENTS", "")
    target.api.set_param("SS_AUTHENTICATION_MAX_RETRY", str(MAX_RETRY))

    attack = svcrack(target, attacker, [*WRONG_PASSWORDS, PHONE_PASSWORD], tmp_path, wait=2)
    assert not cracked(attack), attack.report()
    assert attack.answers(200) == [], attack.report()
    # Every attempt with credentials that was answered got 403; then silence. svcrack sends a
    # fresh unauthenticated REGISTER whenever it waits 5 ms without an answer, so the number
    # of 401 challenges (and of attempts it sent into the silence) varies with load.
    assert len(attack.answers(403)) == MAX_RETRY, attack.report()
    assert len(attack.answers(401)) >= MAX_RETRY, attack.report()
    assert len([p for p in attack.sent() if p.credentials]) >= MAX_RETRY, attack.report()
    last = attack.answers()[-1]
    assert last.status == 403, attack.report()
    silenced = [p for p in attack.sent() if p.at > last.at]
    assert silenced, attack.report()

    log = target.switch.log()
    refused = re.findall(
        rf"REGISTER for '{PHONE}' from .*host='{re.escape(attacker)}'.* refused: wrong password",
        log,
    )
    assert len(refused) == MAX_RETRY, refused
    assert f"security: suspended {attacker} for 180 s after {MAX_RETRY} failed" in log
    suspension = target.entry("suspension", attacker)
    assert suspension is not None, target.bans()
    assert suspension["reason"] == "auth" and suspension["remaining_s"] > 100, suspension
    print(
        f"svcrack: {len(attack.sent())} requests sent, {len(attack.answers())} answered "
        f"({len(attack.answers(401))} x 401, {len(attack.answers(403))} x 403), "
        f"{len(silenced)} sent after the last answer and never answered"
    )

    assert target.lift("suspension", attacker) == 204
    assert target.entry("suspension", attacker) is None
    again = svcrack(target, attacker, [PHONE_PASSWORD], tmp_path, wait=2)
    assert cracked(again), again.report()


def test_svcrack_suspension_ends_after_the_suspend_time(target: Target, tmp_path: Path) -> None:
    """With SS_AUTHENTICATION_FAILED_SUSPEND 2 s, svcrack is ignored for those 2 s after its
    third wrong password and then answered again; the count starts afresh, so it reaches the
    right password (the wrong ones left stay below the limit). Shows the suspension is a pause
    that ends, and that svcrack kept sending while it lasted."""
    attacker = "127.0.0.67"
    target.api.set_param("SS_SCANNER_USER_AGENTS", "")
    target.api.set_param("SS_AUTHENTICATION_MAX_RETRY", str(MAX_RETRY))
    target.api.set_param("SS_AUTHENTICATION_FAILED_SUSPEND", "2")

    attack = svcrack(target, attacker, [*WRONG_PASSWORDS, PHONE_PASSWORD], tmp_path, wait=6)
    assert cracked(attack), attack.report()
    assert MAX_RETRY <= len(attack.answers(403)) <= len(WRONG_PASSWORDS), attack.report()
    assert f"security: suspended {attacker} for 2 s" in target.switch.log()

    third = attack.answers(403)[MAX_RETRY - 1]
    after = [p for p in attack.answers() if p.at > third.at]
    assert after, attack.report()
    pause = after[0].at - third.at
    silenced = [p for p in attack.sent() if third.at < p.at < after[0].at]
    assert pause >= 1.0 and silenced, f"pause {pause:.2f} s\n{attack.report()}"
    print(f"svcrack: suspended {pause:.2f} s, {len(silenced)} requests dropped meanwhile")


# -- INVITE flood ------------------------------------------------------------------------------

FLOOD_IP = "127.0.0.77"
FLOOD_RATE = 6000
"""Ten times the ~600 calls/s docs/performance.md measured (at 600 the queue already fills)."""
FLOOD_CALLS = 60_000
LEGIT_CALLS = 300
LEGIT_RATE = 30
"""Calls/s from the trunk: its 3 packets a call and the carrier's 4 exceed SS_FLOOD_RATE
(50/s) within the run, so the trunk's whitelist entry and the carrier's gateway exemption
(SS_FLOOD_TRUST_GATEWAYS) are what keeps them in."""


def _stats(path: Path) -> dict[str, str]:
    rows = list(csv.DictReader(path.read_text().splitlines(), delimiter=";"))
    assert rows, f"no statistics in {path}"
    return rows[-1]


def test_invite_flood_is_banned_while_legitimate_calls_complete(
    target: Target, tmp_path: Path
) -> None:
    """A SIPp INVITE flood from one source at 10x the switch's capacity while a second SIPp
    places calls from the customer's (whitelisted) trunk to a carrier: at least 99 % of the
    legitimate calls complete, the flood source is banned for flooding with the rest of its
    packets dropped before parsing (one log line, not one per packet), only about a burst's
    worth of its INVITEs reaches call control, and the API answers throughout."""
    api, switch = target.api, target.switch
    api.trunk(target.account["id"])
    whitelist = api.client.post(
        "/security/lists", json={"list_type": "whitelist", "kind": "ip", "value": "127.0.0.2/32"}
    )
    assert whitelist.status_code == 201, whitelist.text
    carrier_port = target.free_port(CARRIER_IP)
    api.carrier("CARRIER", carrier_port, ["44"])
    workdir = tmp_path / "sipp"
    callee, remote = "442071234567", f"{switch.host}:{switch.sip_port}"

    carrier = Sipp(
        "carrier", "call_uas_answer.xml", workdir, CARRIER_IP, carrier_port, calls=LEGIT_CALLS
    )
    caller = Sipp(
        "caller",
        "call_uac.xml",
        workdir,
        TRUNK_IP,
        target.free_port(TRUNK_IP),
        remote,
        calls=LEGIT_CALLS,
        service=callee,
        timeout_s=40,
        extra=["-r", str(LEGIT_RATE), "-l", "100"],
    )
    flood_dir = workdir / "flood"
    flood_dir.mkdir(parents=True)
    flood_command = [
        SIPP,
        remote,
        *("-sf", str(SCENARIOS / "attack_flood.xml"), "-s", callee, "-t", "u1"),
        *("-i", FLOOD_IP, "-p", str(target.free_port(FLOOD_IP))),
        *("-r", str(FLOOD_RATE), "-rp", "1000", "-m", str(FLOOD_CALLS), "-nr"),
        *("-timeout", "40s", "-nostdin", "-trace_stat", "-stf", str(flood_dir / "stats.csv")),
    ]
    polls: list[int | str] = []
    flood: subprocess.Popen[bytes] | None = None
    with carrier, caller:
        try:
            time.sleep(0.5)  # the legitimate calls are under way when the flood begins
            with (flood_dir / "stdout.log").open("wb") as out:
                flood = subprocess.Popen(
                    flood_command, cwd=flood_dir, stdout=out, stderr=subprocess.STDOUT
                )
            deadline = time.monotonic() + 50
            while flood.poll() is None and time.monotonic() < deadline:
                try:
                    polls.append(api.client.get("/monitor", timeout=5.0).status_code)
                except Exception as error:  # recorded, and asserted below
                    polls.append(repr(error))
                time.sleep(0.5)
            assert flood.wait(10) == 0, (flood_dir / "stdout.log").read_text()[-3000:]
        finally:
            if flood is not None and flood.poll() is None:
                flood.kill()
                flood.wait(5)
        caller.wait()
        carrier.wait()

    sent = _stats(flood_dir / "stats.csv")
    flood_rate = float(sent["CallRate(C)"])
    assert int(sent["OutgoingCall(C)"]) == FLOOD_CALLS, sent
    assert flood_rate >= 1000, f"SIPp reached only {flood_rate} INVITE/s: that is no flood"

    completed = caller.successful_calls()
    assert completed >= 0.99 * LEGIT_CALLS, f"{completed}/{LEGIT_CALLS}\n{caller.report()}"

    assert len(polls) >= 5 and all(status == 200 for status in polls), polls

    ban = target.entry("ban", FLOOD_IP)
    assert ban is not None, target.bans()
    assert ban["reason"] == "flood", ban
    assert ban["dropped"] >= FLOOD_CALLS // 2, ban
    assert target.entry("ban", TRUNK_IP) is None and target.entry("ban", CARRIER_IP) is None
    assert switch.log().count(f"security: banned {FLOOD_IP}") == 1

    monitor = api.client.get("/monitor").json()
    flood_calls = monitor["calls_total"] - LEGIT_CALLS
    assert flood_calls <= 400, monitor  # SS_FLOOD_BURST (200) and what refilled meanwhile
    print(
        f"flood: SIPp reached {flood_rate:.0f} INVITE/s ({FLOOD_CALLS} sent), "
        f"{ban['dropped']} dropped at the gate, {flood_calls} reached call control; "
        f"legitimate calls {completed}/{LEGIT_CALLS} ({100 * completed / LEGIT_CALLS:.1f} %); "
        f"{len(polls)} monitor polls all 200"
    )
