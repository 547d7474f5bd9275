"""``GET /metrics``: the monitor's figures in the Prometheus text exposition format 0.0.4.

Served at the root (where Prometheus looks by default), not under ``/api/v1``. Prometheus
authenticates with a bearer token (``authorization: {credentials: sk_…}`` in its scrape
config), so the endpoint takes the same bearer tokens as the API: an API key of an admin or
operator, the roles that may see the whole switch. Without a call engine it answers 503.

Figures follow the Prometheus conventions: base units (seconds, ratios), ``_total`` counters for
what only grows since start, gauges for the rest; per-gateway series carry ``gateway_id`` and
``gateway`` (the name) labels, per-prefix series also ``prefix``. A figure without data (ASR of
a gateway that saw no call in its window) is left out rather than exported as NaN. No
timestamps: the scrape time is the time.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Response

import softswitch
from softswitch.api.deps import Context, CurrentActor, live_calls
from softswitch.api.schemas.common import ErrorBody
from softswitch.calls.control import GatewayFigures, MonitorFigures, PrefixFigures
from softswitch.manage import Forbidden, Unavailable
from softswitch.operators import Action, Resource, Target, can
from softswitch.security import SecurityFigures

__all__ = ["CONTENT_TYPE", "METRICS_PATH", "render_metrics", "router"]

METRICS_PATH = "/metrics"
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
"""What Prometheus expects of the text format (and what its client libraries send)."""

router = APIRouter(tags=["metrics"])

_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {"text/plain": {"schema": {"type": "string"}}},
        "description": "Prometheus text exposition format 0.0.4",
    },
    **{status: {"model": ErrorBody} for status in (401, 403, 503)},
}

Labels = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class _Family:
    """One metric: its name, type, help line and samples (labels, value)."""

    name: str
    kind: str
    help: str
    samples: Sequence[tuple[Labels, float | int]]


def _escape_label(value: str) -> str:
    """Label values escape backslash, double quote and line feed (format 0.0.4)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    """Help text escapes backslash and line feed."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _number(value: float | int) -> str:
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _lines(families: Iterable[_Family]) -> Iterable[str]:
    for family in families:
        if not family.samples:
            continue
        yield f"# HELP {family.name} {_escape_help(family.help)}"
        yield f"# TYPE {family.name} {family.kind}"
        for labels, value in family.samples:
            if labels:
                inner = ",".join(f'{key}="{_escape_label(text)}"' for key, text in labels)
                yield f"{family.name}{{{inner}}} {_number(value)}"
            else:
                yield f"{family.name} {_number(value)}"


def _gateway(figures: GatewayFigures) -> Labels:
    return (("gateway_id", str(figures.id)), ("gateway", figures.name))


def _per_gateway(
    gateways: Sequence[GatewayFigures], value: Callable[[GatewayFigures], float | int | None]
) -> list[tuple[Labels, float | int]]:
    """(labels, value) of each gateway whose ``value(gateway)`` is not None."""
    samples: list[tuple[Labels, float | int]] = []
    for gateway in gateways:
        found = value(gateway)
        if found is not None:
            samples.append((_gateway(gateway), found))
    return samples


def _per_prefix(
    gateways: Sequence[GatewayFigures], value: Callable[[PrefixFigures], float | int | None]
) -> list[tuple[Labels, float | int]]:
    """(labels, value) of each gateway and prefix whose ``value(prefix)`` is not None."""
    samples: list[tuple[Labels, float | int]] = []
    for gateway in gateways:
        for figures in gateway.prefixes:
            found = value(figures)
            if found is not None:
                samples.append(((*_gateway(gateway), ("prefix", figures.prefix)), found))
    return samples


def _ratio(percent: float | None) -> float | None:
    return None if percent is None else percent / 100.0


def _seconds(value: float | None) -> float | None:
    return None if value is None else float(value)


def _security(found: SecurityFigures | None, tasks: int | None) -> list[_Family]:
    """The defences' figures (issue 6) and the event loop's task count (a leak shows as a
    count that only grows)."""
    one: Labels = ()
    families = []
    if tasks is not None:
        families.append(
            _Family(
                "softswitch_asyncio_tasks",
                "gauge",
                "asyncio tasks alive in the switch process.",
                [(one, tasks)],
            )
        )
    if found is not None:
        families += [
            _Family(
                "softswitch_security_dropped_packets_total",
                "counter",
                "Packets dropped before parsing (bans, suspensions, blacklisted addresses, "
                "scanners, the flood limit).",
                [(one, found.dropped_packets)],
            ),
            _Family(
                "softswitch_security_bans",
                "gauge",
                "Source addresses banned now (flood or scanner).",
                [(one, found.bans)],
            ),
            _Family(
                "softswitch_security_suspensions",
                "gauge",
                "Addresses or usernames suspended now after failed authentications.",
                [(one, found.suspensions)],
            ),
            _Family(
                "softswitch_security_blacklisted_numbers",
                "gauge",
                "Numbers on the dynamic blacklists now.",
                [(one, found.blacklisted)],
            ),
        ]
    return families


def render_metrics(
    figures: MonitorFigures,
    security: SecurityFigures | None = None,
    tasks: int | None = None,
) -> str:
    """The exposition text of ``figures`` (ends with a line feed, as the format wants)."""
    gateways = figures.gateways
    one: Labels = ()
    families = [
        _Family(
            "softswitch_build_info",
            "gauge",
            "The running softswitch version (always 1).",
            [((("version", softswitch.__version__),), 1)],
        ),
        _Family(
            "softswitch_calls_concurrent",
            "gauge",
            "Calls in progress: routing, ringing, answered or clearing.",
            [(one, figures.concurrent_calls)],
        ),
        _Family(
            "softswitch_calls_answered_concurrent",
            "gauge",
            "Calls in progress that are answered (talking).",
            [(one, figures.answered_calls)],
        ),
        _Family(
            "softswitch_calls_per_second",
            "gauge",
            "New inbound calls per second over the last "
            "softswitch_calls_per_second_window_seconds.",
            [(one, float(figures.calls_per_second))],
        ),
        _Family(
            "softswitch_calls_per_second_window_seconds",
            "gauge",
            "The window softswitch_calls_per_second is measured over.",
            [(one, figures.cps_window_s)],
        ),
        _Family(
            "softswitch_calls_total",
            "counter",
            "Calls since the switch started.",
            [(one, figures.calls_total)],
        ),
        _Family(
            "softswitch_calls_answered_total",
            "counter",
            "Answered calls since the switch started.",
            [(one, figures.answered_total)],
        ),
        _Family(
            "softswitch_registered_aors",
            "gauge",
            "Addresses-of-record with at least one live registration.",
            [(one, figures.registered_aors)],
        ),
        _Family(
            "softswitch_registered_bindings",
            "gauge",
            "Live registration bindings (contacts).",
            [(one, figures.registered_bindings)],
        ),
        _Family(
            "softswitch_registered_bindings_behind_nat",
            "gauge",
            "Live registration bindings of devices behind NAT.",
            [(one, figures.registered_behind_nat)],
        ),
        _Family(
            "softswitch_cdr_pending",
            "gauge",
            "CDRs journaled but not yet written to the database.",
            [(one, figures.cdr_pending)],
        ),
        _Family(
            "softswitch_gateway_calls_concurrent",
            "gauge",
            "Calls in progress on a routing gateway.",
            _per_gateway(gateways, lambda g: g.in_use),
        ),
        _Family(
            "softswitch_gateway_capacity",
            "gauge",
            "Line limit of a routing gateway (absent: unlimited).",
            _per_gateway(gateways, lambda g: g.capacity),
        ),
        _Family(
            "softswitch_gateway_window_attempts",
            "gauge",
            "Call attempts on a routing gateway within SS_GATEWAY_ASR_RESERVE_TIME.",
            _per_gateway(gateways, lambda g: g.attempts),
        ),
        _Family(
            "softswitch_gateway_window_answered",
            "gauge",
            "Answered attempts on a routing gateway within SS_GATEWAY_ASR_RESERVE_TIME.",
            _per_gateway(gateways, lambda g: g.answered),
        ),
        _Family(
            "softswitch_gateway_asr_ratio",
            "gauge",
            "Answer-seizure ratio (0 to 1) of a routing gateway within "
            "SS_GATEWAY_ASR_RESERVE_TIME; absent without attempts.",
            _per_gateway(gateways, lambda g: _ratio(g.asr)),
        ),
        _Family(
            "softswitch_gateway_acd_seconds",
            "gauge",
            "Average call duration of a routing gateway's answered calls within "
            "SS_GATEWAY_ACD_RESERVE_TIME; absent without answered calls.",
            _per_gateway(gateways, lambda g: _seconds(g.acd)),
        ),
        _Family(
            "softswitch_gateway_prefix_window_attempts",
            "gauge",
            "Call attempts on a routing gateway for callees under one of its prefixes, within "
            "SS_GATEWAY_ASR_RESERVE_TIME.",
            _per_prefix(gateways, lambda p: p.attempts),
        ),
        _Family(
            "softswitch_gateway_prefix_window_answered",
            "gauge",
            "Answered attempts on a routing gateway for callees under one of its prefixes, "
            "within SS_GATEWAY_ASR_RESERVE_TIME.",
            _per_prefix(gateways, lambda p: p.answered),
        ),
        _Family(
            "softswitch_gateway_prefix_asr_ratio",
            "gauge",
            "Answer-seizure ratio (0 to 1) of a routing gateway for callees under one of its "
            "prefixes; absent without attempts.",
            _per_prefix(gateways, lambda p: _ratio(p.asr)),
        ),
        _Family(
            "softswitch_gateway_prefix_acd_seconds",
            "gauge",
            "Average call duration of a routing gateway's answered calls under one of its "
            "prefixes; absent without answered calls.",
            _per_prefix(gateways, lambda p: _seconds(p.acd)),
        ),
        *_security(security, tasks),
    ]
    return "\n".join(_lines(families)) + "\n"


@router.get(METRICS_PATH, response_class=Response, responses=_RESPONSES)
async def metrics(ctx: Context, actor: CurrentActor) -> Response:
    """The monitor's figures for Prometheus; a bearer token (API key) of an admin or operator."""
    if not can(actor, Action.READ, Target(Resource.CALL)):
        raise Forbidden(f"{actor.username} ({actor.role.value}) may not read the metrics")
    figures = live_calls(ctx).monitor()
    security = None
    if ctx.security is not None:
        try:
            security = ctx.security.figures()
        except Unavailable:
            security = None
    text = render_metrics(figures, security, len(asyncio.all_tasks()))
    return Response(text, media_type=CONTENT_TYPE)
