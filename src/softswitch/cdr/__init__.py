"""Call detail records. For now the pure part (``record``, layer L2): the closed set of
termination reasons and their documentation; the durable batched writer and CDR files come
with the rest of issue 4."""

from softswitch.cdr.record import Cause, ReasonInfo, TerminationReason, reason_for_gateway_status

__all__ = ["Cause", "ReasonInfo", "TerminationReason", "reason_for_gateway_status"]
