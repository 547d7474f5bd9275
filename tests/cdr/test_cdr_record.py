"""CDR termination reasons: a closed, documented set, and the gateway-status mapping."""

from __future__ import annotations

from pathlib import Path

import pytest

from softswitch.cdr import Cause, TerminationReason, reason_for_gateway_status
from softswitch.cdr.docs import render_markdown

DOCS = Path(__file__).resolve().parents[2] / "docs/termination-reasons.md"

# The names issue 4 §5 requires operators to find (VOS3000 spellings).
REQUIRED = {
    "NoAvailableRouter",
    "CallerBalanceInsufficient",
    "GatewayLineLimit",
    "CalleeBusy",
    "NoAnswer",
    "Cancelled",
    "SessionTimeout",
    "MaxCallDuration",
    "CallerLocked",
    "IllegalCall",
    "AuthenticationFailed",
    "CallerHangup",
    "CalleeHangup",
    "CalleeNotFound",
    "CalleeUnregistered",
    "AccountExpired",
    "AccountConcurrencyLimit",
    "PhoneConcurrencyLimit",
    "MappingGatewayLineLimit",
    "PrefixNotAllowed",
    "DailySpendLimit",
    "CallerBlacklisted",
    "CalleeBlacklisted",
    "AllGatewaysFailed",
    "RequestTimeout",
    "ServerError",
    "MediaTimeout",
    "CodecMismatch",
}


def test_required_reasons_exist() -> None:
    assert {reason.value for reason in TerminationReason} >= REQUIRED


def test_values_are_unique_camel_case_names() -> None:
    values = [reason.value for reason in TerminationReason]
    assert len(values) == len(set(values))
    for value in values:
        assert value.isalnum() and value[0].isupper(), value


@pytest.mark.parametrize("reason", list(TerminationReason), ids=lambda r: r.value)
def test_every_reason_is_documented(reason: TerminationReason) -> None:
    assert reason.meaning.strip() and "\n" not in reason.meaning
    assert isinstance(reason.cause, Cause)
    status = reason.caller_status
    assert status is None or 400 <= status <= 699, "a caller gets a failure status or none"


def test_answered_calls_have_no_caller_status_and_refusals_do() -> None:
    assert TerminationReason.CALLER_HANGUP.caller_status is None
    assert TerminationReason.MAX_CALL_DURATION.caller_status is None
    assert TerminationReason.CANCELLED.caller_status == 487
    assert TerminationReason.CALLEE_BUSY.caller_status == 486
    assert TerminationReason.NO_AVAILABLE_ROUTER.caller_status == 503
    assert TerminationReason.CALLER_BALANCE_INSUFFICIENT.caller_status == 403


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (486, TerminationReason.CALLEE_BUSY),
        (600, TerminationReason.CALLEE_BUSY),
        (480, TerminationReason.NO_ANSWER),
        (408, TerminationReason.NO_ANSWER),
        (404, TerminationReason.CALLEE_NOT_FOUND),
        (484, TerminationReason.CALLEE_NOT_FOUND),
        (410, TerminationReason.CALLEE_NOT_FOUND),
        (604, TerminationReason.CALLEE_NOT_FOUND),
        (487, TerminationReason.CANCELLED),
        (603, TerminationReason.CALLEE_REJECTED),
        (488, TerminationReason.CODEC_MISMATCH),
        (606, TerminationReason.CODEC_MISMATCH),
        (500, TerminationReason.ALL_GATEWAYS_FAILED),
        (503, TerminationReason.ALL_GATEWAYS_FAILED),
        (504, TerminationReason.ALL_GATEWAYS_FAILED),
        (403, TerminationReason.GATEWAY_REJECTED),
        (302, TerminationReason.GATEWAY_REJECTED),
        (499, TerminationReason.GATEWAY_REJECTED),
    ],
)
def test_gateway_status_mapping(status: int, reason: TerminationReason) -> None:
    assert reason_for_gateway_status(status) is reason


@pytest.mark.parametrize("status", [100, 183, 200, 299, 700])
def test_mapping_refuses_non_failure_statuses(status: int) -> None:
    with pytest.raises(ValueError):
        reason_for_gateway_status(status)


def test_every_failure_status_maps_to_a_reason() -> None:
    assert {reason_for_gateway_status(s) for s in range(300, 700)} <= set(TerminationReason)


def test_committed_doc_is_up_to_date() -> None:
    # On failure regenerate: python -m softswitch.cdr.docs > docs/termination-reasons.md
    assert DOCS.read_text(encoding="utf-8") == render_markdown()


def test_doc_has_one_row_per_reason_in_enum_order() -> None:
    rows = [line for line in render_markdown().splitlines() if line.startswith("| `")]
    assert [row.split(" | ")[0] for row in rows] == [f"| `{r.value}`" for r in TerminationReason]
    busy = next(row for row in rows if row.startswith("| `CalleeBusy`"))
    assert busy.split(" | ")[2] == "486"
    hangup = next(row for row in rows if row.startswith("| `CallerHangup`"))
    assert hangup.split(" | ")[2] == "—"
