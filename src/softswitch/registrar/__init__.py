"""Registrar (layer L2, pure): REGISTER processing (RFC 3261 §10.3), the binding table and the
NAT keep-alive schedule.

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
from softswitch.registrar.keepalive import (
    KeepAliveBatch,
    KeepAliveConfig,
    KeepAliveNotice,
    KeepAliveSchedule,
    KeepAliveTarget,
    NoticeKind,
    nat_targets,
)
from softswitch.registrar.register import (
    RegisterOutcome,
    RegistrarConfig,
    canonical_aor,
    is_behind_nat,
    lightweight_refresh,
    process_register,
)

__all__ = [
    "Binding",
    "BindingChange",
    "BindingCounts",
    "BindingTable",
    "ChangeKind",
    "KeepAliveBatch",
    "KeepAliveConfig",
    "KeepAliveNotice",
    "KeepAliveSchedule",
    "KeepAliveTarget",
    "NoticeKind",
    "RegisterOutcome",
    "RegistrarConfig",
    "canonical_aor",
    "is_behind_nat",
    "lightweight_refresh",
    "nat_targets",
    "process_register",
]
