"""Defences against scanning, brute force, toll fraud and floods (issue 6), pure state.

Time comes in as ``now`` (monotonic seconds); nothing here reads a clock, opens a socket or
logs. ``guard.Guard`` composes the parts; the runtime builds it from the system parameters,
hands it to the transport (before parsing), the dispatcher and call admission, and logs and
shows what it reports.
"""

from softswitch.security.auth_failures import AuthFailures, Suspension
from softswitch.security.blacklist import BlacklistSettings, DynamicBlacklist, Listed, ListedKind
from softswitch.security.control import (
    AlarmView,
    GuardControl,
    SecurityControl,
    SecurityEntryView,
    SecurityFigures,
)
from softswitch.security.guard import (
    Ban,
    BanReason,
    Block,
    Entry,
    EntryType,
    Guard,
    GuardSettings,
    SecurityEvent,
)
from softswitch.security.lists import (
    EntryKind,
    ListEntry,
    ListType,
    NumberVerdict,
    StaticLists,
    parse_entry_value,
)
from softswitch.security.rate_limit import FloodLimiter, FloodSettings
from softswitch.security.scanners import DEFAULT_SCANNERS, ScannerFingerprints
from softswitch.security.traffic import DestinationWatch, TrafficJump, WatchSettings

__all__ = [
    "DEFAULT_SCANNERS",
    "AlarmView",
    "AuthFailures",
    "Ban",
    "BanReason",
    "BlacklistSettings",
    "Block",
    "DestinationWatch",
    "DynamicBlacklist",
    "Entry",
    "EntryKind",
    "EntryType",
    "FloodLimiter",
    "FloodSettings",
    "Guard",
    "GuardControl",
    "GuardSettings",
    "ListEntry",
    "ListType",
    "Listed",
    "ListedKind",
    "NumberVerdict",
    "ScannerFingerprints",
    "SecurityControl",
    "SecurityEntryView",
    "SecurityEvent",
    "SecurityFigures",
    "StaticLists",
    "Suspension",
    "TrafficJump",
    "WatchSettings",
    "parse_entry_value",
]
