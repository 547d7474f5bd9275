"""Profit formula (``softswitch.billing.profit``): SERVER_BILLING_PROFIT_CALCULATE."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from softswitch.billing import DEFAULT_PROFIT_FORMULA, ProfitTerm, parse_profit

CHARGE, AGENT_FEE, COST = D("1.00"), D("0.80"), D("0.55")


@pytest.mark.parametrize(
    ("formula", "agent_fee", "profit"),
    [
        # parameters.tsv: default "Call charges - Sub - Call expense", "formula of a call's
        # profit (customer charge minus agent share minus carrier cost)". With an agent the
        # agent keeps charge - agent fee (0.20), so the operator earns 0.80 - 0.55.
        (DEFAULT_PROFIT_FORMULA, AGENT_FEE, D("0.25")),
        (DEFAULT_PROFIT_FORMULA, None, D("0.45")),  # no agent: Sub is 0
        # The VOS3000 guide prints the default with en dashes ("Call charges – Sub – Call
        # expense", shared/reference/vos3000-guide.txt, billing parameters table).
        ("Call charges \u2013 Sub \u2013 Call expense", AGENT_FEE, D("0.25")),
        ("call   CHARGES-sub-CALL expense", AGENT_FEE, D("0.25")),
        ("charge - cost", AGENT_FEE, D("0.45")),
        ("fee - expense", None, D("0.45")),
        ("Agent charges - Call expense", AGENT_FEE, D("0.25")),
        ("agent fee - cost", None, D("-0.55")),  # no agent: the agent fee is 0
        ("agent income", AGENT_FEE, D("0.20")),
        ("Sub", None, D("0")),
        ("- cost + charge", AGENT_FEE, D("0.45")),  # a leading sign
        ("+charge", None, D("1.00")),
        ("charge \u2212 cost \u2014 sub", AGENT_FEE, D("0.25")),  # minus sign, em dash
    ],
)
def test_evaluate(formula: str, agent_fee: D | None, profit: D) -> None:
    parsed = parse_profit(formula)
    assert parsed.evaluate(charge=CHARGE, agent_fee=agent_fee, cost=COST) == profit


def test_parsed_terms_and_text() -> None:
    parsed = parse_profit("  Call charges  -  Sub - Call expense ")
    assert parsed.terms == (
        (1, ProfitTerm.CHARGE),
        (-1, ProfitTerm.SUB),
        (-1, ProfitTerm.COST),
    )
    assert str(parsed) == "Call charges - Sub - Call expense"


@pytest.mark.parametrize(
    ("formula", "message"),
    [
        ("", "no term"),
        ("   ", "no term"),
        (
            "charge - margin",
            "unknown term 'margin'.*Call charges.*Sub.*Call expense.*Agent charges",
        ),
        ("charge * 2", r"unknown term 'charge \* 2'"),
        ("charge -", "with no term after it"),
        ("charge + + cost", "with no term after it"),
        ("-", "no term"),
    ],
)
def test_errors_name_the_accepted_terms(formula: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_profit(formula)
