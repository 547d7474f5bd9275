"""The domain model as SQLAlchemy tables, one module per aggregate.

Importing this package registers every table on ``Base.metadata``, which is what the Alembic
migrations must match (checked by the storage tests).
"""

from softswitch.storage.models.accounts import Account, AccountStatus, BillingMode, RoutingMode
from softswitch.storage.models.agents import Agent
from softswitch.storage.models.audit import AuditEntry
from softswitch.storage.models.base import Base, MediaProxyMode, Registration, Transport
from softswitch.storage.models.cdrs import Cdr
from softswitch.storage.models.changes import ChangeRow
from softswitch.storage.models.ledger import LedgerEntry, LedgerKind
from softswitch.storage.models.mapping_gateways import MappingGateway
from softswitch.storage.models.params import ParamOverride
from softswitch.storage.models.payments import Payment, PaymentMethod
from softswitch.storage.models.phones import Phone
from softswitch.storage.models.rates import Rate, RateTable
from softswitch.storage.models.registrations import RegistrationRow
from softswitch.storage.models.reservations import Reservation
from softswitch.storage.models.routing_gateways import RoutingGateway
from softswitch.storage.models.security import (
    SecurityEntryKind,
    SecurityListEntry,
    SecurityListType,
)
from softswitch.storage.models.tokens import ApiToken
from softswitch.storage.models.users import OperatorUser, Role

__all__ = [
    "Account",
    "AccountStatus",
    "Agent",
    "ApiToken",
    "AuditEntry",
    "Base",
    "BillingMode",
    "Cdr",
    "ChangeRow",
    "LedgerEntry",
    "LedgerKind",
    "MappingGateway",
    "MediaProxyMode",
    "OperatorUser",
    "ParamOverride",
    "Payment",
    "PaymentMethod",
    "Phone",
    "Rate",
    "RateTable",
    "Registration",
    "RegistrationRow",
    "Reservation",
    "Role",
    "RoutingGateway",
    "RoutingMode",
    "SecurityEntryKind",
    "SecurityListEntry",
    "SecurityListType",
    "Transport",
]
