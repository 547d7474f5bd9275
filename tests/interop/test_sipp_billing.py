"""Real-time billing over real sockets (issue 5 §4): SIPp calls through the switch, money read
back from the HTTP API.

Each test starts its own switch subprocess, configured only through the API as admin (rate
tables and rates, agents, accounts, payments, parameters), with SIPp as the customer's trunk
on 127.0.0.2 and carriers on 127.0.0.3, like ``test_sipp_calls.py``. Rates are made so that
"N minutes of credit" is a few seconds of real time: 1/1 billing periods at 0.60 per minute
make a cent a second, and SERVER_BILLING_PREVENT_OVERDRAFT_ADVANCE_TIME=0 makes a call reserve
only its first period up front. Where a fee must be exact, the billing periods are long enough
(6/6, 60/60) that every hold time the test can produce is billed the same.

What is checked is what the operator sees: a CDR's money fields, an account's ``balance`` and
``reserved``, its ledger, and, after a crash, ``softswitch billing verify``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from callkit import ADMIN_PASSWORD, CARRIER_IP, TRUNK_IP, Operator, Silent, Sipp

CUT = "bill_uac_cut.xml"
EITHER = "bill_uac_answered_or_refused.xml"
ANSWERED = "call_uac.xml"
FORBIDDEN = "call_uac_forbidden.xml"
UNAVAILABLE = "call_uac_unavailable.xml"
CARRIER = "call_uas_answer.xml"

SETTLE_TIMEOUT_S = 10.0
"""How long a test waits (bounded) for a CDR to be written and its call settled."""


def money(value: Any) -> Decimal:
    """An amount as the API shows it (decimal text) as a Decimal; never through float."""
    assert isinstance(value, str), f"money must travel as text, not {value!r}"
    return Decimal(value)


# -- the switch's API, with the billing entities ----------------------------------------------


class Books(Operator):
    """The admin session of ``callkit`` plus rate tables, agents, accounts and their money."""

    def rate_table(self, name: str, rates: dict[str, dict[str, Any]]) -> dict[str, Any]:
        """A USD rate table with ``rates`` (prefix: rate fields, ``rate_per_minute`` first)."""
        table = self.create("/rate-tables", name=name, currency="USD")
        for prefix, fields in rates.items():
            self.create(f"/rate-tables/{table['id']}/rates", prefix=prefix, **fields)
        return table

    def customer(self, code: str, **fields: Any) -> dict[str, Any]:
        """An account (prepaid unless ``billing_mode`` says otherwise), in USD."""
        return self.create("/accounts", code=code, currency="USD", **fields)

    def patch(self, path: str, **body: Any) -> dict[str, Any]:
        answer = self.client.patch(path, json=body)
        assert answer.status_code == 200, f"PATCH {path} {body}: {answer.status_code} {answer.text}"
        result: dict[str, Any] = answer.json()
        return result

    def pay(self, account_id: int, amount: str) -> None:
        """Top up: a prepaid balance is set by a payment, never by editing the account."""
        self.create(f"/accounts/{account_id}/payments", amount=amount, method="cash")

    def money_of(self, account_id: int) -> tuple[Decimal, Decimal]:
        """The account's (balance, reserved) as stored now."""
        answer = self.client.get(f"/accounts/{account_id}")
        assert answer.status_code == 200, answer.text
        found = answer.json()
        return money(found["balance"]), money(found["reserved"])

    def ledger(self, account_id: int) -> list[dict[str, Any]]:
        """Every ledger row of the account, oldest first."""
        rows: list[dict[str, Any]] = []
        page = 1
        while True:
            answer = self.client.get(
                f"/accounts/{account_id}/ledger", params={"page": page, "page_size": 100}
            )
            assert answer.status_code == 200, answer.text
            found = answer.json()
            rows.extend(found["items"])
            if len(rows) >= found["total"] or not found["items"]:
                return sorted(rows, key=lambda row: row["id"])
            page += 1

    def settled(self, account_id: int, charges: int) -> tuple[Decimal, Decimal]:
        """(balance, reserved) once the account holds no credit and has ``charges`` call
        charges in its ledger (bounded wait: settling follows the CDR write)."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:
            balance, reserved = self.money_of(account_id)
            booked = [r for r in self.ledger(account_id) if r["kind"] == "call_charge"]
            if (reserved == 0 and len(booked) >= charges) or time.monotonic() > deadline:
                return balance, reserved
            time.sleep(0.1)


# -- one switch and its SIPp processes ---------------------------------------------------------


@dataclass
class Bed:
    """One switch, its API session, and the SIPp processes and listeners of a test (the pattern
    of ``test_sipp_calls.Bed``, without its ample-credit account: each test makes its own)."""

    switch: Any
    api: Books
    workdir: Path
    free_port: Callable[[str], int]
    processes: list[Sipp] = field(default_factory=list)
    listeners: list[Silent] = field(default_factory=list)
    used: set[tuple[str, int]] = field(default_factory=set)

    @property
    def target(self) -> str:
        return f"{self.switch.host}:{self.switch.sip_port}"

    def port(self, ip: str) -> int:
        while True:
            port = self.free_port(ip)
            if (ip, port) not in self.used:
                self.used.add((ip, port))
                return port

    def trunk(self, account_id: int) -> dict[str, Any]:
        """The customer's trunk: calls from 127.0.0.2 are ``account_id``'s."""
        return self.api.trunk(account_id)

    def carrier(self, name: str, port: int, calls: int = 1, **kw: Any) -> Sipp:
        """A carrier SIPp that answers and waits for the BYE, listening when this returns."""
        sipp = Sipp(name, CARRIER, self.workdir, CARRIER_IP, port, calls=calls, **kw)
        self.processes.append(sipp)
        return sipp.start()

    def call(self, name: str, scenario: str, callee: str, **kw: Any) -> Sipp:
        """A customer SIPp (UAC) from the trunk address to the switch, started."""
        sipp = Sipp(
            name,
            scenario,
            self.workdir,
            TRUNK_IP,
            self.port(TRUNK_IP),
            self.target,
            service=callee,
            **kw,
        )
        self.processes.append(sipp)
        return sipp.start()

    def silent(self, port: int | None = None) -> Silent:
        """A carrier address that must not be sent anything; it records what arrives."""
        listener = Silent(CARRIER_IP, port if port is not None else self.port(CARRIER_IP))
        self.listeners.append(listener)
        return listener

    def ok(self, sipp: Sipp) -> Sipp:
        return sipp.succeeded(self.switch.log())

    def close(self) -> None:
        for sipp in self.processes:
            sipp.stop()
        for listener in self.listeners:
            listener.close()
        self.api.close()


def start_bed(
    launch_switch: Any, free_port_for: Any, workdir: Path, data_dir: Path | None = None
) -> Bed:
    http = f"127.0.0.1:{free_port_for('127.0.0.1')}"
    env = {"SOFTSWITCH_ADMIN_PASSWORD": ADMIN_PASSWORD, "SOFTSWITCH_HTTP_LISTEN": http}
    if data_dir is not None:
        env["SOFTSWITCH_DATA_DIR"] = str(data_dir)
    switch = launch_switch(env)
    return Bed(switch, Books(f"http://{http}/api/v1"), workdir, free_port_for)


@pytest.fixture
def bed(launch_switch: Any, free_port_for: Any, tmp_path: Path) -> Iterator[Bed]:
    test_bed = start_bed(launch_switch, free_port_for, tmp_path / "sipp")
    yield test_bed
    test_bed.close()


def call_id(sipp: Sipp) -> str:
    sent = sipp.sent("INVITE")
    assert sent, f"{sipp.name} sent no INVITE\n{sipp.report()}"
    return sent[0].call_id


def start_lines(listener: Silent) -> list[str]:
    """What the switch sent to a carrier that must not be tried (start lines)."""
    return [data.split(b"\r\n", 1)[0].decode(errors="replace") for data in listener.received()]


def per_second(rate: str) -> dict[str, Any]:
    """Rate fields billed to the second (1/1 periods)."""
    return {"rate_per_minute": rate, "initial_increment": 1, "subsequent_increment": 1}


def per_minute(rate: str) -> dict[str, Any]:
    """Rate fields billed by the whole minute (60/60): any call of 1-60 s costs ``rate``."""
    return {"rate_per_minute": rate, "initial_increment": 60, "subsequent_increment": 60}


def never_below(rows: Sequence[dict[str, Any]], floor: Decimal) -> list[str]:
    """Ledger rows whose ``balance_after`` is below ``floor``."""
    return [
        f"{row['kind']} {row['amount']} -> {row['balance_after']}"
        for row in rows
        if money(row["balance_after"]) < floor
    ]


# -- 1. prepaid: the balance pays for exactly N seconds ---------------------------------------


def test_prepaid_call_is_cut_when_its_balance_is_spent(bed: Bed) -> None:
    """0.20 at 0.60/min billed per second is exactly 20 s. With no advance time the call
    reserves its first second, then as much as the rest pays for; the customer would hold a
    minute but the switch clears both legs at 20 s (BalanceExhausted), charges exactly 0.20,
    and the balance ends at 0, never below."""
    bed.api.set_param("SERVER_BILLING_PREVENT_OVERDRAFT_ADVANCE_TIME", "0")
    table = bed.api.rate_table("PREPAID-1S", {"44": per_second("0.60")})
    account = bed.api.customer("PREPAID", rate_table_id=table["id"])
    bed.api.pay(account["id"], "0.20")
    bed.trunk(account["id"])
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-44", port, ["44"])
    carrier = bed.carrier("carrier", port, timeout_s=40)

    caller = bed.ok(bed.call("caller", CUT, "442071234567", timeout_s=40))
    bed.ok(carrier)

    assert caller.logged("cut"), "the switch did not BYE the caller"
    assert carrier.received("BYE"), "the switch did not BYE the carrier"
    cdr = bed.api.cdr(call_id(caller))
    assert cdr["termination_reason"] == "BalanceExhausted", cdr
    assert cdr["hangup_side"] == "system"
    assert 19000 <= cdr["hold_time_ms"] <= 21000, cdr["hold_time_ms"]
    assert money(cdr["fee"]) == Decimal("0.20"), cdr
    balance, reserved = bed.api.settled(account["id"], charges=1)
    assert (balance, reserved) == (Decimal(0), Decimal(0))
    ledger = bed.api.ledger(account["id"])
    assert [(row["kind"], money(row["amount"])) for row in ledger] == [
        ("top_up", Decimal("0.20")),
        ("call_charge", Decimal("-0.20")),
    ]
    assert never_below(ledger, Decimal(0)) == []


# -- 2. many calls share one balance ----------------------------------------------------------

LOAD_CALLS = 200


def test_two_hundred_calls_never_spend_more_than_the_balance(bed: Bed) -> None:
    """0.30 at 0.01/min billed per minute with the default advance time (1 min): each call
    must reserve 0.02 (its first minute and one more) and is charged 0.01. 200 calls offered
    at 50 per second, each held 2 s, so the account's credit is fought over; every call is
    either answered or refused 403 CallerBalanceInsufficient. While they run the balance never
    goes below 0 and what is reserved never exceeds it; afterwards the fees add up to what the
    balance lost and to no more than the 0.30 there was."""
    table = bed.api.rate_table("CENT-A-MINUTE", {"44": per_minute("0.01")})
    account = bed.api.customer("PREPAID-LOAD", rate_table_id=table["id"])
    bed.api.pay(account["id"], "0.30")
    bed.trunk(account["id"])
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-44", port, ["44"])
    carrier = bed.carrier("carrier", port, calls=LOAD_CALLS)

    caller = bed.call(
        "load",
        EITHER,
        "442071234567",
        calls=LOAD_CALLS,
        hold_ms=2000,
        extra=["-r", "50", "-l", str(LOAD_CALLS), "-recv_timeout", "5000"],
    )
    samples: list[tuple[Decimal, Decimal]] = []
    assert caller.process is not None
    deadline = time.monotonic() + caller.timeout_s + 10  # SIPp's own -timeout ends it first
    while caller.process.poll() is None and time.monotonic() < deadline:
        samples.append(bed.api.money_of(account["id"]))
        time.sleep(0.05)
    bed.ok(caller)
    carrier.stop()

    answered, refused = caller.logged("answered"), caller.logged("refused")
    assert len(answered) + len(refused) == LOAD_CALLS
    assert refused, "the balance covers 15 concurrent calls: some of 200 must be refused"
    assert answered, "no call was answered"
    assert samples, "the account was never read during the load"
    overdrawn = [(b, r) for b, r in samples if b < 0 or r > b]
    assert not overdrawn, f"balance below 0 or reserved above it: {overdrawn[:5]}"

    cdrs = bed.api.cdrs_of(answered + refused, timeout=SETTLE_TIMEOUT_S)
    assert len(cdrs) == LOAD_CALLS, f"{LOAD_CALLS - len(cdrs)} calls have no CDR"
    for refused_id in refused:
        cdr = cdrs[refused_id]
        assert (cdr["termination_reason"], cdr["sip_status"]) == (
            "CallerBalanceInsufficient",
            403,
        ), cdr
        assert money(cdr["fee"]) == 0
    fees = [money(cdrs[answered_id]["fee"]) for answered_id in answered]
    assert fees == [Decimal("0.01")] * len(answered), fees
    balance, reserved = bed.api.settled(account["id"], charges=len(answered))
    assert reserved == 0
    assert sum(fees) <= Decimal("0.30")
    assert sum(fees) == Decimal("0.30") - balance, (sum(fees), balance)
    assert never_below(bed.api.ledger(account["id"]), Decimal(0)) == []


# -- 3. postpaid: the credit limit --------------------------------------------------------------


def test_postpaid_call_stops_at_the_credit_limit(bed: Bed) -> None:
    """A postpaid account at 0 with a credit limit of 0.05, at 0.60/min billed per second and
    no advance time, may spend 5 s: the call is cut there and the balance ends at -0.05."""
    bed.api.set_param("SERVER_BILLING_PREVENT_OVERDRAFT_ADVANCE_TIME", "0")
    table = bed.api.rate_table("POSTPAID-1S", {"44": per_second("0.60")})
    account = bed.api.customer(
        "POSTPAID", billing_mode="postpaid", credit_limit="0.05", rate_table_id=table["id"]
    )
    bed.trunk(account["id"])
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-44", port, ["44"])
    carrier = bed.carrier("carrier", port)

    caller = bed.ok(bed.call("caller", CUT, "442071234567"))
    bed.ok(carrier)

    assert carrier.received("BYE"), "the switch did not BYE the carrier"
    cdr = bed.api.cdr(call_id(caller))
    assert cdr["termination_reason"] == "BalanceExhausted", cdr
    assert 4000 <= cdr["hold_time_ms"] <= 6000, cdr["hold_time_ms"]
    assert money(cdr["fee"]) == Decimal("0.05")
    balance, reserved = bed.api.settled(account["id"], charges=1)
    assert (balance, reserved) == (Decimal("-0.05"), Decimal(0))
    assert never_below(bed.api.ledger(account["id"]), Decimal("-0.05")) == []


# -- 4. free numbers ---------------------------------------------------------------------------


def test_free_number_connects_without_credit_and_is_not_cut(bed: Bed) -> None:
    """SERVER_BILLING_FREE_E164S=800: a prepaid account with nothing on it reaches 800...
    (which even has a rate in its table) for 3 s, longer than the 1 s its credit could ever
    reserve, and pays nothing; the same account calling 44... is refused for its balance."""
    bed.api.set_param("SERVER_BILLING_PREVENT_OVERDRAFT_ADVANCE_TIME", "0")
    bed.api.set_param("SERVER_BILLING_FREE_E164S", "800")
    table = bed.api.rate_table("WITH-FREE", {"800": per_second("0.60"), "44": per_second("0.60")})
    account = bed.api.customer("PREPAID-EMPTY", rate_table_id=table["id"])
    bed.trunk(account["id"])
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-800", port, ["800"])
    elsewhere = bed.silent()
    bed.api.carrier("GW-44", elsewhere.port, ["44"])
    carrier = bed.carrier("carrier", port)

    free = bed.ok(bed.call("free", ANSWERED, "8001234567", hold_ms=3000))
    bed.ok(carrier)
    paid = bed.ok(bed.call("paid", FORBIDDEN, "442071234567"))

    cdr = bed.api.cdr(call_id(free))
    assert cdr["termination_reason"] == "CallerHangup", cdr
    assert cdr["hold_time_ms"] >= 3000
    assert money(cdr["fee"]) == 0
    refused = bed.api.cdr(call_id(paid))
    assert (refused["termination_reason"], refused["sip_status"]) == (
        "CallerBalanceInsufficient",
        403,
    )
    assert start_lines(elsewhere) == []
    assert bed.api.money_of(account["id"]) == (Decimal(0), Decimal(0))
    assert [row for row in bed.api.ledger(account["id"]) if row["kind"] == "call_charge"] == []


# -- 5. no CDR is not free ---------------------------------------------------------------------


def test_no_cdr_number_is_still_charged(bed: Bed) -> None:
    """SERVER_BILLING_NO_CDR_E164S=900 keeps calls to 900... out of the CDRs, but they still
    cost money: the charge is in the ledger (our documented behaviour). A second call, to 44...,
    made after it does get its CDR, so by then the writer has handled the first one too. Both
    are held 1.5 s (under a second would bill nothing: the fraction is dropped by default) and
    billed per minute, so each costs exactly its per-minute rate."""
    bed.api.set_param("SERVER_BILLING_NO_CDR_E164S", "900")
    table = bed.api.rate_table("NO-CDR", {"900": per_minute("0.60"), "44": per_minute("0.30")})
    account = bed.api.customer(
        "POSTPAID-NOCDR", billing_mode="postpaid", credit_limit="100", rate_table_id=table["id"]
    )
    bed.trunk(account["id"])
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW-ANY", port, ["900", "44"])
    carrier = bed.carrier("carrier", port, calls=2)

    hidden = bed.ok(bed.call("hidden", ANSWERED, "9001234567", hold_ms=1500))
    shown = bed.ok(bed.call("shown", ANSWERED, "442071234567", hold_ms=1500))
    bed.ok(carrier)

    cdr = bed.api.cdr(call_id(shown))
    assert money(cdr["fee"]) == Decimal("0.30")
    assert [c for c in bed.api.cdrs() if c["call_id"] == call_id(hidden)] == []
    balance, reserved = bed.api.settled(account["id"], charges=2)
    charges = [r for r in bed.api.ledger(account["id"]) if r["kind"] == "call_charge"]
    by_ref = {row["call_ref"]: money(row["amount"]) for row in charges}
    assert by_ref.pop(cdr["record_id"]) == Decimal("-0.30"), charges
    assert list(by_ref.values()) == [Decimal("-0.60")], charges
    assert (balance, reserved) == (Decimal("-0.90"), Decimal(0))


# -- 6. carrier cost, agent fee, profit ---------------------------------------------------------


def test_fee_agent_fee_cost_and_profit_of_a_call(bed: Bed) -> None:
    """One call, every money field computed by hand. Billing in 6/6 periods with the fraction
    of a second dropped (SERVER_BILLING_HOLD_TIME_PRECISION=1000), a call held ~2 s is billed 6 s
    whatever its exact hold time; fees round up to 4 places.

    - customer 0.5555/min at its longest prefix 4420 (44 would be 0.90): 0.05555 -> 0.0556;
    - agent 0.3333/min: 0.03333 -> 0.0334;
    - carrier: SERVER_BILLING_GATEWAY_ROUTE_PREFIX=77 in front of the callee as sent (rewritten
      with 99): 77994420 at 0.1234/min: 0.01234 -> 0.0124; the table's 4420 (the bare callee)
      and 774420 (the prefix with the callee before rewriting) are traps at 9 and 8 per minute;
    - profit, default formula charge - (charge - agent fee) - cost = 0.0334 - 0.0124 = 0.0210.
    """
    bed.api.set_param("SERVER_BILLING_HOLD_TIME_PRECISION", "1000")
    bed.api.set_param("SERVER_BILLING_GATEWAY_ROUTE_PREFIX", "77")
    six = {"initial_increment": 6, "subsequent_increment": 6}
    customer_table = bed.api.rate_table(
        "CUSTOMER-6S",
        {"44": {"rate_per_minute": "0.90", **six}, "4420": {"rate_per_minute": "0.5555", **six}},
    )
    agent_table = bed.api.rate_table("AGENT-6S", {"44": {"rate_per_minute": "0.3333", **six}})
    carrier_table = bed.api.rate_table(
        "CARRIER-6S",
        {
            "77994420": {"rate_per_minute": "0.1234", **six},
            "774420": {"rate_per_minute": "8", **six},
            "4420": {"rate_per_minute": "9", **six},
        },
    )
    agent = bed.api.create("/agents", name="RESELLER", rate_table_id=agent_table["id"])
    account = bed.api.customer(
        "UNDER-AGENT",
        billing_mode="postpaid",
        credit_limit="100",
        agent_id=agent["id"],
        rate_table_id=customer_table["id"],
    )
    bed.trunk(account["id"])
    port = bed.port(CARRIER_IP)
    gateway = bed.api.carrier(
        "GW-COSTED", port, ["44"], callee_rewrite=["add 99"], rate_table_id=carrier_table["id"]
    )
    carrier = bed.carrier("carrier", port)

    caller = bed.ok(bed.call("caller", ANSWERED, "442071234567", hold_ms=2000))
    bed.ok(carrier)

    cdr = bed.api.cdr(call_id(caller))
    assert cdr["routing_gateway_id"] == gateway["id"]
    assert cdr["callee_out"] == "99442071234567"
    assert 1000 <= cdr["hold_time_ms"] < 7000, cdr["hold_time_ms"]
    figures = {
        name: money(cdr[name]) for name in ("fee", "fee_unrounded", "agent_fee", "cost", "profit")
    }
    assert figures == {
        "fee": Decimal("0.0556"),
        "fee_unrounded": Decimal("0.05555"),
        "agent_fee": Decimal("0.0334"),
        "cost": Decimal("0.0124"),
        "profit": Decimal("0.0210"),
    }
    assert (cdr["rate_prefix"], cdr["cost_prefix"]) == ("4420", "77994420")
    balance, _ = bed.api.settled(account["id"], charges=1)
    assert balance == Decimal("-0.0556")


# -- 7. refusals before routing -----------------------------------------------------------------


def test_no_rate_and_daily_spend_limit_refuse_the_call(bed: Bed) -> None:
    """A callee the account's table has no rate for: 403 NoRate. A rated callee whose first
    reservation (0.60/min for its first minute and one minute ahead: 1.20) would pass the
    account's daily spend limit (0.50), though its balance (10) could pay: 403 DailySpendLimit.
    Neither call reaches a carrier."""
    table = bed.api.rate_table("ONLY-44", {"44": per_minute("0.60")})
    account = bed.api.customer("PREPAID-LIMITS", rate_table_id=table["id"])
    bed.api.pay(account["id"], "10")
    bed.trunk(account["id"])
    never = bed.silent()
    bed.api.carrier("GW-ANY", never.port, ["33", "44"])

    unrated = bed.ok(bed.call("unrated", FORBIDDEN, "33123456"))
    bed.api.patch(f"/accounts/{account['id']}", daily_spend_limit="0.50")
    limited = bed.ok(bed.call("limited", FORBIDDEN, "442071234567"))

    no_rate = bed.api.cdr(call_id(unrated))
    assert (no_rate["termination_reason"], no_rate["sip_status"]) == ("NoRate", 403)
    daily = bed.api.cdr(call_id(limited))
    assert (daily["termination_reason"], daily["sip_status"]) == ("DailySpendLimit", 403)
    assert start_lines(never) == []
    assert bed.api.money_of(account["id"]) == (Decimal(10), Decimal(0))


# -- 8. least-cost routing ----------------------------------------------------------------------


def test_least_cost_routing_picks_the_cheap_carrier_and_honours_the_margin(bed: Bed) -> None:
    """Routing mode least_cost: of two carriers for 55, the one first by priority costs 0.50/min
    and the other 0.10/min; the customer pays 0.60/min. The call (1.5 s, billed per minute) goes
    to the cheap one, which costs 0.10 against the customer's 0.60. With a
    minimum margin of 0.55 the ceiling is 0.05/min, both carriers cost more: no route
    (NoAvailableRouter, 503) and neither carrier is sent anything."""
    customer_table = bed.api.rate_table("CUSTOMER-55", {"55": per_minute("0.60")})
    dear_table = bed.api.rate_table("DEAR-55", {"55": per_minute("0.50")})
    cheap_table = bed.api.rate_table("CHEAP-55", {"55": per_minute("0.10")})
    account = bed.api.customer(
        "LCR",
        billing_mode="postpaid",
        credit_limit="100",
        rate_table_id=customer_table["id"],
        routing_mode="least_cost",
    )
    bed.trunk(account["id"])
    dear = bed.silent()
    bed.api.carrier("GW-DEAR", dear.port, ["55"], priority=0, rate_table_id=dear_table["id"])
    cheap_port = bed.port(CARRIER_IP)
    cheap = bed.api.carrier(
        "GW-CHEAP", cheap_port, ["55"], priority=1, rate_table_id=cheap_table["id"]
    )
    carrier = bed.carrier("cheap", cheap_port)

    routed = bed.ok(bed.call("routed", ANSWERED, "5512345678", hold_ms=1500))
    bed.ok(carrier)

    assert start_lines(dear) == []
    cdr = bed.api.cdr(call_id(routed))
    assert cdr["routing_gateway_id"] == cheap["id"]
    assert [attempt["gateway_id"] for attempt in cdr["attempts"]] == [cheap["id"]]
    assert (money(cdr["fee"]), money(cdr["cost"])) == (Decimal("0.60"), Decimal("0.10"))

    cheap_now = bed.silent(cheap_port)  # the carrier SIPp is gone: listen on its address
    bed.api.patch(f"/accounts/{account['id']}", lcr_min_margin="0.55")
    unrouted = bed.ok(bed.call("unrouted", UNAVAILABLE, "5512345678"))

    refused = bed.api.cdr(call_id(unrouted))
    assert (refused["termination_reason"], refused["sip_status"]) == ("NoAvailableRouter", 503)
    assert start_lines(dear) == [] and start_lines(cheap_now) == []


# -- 9. kill -9 ---------------------------------------------------------------------------------

KILL_CALLS = 200
KILL_AFTER_COMPLETED = 40
KILL_BALANCE = Decimal("5.00")


def billing_verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    """``softswitch billing verify`` on ``data_dir`` as a subprocess."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOFTSWITCH_")}
    env["SOFTSWITCH_DATA_DIR"] = str(data_dir)
    command = [sys.executable, "-m", "softswitch", "billing", "verify"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def test_kill_9_during_prepaid_calls_leaves_the_books_straight(
    launch_switch: Any, free_port_for: Any, tmp_path: Path
) -> None:
    """200 prepaid calls (0.01/min per minute, 0.02 reserved each) at 50 per second, each held
    1.5 s; once 40 have finished the switch is killed with SIGKILL, calls still up, and
    restarted on the same data directory. The calls that were live hold reservations nobody
    will settle: the restart releases them, so reserved is 0, the balance is the payment less
    the fees of the CDRs there are, and ``softswitch billing verify`` finds nothing wrong."""
    bed = start_bed(launch_switch, free_port_for, tmp_path / "sipp")
    try:
        table = bed.api.rate_table("CENT-A-MINUTE", {"41": per_minute("0.01")})
        account = bed.api.customer("PREPAID-KILL", rate_table_id=table["id"])
        bed.api.pay(account["id"], str(KILL_BALANCE))
        bed.trunk(account["id"])
        port = bed.port(CARRIER_IP)
        bed.api.carrier("GW-LOAD", port, ["41"])
        carrier = bed.carrier("carrier", port, calls=KILL_CALLS)
        caller = bed.call(
            "load",
            ANSWERED,
            "41123456",
            calls=KILL_CALLS,
            hold_ms=1500,
            extra=["-r", "50", "-l", str(KILL_CALLS), "-recv_timeout", "5000"],
        )
        deadline = time.monotonic() + 15
        while len(caller.logged("completed")) < KILL_AFTER_COMPLETED:
            assert time.monotonic() < deadline, f"calls do not complete\n{caller.report()}"
            assert caller.process is not None and caller.process.poll() is None, caller.report()
            time.sleep(0.05)
        _, held = bed.api.money_of(account["id"])
        os.kill(bed.switch.process.pid, signal.SIGKILL)
        bed.switch.process.wait(10)
        caller.stop()
        carrier.stop()
        assert held > 0, "no call was live (holding credit) when the switch was killed"
        completed = caller.logged("completed")
        assert len(completed) < KILL_CALLS, "the switch was killed after the load, not during it"

        after = start_bed(launch_switch, free_port_for, tmp_path / "after", bed.switch.data_dir)
        try:
            found = after.api.cdrs_of(completed, timeout=SETTLE_TIMEOUT_S)
            assert len(found) == len(completed), "a finished call has no CDR"
            fees = [money(cdr["fee"]) for cdr in after.api.cdrs()]
            balance, reserved = after.api.money_of(account["id"])
            ledger = after.api.ledger(account["id"])
        finally:
            after.close()
        assert reserved == 0, "reservations of the killed run were not released at start"
        assert sum(fees) > 0
        assert balance == KILL_BALANCE - sum(fees), (balance, sum(fees))
        charges = [row for row in ledger if row["kind"] == "call_charge"]
        assert len(charges) == len([fee for fee in fees if fee > 0])
        assert never_below(ledger, Decimal(0)) == []

        verified = billing_verify(bed.switch.data_dir)
        assert verified.returncode == 0, verified.stdout + verified.stderr
        assert verified.stdout.startswith("billing verify: OK"), verified.stdout
    finally:
        bed.close()
