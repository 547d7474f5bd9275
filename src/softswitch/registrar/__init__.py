"""Registrar (layer L2, pure): REGISTER processing (RFC 3261 §10.3) and the binding table.

The service that drives it (digest challenge, persistence, expiry timer, API) lives above; this
package reads no clock and does no I/O.
"""

from softswitch.registrar.bindings import (
    Binding,
    BindingChange,
    BindingCounts,
    BindingTable,
    ChangeKind,
)
from softswitch.registrar.register import (
    RegisterOutcome,
    RegistrarConfig,
    canonical_aor,
    is_behind_nat,
    process_register,
)

__all__ = [
    "Binding",
    "BindingChange",
    "BindingCounts",
    "BindingTable",
    "ChangeKind",
    "RegisterOutcome",
    "RegistrarConfig",
    "canonical_aor",
    "is_behind_nat",
    "process_register",
]
