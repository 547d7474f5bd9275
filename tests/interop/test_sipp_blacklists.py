"""Number blacklists on the call path (issue 6 §1), over real sockets: SIPp as the customer's
trunk (127.0.0.2) and as carriers (127.0.0.3), the switch configured through its HTTP API.

Static lists (``/api/v1/security/lists``) refuse a listed caller or callee with 403 and a CDR
(``CallerBlacklisted`` / ``CalleeBlacklisted``), the account's entries for its calls only, a
longer whitelisted prefix overriding a blacklisted one. The dynamic lists put a callee on the
list after SS_BLACK_LIST_NO_ANSWER_LIMIT unanswered calls in a row and a caller after
SS_BLACK_LIST_CALLER_MALICIOUS_CALL_LIMIT calls, show the entry at ``/security/bans`` and drop
it when an operator lifts it.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from callkit import CARRIER_IP
from test_sipp_calls import Bed, first, start_bed


@pytest.fixture
def bed(launch_switch: Any, free_port_for: Any, tmp_path: Path) -> Iterator[Bed]:
    test_bed = start_bed(launch_switch, free_port_for, tmp_path / "sipp")
    yield test_bed
    test_bed.close()


def listed(bed: Bed, **body: Any) -> dict[str, Any]:
    return bed.api.create("/security/lists", **body)


def reason_of(bed: Bed, caller_run: Any) -> tuple[str, int]:
    cdr = bed.api.cdr(first(caller_run.sent("INVITE"), "INVITE").call_id)
    return cdr["termination_reason"], cdr["sip_status"]


def bans(bed: Bed) -> list[dict[str, Any]]:
    answer = bed.api.client.get("/security/bans")
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_static_number_lists_refuse_listed_callers_and_callees_with_a_cdr(bed: Bed) -> None:
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW", port, ["44"])
    listed(bed, list_type="blacklist", kind="callee", value="4499")
    listed(bed, list_type="whitelist", kind="callee", value="449977")
    listed(
        bed,
        list_type="blacklist",
        kind="caller",
        value="5559",
        account_id=bed.account["id"],
    )
    other = bed.api.account("OTHER")
    listed(bed, list_type="blacklist", kind="caller", value="5551", account_id=other["id"])
    carrier = bed.carrier("carrier", "call_uas_answer.xml", port, calls=2)

    callee_refused = bed.ok(bed.call("callee-listed", "call_uac_forbidden.xml", "4499123"))
    caller_refused = bed.ok(
        bed.call("caller-listed", "call_uac_forbidden.xml", "4420123", caller="5559000")
    )
    # A longer whitelisted prefix wins; another account's caller list does not apply.
    through = bed.ok(bed.call("whitelisted", "call_uac.xml", "4499771", caller="5551000"))
    plain = bed.ok(bed.call("plain", "call_uac.xml", "4420123", caller="5551000"))
    bed.ok(carrier)

    assert reason_of(bed, callee_refused) == ("CalleeBlacklisted", 403)
    assert reason_of(bed, caller_refused) == ("CallerBlacklisted", 403)
    assert reason_of(bed, through)[0] == "CallerHangup"
    assert reason_of(bed, plain)[0] == "CallerHangup"
    assert len(carrier.received("INVITE")) == 2


def test_unanswered_calls_blacklist_the_callee_until_an_operator_lifts_it(bed: Bed) -> None:
    bed.api.set_param("SS_BLACK_LIST_NO_ANSWER_LIMIT", "2")
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW", port, ["44"])
    carrier = bed.carrier("carrier", "call_uas_reject_503.xml", port, calls=4)

    for n in range(2):
        bed.ok(bed.call(f"unanswered-{n}", "call_uac_failed.xml", "4420555"))
    refused = bed.ok(bed.call("refused", "call_uac_forbidden.xml", "4420555"))
    other = bed.ok(bed.call("other-number", "call_uac_failed.xml", "4420556"))

    assert reason_of(bed, refused) == ("CalleeBlacklisted", 403)
    assert reason_of(bed, other) == ("AllGatewaysFailed", 500)
    entries = [e for e in bans(bed) if e["type"] == "blacklist"]
    assert [(e["key"], e["reason"]) for e in entries] == [("4420555", "no_answer")]
    assert 0 < entries[0]["remaining_s"] <= 3600

    lifted = bed.api.client.delete("/security/bans/blacklist/4420555")
    assert lifted.status_code == 204, lifted.text
    assert bed.api.client.delete("/security/bans/blacklist/4420555").status_code == 404
    assert [e for e in bans(bed) if e["type"] == "blacklist"] == []
    again = bed.ok(bed.call("after-lift", "call_uac_failed.xml", "4420555"))
    bed.ok(carrier)
    assert reason_of(bed, again) == ("AllGatewaysFailed", 500)
    assert len(carrier.received("INVITE")) == 4


def test_a_caller_making_too_many_calls_is_blacklisted(bed: Bed) -> None:
    bed.api.set_param("SS_BLACK_LIST_CALLER_MALICIOUS_CALL_LIMIT", "3")
    port = bed.port(CARRIER_IP)
    bed.api.carrier("GW", port, ["44"])
    carrier = bed.carrier("carrier", "call_uas_reject_503.xml", port, calls=4)

    for n in range(3):
        bed.ok(bed.call(f"call-{n}", "call_uac_failed.xml", f"442000{n}", caller="5557000"))
    refused = bed.ok(bed.call("refused", "call_uac_forbidden.xml", "4420009", caller="5557000"))
    another = bed.ok(bed.call("another", "call_uac_failed.xml", "4420009", caller="5557001"))
    bed.ok(carrier)

    assert reason_of(bed, refused) == ("CallerBlacklisted", 403)
    assert reason_of(bed, another) == ("AllGatewaysFailed", 500)
    entries = [(e["key"], e["reason"]) for e in bans(bed) if e["type"] == "blacklist"]
    assert entries == [("5557000", "malicious_caller")]
