"""Account balances in the database: credit reserved by live calls, settled into the ledger.

Issue 5 §2. The call path never reads a balance into Python and writes it back: every change
is one conditional statement the database applies atomically, so many calls of one account —
in one switch process or in several sharing a PostgreSQL database — can never together spend
more than the account has.

- ``reservations``: hold credit for a call before it is routed and extend it while it runs
  (``UPDATE accounts SET reserved = reserved + x WHERE balance + credit - reserved >= x``).
- ``settle``: at the end of a call, in the CDR writer's transaction, charge the fee into the
  ledger and release the reservation — once per call, however often the CDR is replayed.
- ``verify``: check that every balance equals the sum of its ledger rows.
"""

from softswitch.balance.reservations import Headroom, Reservations, ReserveOutcome
from softswitch.balance.settle import settle_rows

__all__ = ["Headroom", "Reservations", "ReserveOutcome", "settle_rows"]
