"""The live defences (``/api/v1/security/bans``, ``/security/alarms``): the API shapes of
``softswitch.security.control``'s views. Times are ISO 8601 in UTC."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from softswitch.security import EntryType

__all__ = ["AlarmList", "AlarmOut", "BanList", "BanOut"]


class BanOut(BaseModel):
    type: EntryType = Field(
        description="ban: flood or scanner, packets dropped before parsing; suspension: "
        "failed authentications (an address, or address/username); blacklist: a number on "
        "a dynamic blacklist"
    )
    key: str = Field(description="what is banned: an address, address/username or a number")
    reason: str = Field(description="flood, scanner, auth, malicious_caller, no_answer")
    detail: str
    until: datetime
    remaining_s: int
    dropped: int = Field(description="packets dropped since the ban began (bans only)")


class BanList(BaseModel):
    items: list[BanOut]
    dropped_packets: int = Field(description="packets dropped by the gate since the switch started")


class AlarmOut(BaseModel):
    at: datetime
    destination: str = Field(description="the leading digits of the called numbers")
    calls: int = Field(description="calls in the window when the alarm was raised")
    baseline: float = Field(description="average calls per window before")
    window_s: int


class AlarmList(BaseModel):
    items: list[AlarmOut]
