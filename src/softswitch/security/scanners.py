"""Known SIP scanners, recognised in the raw bytes before parsing (issue 6 §1).

Scanners announce themselves: sipvicious sends ``User-Agent: friendly-scanner`` by default,
and the other common tools have their own names. Matching the packet's bytes for those names
in the User-Agent line costs one regular-expression search and spares the parser; such a
packet is dropped unanswered, so the scanner learns nothing, not even that a SIP server is
there. The names come from SS_SCANNER_USER_AGENTS (empty: no fingerprinting).
"""

from __future__ import annotations

import re

__all__ = ["DEFAULT_SCANNERS", "ScannerFingerprints"]

DEFAULT_SCANNERS = (
    "friendly-scanner",
    "sipvicious",
    "sipcli",
    "sip-scan",
    "sipsak",
    "iWar",
    "sundayddr",
    "VaxSIPUserAgent",
    "SIVuS",
)
"""What SS_SCANNER_USER_AGENTS holds by default: tools seen in honeypot logs of SIP scans."""


class ScannerFingerprints:
    """Matches the User-Agent header of known scanning tools (case-insensitive)."""

    __slots__ = ("_pattern", "names")

    def __init__(self, names: tuple[str, ...]) -> None:
        self.names = tuple(name.strip() for name in names if name.strip())
        if not self.names:
            self._pattern: re.Pattern[bytes] | None = None
            return
        alternatives = b"|".join(re.escape(name.encode()) for name in self.names)
        # A User-Agent header line naming the tool anywhere in its value.
        self._pattern = re.compile(rb"(?im)^user-agent[ \t]*:[^\r\n]*(?:" + alternatives + rb")")

    @classmethod
    def parse(cls, text: str) -> ScannerFingerprints:
        """From the parameter's comma list."""
        return cls(tuple(text.split(",")))

    def match(self, data: bytes) -> bool:
        """Whether ``data`` (one SIP message or a stream chunk) comes from a known scanner."""
        pattern = self._pattern
        if pattern is None:
            return False
        # Only the header: a body (a forwarded message/sipfrag, a text MESSAGE) may quote one.
        end = data.find(b"\r\n\r\n")
        if end < 0:
            end = data.find(b"\n\n")
        return pattern.search(data, 0, end if end >= 0 else len(data)) is not None
