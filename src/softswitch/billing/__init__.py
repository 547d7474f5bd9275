"""Billing (layer L2, pure): what a call costs — rates, rounding, time-of-day, profit, LCR.

The package owns the *rules* of money, never the money itself: it turns a callee number, an
answer time and a hold time into a fee (``rating``), says when a rate applies (``profiles``),
computes a call's profit from the SERVER_BILLING_PROFIT_CALCULATE formula (``profit``) and
orders carriers by cost (``lcr``). Balances, reservations and settlement live in
``softswitch.balance``, which calls this package; rate tables come from storage as snapshots
and are turned into a :class:`RateBook` once per snapshot.

No I/O, no clock, no ORM: time comes in as arguments, money is Decimal, and every rounding
happens in one place (:func:`round_fee`). docs/rating.md states the rules in full.
"""

from softswitch.billing.lcr import least_cost
from softswitch.billing.profiles import DAY_NAMES, Profile, parse_profile
from softswitch.billing.profit import (
    DEFAULT_PROFIT_FORMULA,
    ProfitFormula,
    ProfitTerm,
    parse_profit,
)
from softswitch.billing.rating import (
    STORED_PLACES,
    BillingRules,
    Charge,
    Rate,
    RateBook,
    billable_seconds,
    charged_seconds,
    parse_e164_list,
    price,
    round_fee,
)

__all__ = [
    "DAY_NAMES",
    "DEFAULT_PROFIT_FORMULA",
    "STORED_PLACES",
    "BillingRules",
    "Charge",
    "Profile",
    "ProfitFormula",
    "ProfitTerm",
    "Rate",
    "RateBook",
    "billable_seconds",
    "charged_seconds",
    "least_cost",
    "parse_e164_list",
    "parse_profile",
    "parse_profit",
    "price",
    "round_fee",
]
