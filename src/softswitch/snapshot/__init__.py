"""In-memory snapshots the call path reads (layer L4): gateways, phones, trunks and accounts
as frozen values, rebuilt from the tables when the change feed says they changed.

``model`` holds the values and the :class:`Snapshot`; ``sources`` the most-specific CIDR index
for trunk source addresses; ``builder`` reads the tables with Core selects; ``service`` follows
the change feed and swaps the snapshot atomically.
"""

from softswitch.snapshot.builder import SnapshotError, build_snapshot
from softswitch.snapshot.model import AccountInfo, GatewayInfo, PhoneInfo, Snapshot, TrunkInfo
from softswitch.snapshot.service import RELEVANT_ENTITIES, ChangeSource, SnapshotService
from softswitch.snapshot.sources import IpAddress, IpNetwork, NetworkIndex, parse_address

__all__ = [
    "RELEVANT_ENTITIES",
    "AccountInfo",
    "ChangeSource",
    "GatewayInfo",
    "IpAddress",
    "IpNetwork",
    "NetworkIndex",
    "PhoneInfo",
    "Snapshot",
    "SnapshotError",
    "SnapshotService",
    "TrunkInfo",
    "build_snapshot",
    "parse_address",
]
