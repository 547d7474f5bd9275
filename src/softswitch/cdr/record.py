"""Termination reasons of a CDR (issue 4 §5), pure (layer L2).

Every call ends with exactly one :class:`TerminationReason`. The set is closed so reports,
alarms and the API can rely on it; the values are the VOS3000-style names operators already
search CDRs by (``NoAvailableRouter``, ``CallerBalanceInsufficient``, ``CalleeBusy`` ...).
Each reason carries a one-line meaning, what causes it, and the SIP status the caller gets
when the call fails before answer (``None`` for a call that was answered and then cleared
with BYE, where no final status is sent).

``docs/termination-reasons.md`` is generated from this module (``softswitch.cdr.docs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum, unique

__all__ = [
    "Cause",
    "ReasonInfo",
    "TerminationReason",
    "reason_for_gateway_status",
]


class Cause(Enum):
    """Who or what ends the call with a given reason: where an operator starts looking."""

    CALLER = "caller"
    CALLEE = "callee"
    CARRIER = "routing gateway (carrier)"
    ACCOUNT = "caller's account settings"
    POLICY = "switch routing or security policy"
    CAPACITY = "configured capacity limit"
    SWITCH = "the switch itself"
    NETWORK = "network or media path"
    OPERATOR = "an operator"


@dataclass(frozen=True, slots=True)
class ReasonInfo:
    """What a reason means; ``caller_status`` is the final SIP status sent to the caller.

    ``relayed`` marks reasons whose caller status is chosen from the gateways' own answers
    (``softswitch.calls.hunting.select_caller_status``); ``caller_status`` is then the usual one.
    """

    meaning: str
    cause: Cause
    caller_status: int | None
    relayed: bool = False


@unique
class TerminationReason(Enum):
    """Why a call ended. The value is the name written to CDRs and shown to operators."""

    # Normal clearing after answer.
    CALLER_HANGUP = "CallerHangup"
    CALLEE_HANGUP = "CalleeHangup"
    OPERATOR_HANGUP = "OperatorHangup"
    # The callee side answered negatively.
    CANCELLED = "Cancelled"
    CALLEE_BUSY = "CalleeBusy"
    NO_ANSWER = "NoAnswer"
    CALLEE_NOT_FOUND = "CalleeNotFound"
    CALLEE_UNREGISTERED = "CalleeUnregistered"
    CALLEE_REJECTED = "CalleeRejected"
    CODEC_MISMATCH = "CodecMismatch"
    # Routing and carriers.
    NO_AVAILABLE_ROUTER = "NoAvailableRouter"
    GATEWAY_LINE_LIMIT = "GatewayLineLimit"
    ALL_GATEWAYS_FAILED = "AllGatewaysFailed"
    GATEWAY_REJECTED = "GatewayRejected"
    REQUEST_TIMEOUT = "RequestTimeout"
    # Who is calling and may they.
    ILLEGAL_CALL = "IllegalCall"
    AUTHENTICATION_FAILED = "AuthenticationFailed"
    CALLER_LOCKED = "CallerLocked"
    ACCOUNT_EXPIRED = "AccountExpired"
    CALLER_BALANCE_INSUFFICIENT = "CallerBalanceInsufficient"
    DAILY_SPEND_LIMIT = "DailySpendLimit"
    NO_RATE = "NoRate"
    PREFIX_NOT_ALLOWED = "PrefixNotAllowed"
    CALLER_BLACKLISTED = "CallerBlacklisted"
    CALLEE_BLACKLISTED = "CalleeBlacklisted"
    ACCOUNT_CONCURRENCY_LIMIT = "AccountConcurrencyLimit"
    PHONE_CONCURRENCY_LIMIT = "PhoneConcurrencyLimit"
    MAPPING_GATEWAY_LINE_LIMIT = "MappingGatewayLineLimit"
    # Limits and faults during the call.
    MAX_CALL_DURATION = "MaxCallDuration"
    BALANCE_EXHAUSTED = "BalanceExhausted"
    SESSION_TIMEOUT = "SessionTimeout"
    ACK_TIMEOUT = "AckTimeout"
    MEDIA_TIMEOUT = "MediaTimeout"
    SYSTEM_OVERLOAD = "SystemOverload"
    SYSTEM_SHUTDOWN = "SystemShutdown"
    SERVER_ERROR = "ServerError"

    @property
    def info(self) -> ReasonInfo:
        """Meaning, cause and caller status of this reason."""
        return _INFO[self]

    @property
    def meaning(self) -> str:
        """One line for operators."""
        return _INFO[self].meaning

    @property
    def cause(self) -> Cause:
        """Who or what ends the call with this reason."""
        return _INFO[self].cause

    @property
    def caller_status(self) -> int | None:
        """The SIP final status the caller gets, or ``None`` after answer (BYE, no status)."""
        return _INFO[self].caller_status


_R = TerminationReason
# Capacity refusals answer 503: the condition is temporary and the caller's switch should try
# another route. Policy and account refusals answer 403: retrying elsewhere through this switch
# cannot succeed (RFC 3261 §21.4.4). 402 is reserved by RFC 3261 §21.4.3 and not used.
_INFO: dict[TerminationReason, ReasonInfo] = {
    _R.CALLER_HANGUP: ReasonInfo("the caller hung up (BYE) after answer", Cause.CALLER, None),
    _R.CALLEE_HANGUP: ReasonInfo("the callee hung up (BYE) after answer", Cause.CALLEE, None),
    _R.OPERATOR_HANGUP: ReasonInfo(
        "an operator hung the call up through the API, console or CLI", Cause.OPERATOR, None
    ),
    _R.CANCELLED: ReasonInfo(
        "the caller cancelled before answer (CANCEL), or the gateway answered 487",
        Cause.CALLER,
        487,
    ),
    _R.CALLEE_BUSY: ReasonInfo(
        "the callee is busy (486 or 600 from the gateway or phone); no failover", Cause.CALLEE, 486
    ),
    _R.NO_ANSWER: ReasonInfo(
        "the callee did not answer (480, 408, or no answer within SS_SIP_INVITE_TIMEOUT)",
        Cause.CALLEE,
        480,
        relayed=True,
    ),
    _R.CALLEE_NOT_FOUND: ReasonInfo(
        "the called number does not exist or is incomplete (404, 410, 484, 604)",
        Cause.CALLEE,
        404,
        relayed=True,
    ),
    _R.CALLEE_UNREGISTERED: ReasonInfo(
        "the called phone of this switch has no current registration", Cause.CALLEE, 480
    ),
    _R.CALLEE_REJECTED: ReasonInfo(
        "the callee declined the call (603)", Cause.CALLEE, 603, relayed=True
    ),
    _R.CODEC_MISMATCH: ReasonInfo(
        "no common codec or unacceptable SDP (488, 606, 415)", Cause.CALLEE, 488, relayed=True
    ),
    _R.NO_AVAILABLE_ROUTER: ReasonInfo(
        "no enabled routing gateway has a prefix matching the callee", Cause.POLICY, 503
    ),
    _R.GATEWAY_LINE_LIMIT: ReasonInfo(
        "every matching routing gateway is at its line limit", Cause.CAPACITY, 503
    ),
    _R.ALL_GATEWAYS_FAILED: ReasonInfo(
        "every gateway tried failed (5xx, timeout or a failover code) or "
        "SS_GATEWAY_SWITCH_LIMIT was reached",
        Cause.CARRIER,
        500,
        relayed=True,
    ),
    _R.GATEWAY_REJECTED: ReasonInfo(
        "the gateway refused the call with an answer that allows no failover (403, 3xx, ...)",
        Cause.CARRIER,
        403,
        relayed=True,
    ),
    _R.REQUEST_TIMEOUT: ReasonInfo(
        "the gateway never responded to the INVITE (not even 100 Trying)", Cause.NETWORK, 408
    ),
    _R.ILLEGAL_CALL: ReasonInfo(
        "the INVITE came from no known phone or mapping gateway "
        "(no answer at all when SS_REPLY_UNAUTHORIZED is Off)",
        Cause.POLICY,
        403,
    ),
    _R.AUTHENTICATION_FAILED: ReasonInfo(
        "the caller's digest credentials were wrong or missing", Cause.CALLER, 403
    ),
    _R.CALLER_LOCKED: ReasonInfo("the caller's account or phone is locked", Cause.ACCOUNT, 403),
    _R.ACCOUNT_EXPIRED: ReasonInfo(
        "the caller's account is past its expiry date", Cause.ACCOUNT, 403
    ),
    _R.CALLER_BALANCE_INSUFFICIENT: ReasonInfo(
        "the caller's balance (plus credit) cannot pay for the minimum call time",
        Cause.ACCOUNT,
        403,
    ),
    _R.DAILY_SPEND_LIMIT: ReasonInfo(
        "the caller's account reached its daily spending limit", Cause.ACCOUNT, 403
    ),
    _R.NO_RATE: ReasonInfo(
        "the caller's rate table has no rate for the called prefix", Cause.ACCOUNT, 403
    ),
    _R.PREFIX_NOT_ALLOWED: ReasonInfo(
        "the caller may not call this prefix (account or phone prefix rules)", Cause.POLICY, 403
    ),
    _R.CALLER_BLACKLISTED: ReasonInfo("the calling number is blacklisted", Cause.POLICY, 403),
    _R.CALLEE_BLACKLISTED: ReasonInfo("the called number is blacklisted", Cause.POLICY, 403),
    _R.ACCOUNT_CONCURRENCY_LIMIT: ReasonInfo(
        "the caller's account has as many live calls as it may", Cause.CAPACITY, 503
    ),
    _R.PHONE_CONCURRENCY_LIMIT: ReasonInfo(
        "the calling phone has as many live calls as it may", Cause.CAPACITY, 503
    ),
    _R.MAPPING_GATEWAY_LINE_LIMIT: ReasonInfo(
        "the calling mapping gateway is at its line limit", Cause.CAPACITY, 503
    ),
    _R.BALANCE_EXHAUSTED: ReasonInfo(
        "the credit reserved for the call ran out and no more could be reserved (the balance, "
        "credit limit or daily spend limit is used up); BYE on both legs when its time ended",
        Cause.ACCOUNT,
        None,
    ),
    _R.MAX_CALL_DURATION: ReasonInfo(
        "the call reached SS_MAX_CALL_DURATION; BYE on both legs",
        Cause.SWITCH,
        None,
    ),
    _R.SESSION_TIMEOUT: ReasonInfo(
        "the session was not refreshed in time (RFC 4028 session timer); BYE on both legs",
        Cause.NETWORK,
        None,
    ),
    _R.ACK_TIMEOUT: ReasonInfo(
        "the caller never acknowledged the answer (no ACK within 64*T1, RFC 3261 §13.3.1.4); "
        "BYE on both legs",
        Cause.NETWORK,
        None,
    ),
    _R.MEDIA_TIMEOUT: ReasonInfo(
        "no RTP through the media relay for too long; BYE on both legs", Cause.NETWORK, None
    ),
    _R.SYSTEM_OVERLOAD: ReasonInfo(
        "the switch refused the call to protect itself (calls per second or load)",
        Cause.CAPACITY,
        503,
    ),
    _R.SYSTEM_SHUTDOWN: ReasonInfo(
        "the switch was stopped (SIGTERM) while the call was up: both legs were cleared "
        "(BYE, or 503 before answer) and the call recorded",
        Cause.SWITCH,
        503,
    ),
    _R.SERVER_ERROR: ReasonInfo(
        "an internal fault of the switch ended the call", Cause.SWITCH, 500
    ),
}

# Final answers of the last gateway tried, mapped to the reason written in the CDR. 5xx and
# 408-by-timeout are not here: a hunt only ends on them once no other gateway may be tried.
_BY_STATUS: dict[int, TerminationReason] = {
    486: _R.CALLEE_BUSY,
    600: _R.CALLEE_BUSY,
    408: _R.NO_ANSWER,
    480: _R.NO_ANSWER,
    404: _R.CALLEE_NOT_FOUND,
    410: _R.CALLEE_NOT_FOUND,
    484: _R.CALLEE_NOT_FOUND,
    604: _R.CALLEE_NOT_FOUND,
    487: _R.CANCELLED,
    603: _R.CALLEE_REJECTED,
    415: _R.CODEC_MISMATCH,
    488: _R.CODEC_MISMATCH,
    606: _R.CODEC_MISMATCH,
}


def reason_for_gateway_status(status: int) -> TerminationReason:
    """The termination reason for a call that failed on the last gateway's final ``status``.

    Any 5xx means the carriers failed (the hunt had no gateway left to try); any other failure
    the table above does not name is the carrier's refusal (:attr:`GATEWAY_REJECTED`).
    """
    if not 300 <= status <= 699:
        raise ValueError(f"not a failure final status: {status}")
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if 500 <= status <= 599:
        return _R.ALL_GATEWAYS_FAILED
    return _R.GATEWAY_REJECTED
