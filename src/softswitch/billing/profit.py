"""The profit of a call: SERVER_BILLING_PROFIT_CALCULATE as a parsed formula.

The parameter is a sum of named terms joined by ``+`` and ``-`` (VOS3000 writes the default as
``Call charges – Sub – Call expense``, with dashes; ``–``, ``—`` and ``−`` are read as minus).
Terms are case-insensitive and runs of spaces count as one:

=================  ===========================  =============================================
term               aliases                      value
=================  ===========================  =============================================
``call charges``   ``charge``, ``fee``          what the customer was charged
``sub``            ``agent income``             the agent's income: charge - agent fee
                                                (0 when the account has no agent)
``call expense``   ``cost``, ``expense``        what the carrier (routing gateway) costs
``agent charges``  ``agent fee``                what the agent is charged (0 without agent)
=================  ===========================  =============================================

The default, ``Call charges - Sub - Call expense``, is the operator's profit: with an agent it
is ``agent fee - cost`` (the agent keeps the difference to the customer's charge), without one
``charge - cost``. The formula is parsed once when the parameter changes; evaluating it is a
few additions, exact in Decimal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum

__all__ = ["DEFAULT_PROFIT_FORMULA", "ProfitFormula", "ProfitTerm", "parse_profit"]

DEFAULT_PROFIT_FORMULA = "Call charges - Sub - Call expense"


class ProfitTerm(Enum):
    """A quantity a profit formula can name."""

    CHARGE = "call charges"
    SUB = "sub"
    COST = "call expense"
    AGENT_FEE = "agent charges"


_NAMES: dict[str, ProfitTerm] = {
    "call charges": ProfitTerm.CHARGE,
    "charge": ProfitTerm.CHARGE,
    "fee": ProfitTerm.CHARGE,
    "sub": ProfitTerm.SUB,
    "agent income": ProfitTerm.SUB,
    "call expense": ProfitTerm.COST,
    "cost": ProfitTerm.COST,
    "expense": ProfitTerm.COST,
    "agent charges": ProfitTerm.AGENT_FEE,
    "agent fee": ProfitTerm.AGENT_FEE,
}
_ACCEPTED = (
    "'Call charges' (or 'charge', 'fee'), 'Sub' (or 'agent income'), "
    "'Call expense' (or 'cost', 'expense'), 'Agent charges' (or 'agent fee')"
)
_SIGNS = re.compile(r"([+\-\u2013\u2014\u2212])")


@dataclass(frozen=True)
class ProfitFormula:
    """A parsed formula: its text and its signed terms (+1 or -1, term), in order."""

    text: str
    terms: tuple[tuple[int, ProfitTerm], ...]

    def evaluate(self, *, charge: Decimal, agent_fee: Decimal | None, cost: Decimal) -> Decimal:
        """The profit of one call. ``agent_fee`` is None when the account has no agent."""
        values = {
            ProfitTerm.CHARGE: charge,
            ProfitTerm.SUB: charge - agent_fee if agent_fee is not None else Decimal(0),
            ProfitTerm.COST: cost,
            ProfitTerm.AGENT_FEE: agent_fee if agent_fee is not None else Decimal(0),
        }
        total = Decimal(0)
        for sign, term in self.terms:
            total = total + values[term] if sign > 0 else total - values[term]
        return total

    def __str__(self) -> str:
        return self.text


def parse_profit(formula: str) -> ProfitFormula:
    """Parse a SERVER_BILLING_PROFIT_CALCULATE formula; ValueError names what is wrong and the
    accepted terms."""
    # re.split with a capturing group alternates: text, sign, text, sign, text ...
    pieces = _SIGNS.split(formula)
    signed = [(1, pieces[0])] + [
        (1 if pieces[index] == "+" else -1, pieces[index + 1]) for index in range(1, len(pieces), 2)
    ]
    if not pieces[0].strip() and len(pieces) > 1:
        signed = signed[1:]  # a leading sign: "- cost + charge"
    if len(signed) == 1 and not signed[0][1].strip():
        raise ValueError(
            f"profit formula {formula!r} has no term: write e.g. {DEFAULT_PROFIT_FORMULA!r}"
        )
    terms: list[tuple[int, ProfitTerm]] = []
    for sign, piece in signed:
        name = " ".join(piece.split()).lower()
        if not name:
            raise ValueError(f"profit formula {formula!r}: a + or - with no term after it")
        term = _NAMES.get(name)
        if term is None:
            raise ValueError(
                f"profit formula {formula!r}: unknown term {piece.strip()!r}; "
                f"accepted terms: {_ACCEPTED}, joined by + and -"
            )
        terms.append((sign, term))
    return ProfitFormula(text=" ".join(formula.split()), terms=tuple(terms))
