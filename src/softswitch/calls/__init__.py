"""Call control: the B2BUA.

Pure parts (layer L2, no I/O): ``hunting`` (the failover policy, exported here), ``build``
(the other leg's messages), ``table`` (the live-call line counters), ``control`` (what the API
sees). The engine and its parts sit above the snapshot and the CDR writer: ``ingress`` and
``admission`` (who calls, may they), ``targets`` (where), ``hunter`` (the attempts), ``bridge``
(requests within the legs' dialogs), ``metering`` (rating, credit reservations, the call's
price), ``wire`` (what they share), ``call`` (one call's state), ``engine`` (the transaction
user the dispatcher hands events to). Import those from their modules; this package's surface
stays pure."""

from softswitch.calls.hunting import (
    NEVER_FAILOVER,
    Answered,
    AttemptRecord,
    CallerCancelled,
    Connect,
    Decision,
    EarlyMedia,
    Event,
    FinalResponse,
    Hunt,
    HuntingError,
    HuntingPolicy,
    HuntState,
    RtpStarted,
    Stop,
    StopReason,
    Timeout,
    TryNext,
    Wait,
    is_failover_status,
    select_caller_status,
)

__all__ = [
    "NEVER_FAILOVER",
    "Answered",
    "AttemptRecord",
    "CallerCancelled",
    "Connect",
    "Decision",
    "EarlyMedia",
    "Event",
    "FinalResponse",
    "Hunt",
    "HuntState",
    "HuntingError",
    "HuntingPolicy",
    "RtpStarted",
    "Stop",
    "StopReason",
    "Timeout",
    "TryNext",
    "Wait",
    "is_failover_status",
    "select_caller_status",
]
