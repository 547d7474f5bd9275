"""Transaction timers A-M (RFC 3261 §17 and table 4; RFC 6026 §8 for L and M).

The values are not constants: an operator tunes the UDP retransmission schedule with the VOS3000
parameter SS_SIP_RESEND_INTERVAL (``0.5,1,2,4,4,4,4,4,4,4`` by default). The schedule is a list of
intervals between retransmissions of a request; its length is the number of retransmissions and its
first value plays the part of T1 everywhere T1 appears (Timer B = 64*T1 and so on). The runtime
reads the parameter and builds a :class:`TimerConfig`; this module never imports the parameter
package, so the SIP core stays at the bottom of the layer stack.

Over a reliable transport (TCP, TLS) there are no retransmissions (A, E and G are not started) and
the timers that only exist to absorb retransmissions (D, I, J, K) are zero.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

__all__ = ["DEFAULT_RESEND_INTERVALS", "Timer", "TimerConfig"]

DEFAULT_RESEND_INTERVALS: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0)
"""SS_SIP_RESEND_INTERVAL's default: cumulative sums 0.5, 1.5, 3.5, 7.5, 11.5 ... 31.5 seconds."""


class Timer(Enum):
    """The transaction timers of RFC 3261 table 4, plus L and M of RFC 6026."""

    A = "A"  # INVITE request retransmit (client, UDP)
    B = "B"  # INVITE transaction timeout (client)
    D = "D"  # wait for response retransmits after a non-2xx final (client INVITE)
    E = "E"  # non-INVITE request retransmit (client, UDP)
    F = "F"  # non-INVITE transaction timeout (client)
    G = "G"  # INVITE final response retransmit (server, UDP)
    H = "H"  # wait for ACK receipt (server INVITE)
    I = "I"  # noqa: E741 - the RFC's name; wait for ACK retransmits (server INVITE)
    J = "J"  # wait for non-INVITE request retransmits (server)
    K = "K"  # wait for response retransmits (client non-INVITE)
    L = "L"  # RFC 6026: wait for INVITE retransmits in Accepted (server)
    M = "M"  # RFC 6026: wait for 2xx retransmits in Accepted (client)


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """Timer values of one endpoint.

    ``resend_intervals`` is SS_SIP_RESEND_INTERVAL already converted to seconds; ``t2`` caps the
    non-INVITE and response retransmission intervals (§17.1.2.2, §17.2.1); ``t4`` is the longest a
    message stays in the network (Timers I and K); ``timer_d`` is Timer D over UDP (§17.1.1.2: "at
    least 32 seconds", not a multiple of T1).
    """

    resend_intervals: tuple[float, ...] = DEFAULT_RESEND_INTERVALS
    t2: float = 4.0
    t4: float = 5.0
    timer_d: float = 32.0

    def __post_init__(self) -> None:
        if not self.resend_intervals:
            raise ValueError("resend_intervals must hold at least one interval (T1)")
        if any(not value > 0 for value in self.resend_intervals):
            raise ValueError("resend intervals must be positive")
        if not (self.t2 > 0 and self.t4 > 0 and self.timer_d >= 0):
            raise ValueError("T2 and T4 must be positive and Timer D not negative")

    @property
    def t1(self) -> float:
        """The RTT estimate: the first interval of the schedule."""
        return self.resend_intervals[0]

    @property
    def timeout(self) -> float:
        """64*T1: Timers B, F, H, J (UDP), L and M."""
        return 64 * self.t1

    def request_interval(self, fired: int, *, cap: float | None = None) -> float | None:
        """Interval before the retransmission that follows ``fired`` earlier ones (A, E).

        None once the schedule is used up: the transaction then waits for B or F in silence.
        """
        if fired >= len(self.resend_intervals):
            return None
        interval = self.resend_intervals[fired]
        return interval if cap is None else min(interval, cap)

    def response_interval(self, fired: int) -> float:
        """Timer G: T1, doubling, at most T2 (§17.2.1)."""
        interval = self.t1
        for _ in range(fired):
            interval *= 2
            if interval >= self.t2:
                return self.t2
        return min(interval, self.t2)

    def duration(
        self, timer: Timer, *, reliable: bool, fired: int = 0, at_t2: bool = False
    ) -> float | None:
        """How long ``timer`` runs when started now; None means "not started at all".

        ``fired`` is how many times the timer already fired in this transaction (the retransmission
        count for A, E and G). ``at_t2`` is the non-INVITE client in Proceeding, which retransmits
        every T2 (§17.1.2.2), and no more times than the schedule has entries.
        """
        if timer in (Timer.A, Timer.E, Timer.G) and reliable:
            return None
        if timer is Timer.A:
            return self.request_interval(fired)
        if timer is Timer.E:
            interval = self.request_interval(fired, cap=self.t2)
            if interval is None:
                return None
            return self.t2 if at_t2 else interval
        if timer is Timer.G:
            return self.response_interval(fired)
        if timer is Timer.D:
            return 0.0 if reliable else self.timer_d
        if timer in (Timer.I, Timer.K):
            return 0.0 if reliable else self.t4
        if timer is Timer.J:
            return 0.0 if reliable else self.timeout
        # B, F, H, L, M: the transaction lifetime bounds, the same on every transport.
        return self.timeout

    def retransmission_times(self) -> tuple[float, ...]:
        """Offsets from the first send at which Timer A fires over UDP (0.5, 1.5, 3.5 ...)."""
        times: list[float] = []
        total = 0.0
        for interval in self.resend_intervals:
            total += interval
            times.append(total)
        return tuple(times)
