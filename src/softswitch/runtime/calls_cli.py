"""``softswitch calls``: live calls of the *running* switch, through its HTTP API.

Unlike ``user``, ``param`` or ``rates``, which open the database as the system actor, live calls
exist only in the memory of the ``softswitch run`` process, so this command is an HTTP client
of that process: it finds it at the ``http_listen`` of the same settings (``--config``,
``SOFTSWITCH_*``) the other commands read, or at ``--url``, and authenticates with an API key
(``SOFTSWITCH_API_KEY``, or ``--api-key``). The key's role and scope apply exactly as they do to
any API client: an agent's key lists its accounts' calls only.

Everything that can go wrong (no switch listening, a refused key, an unknown call, a switch
without call engine) becomes one :class:`CallsError` with a sentence the CLI prints.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any
from urllib.parse import quote

import httpx

from softswitch.api.routes import API_PREFIX
from softswitch.runtime.settings import Settings
from softswitch.transport.addresses import HostPort, format_host

__all__ = [
    "API_KEY_ENV",
    "CallsError",
    "SwitchApi",
    "api_key",
    "call_details",
    "call_table",
    "monitor_lines",
    "switch_url",
]

API_KEY_ENV = "SOFTSWITCH_API_KEY"
"""Where the API key is read from when ``--api-key`` is not given (preferred: a command line
is visible to every user in ``ps``)."""

DEFAULT_TIMEOUT = 10.0
"""Seconds to wait for the switch; every request is a single in-memory read or action."""


class CallsError(Exception):
    """A failure to report on one line (exit code 1)."""


def api_key(given: str | None, env: Mapping[str, str]) -> str:
    """The API key from ``--api-key`` or the environment; :class:`CallsError` without one."""
    key = (given if given is not None else env.get(API_KEY_ENV, "")).strip()
    if not key:
        raise CallsError(
            f"softswitch calls needs an API key: set {API_KEY_ENV} (or pass --api-key); "
            "make one with POST /api/v1/api-keys while logged in"
        )
    return key


def switch_url(settings: Settings, given: str | None = None) -> str:
    """The running switch's HTTP base URL: ``given`` (``--url``), else its ``http_listen``.
    A wildcard listen address (``0.0.0.0``, ``::``) is reached on the loopback."""
    if given:
        return given.rstrip("/")
    listen: HostPort = settings.http_listen
    host = listen.host
    address = ipaddress.ip_address(host)
    if address.is_unspecified:
        host = "::1" if address.version == 6 else "127.0.0.1"
    return f"http://{format_host(host)}:{listen.port}"


def _refusal(answer: httpx.Response) -> tuple[str, str | None]:
    """The message and field of an API error body (the API's one error shape)."""
    try:
        body = answer.json()
        error = body["error"]
        return str(error["message"]), error.get("field")
    except (ValueError, KeyError, TypeError):
        return f"HTTP {answer.status_code} {answer.reason_phrase}", None


class SwitchApi:
    """The live-call routes of one running switch, as plain JSON values."""

    def __init__(
        self,
        base_url: str,
        key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url
        self._client = httpx.Client(
            base_url=f"{base_url}{API_PREFIX}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=timeout,
            transport=transport,
        )

    def __enter__(self) -> SwitchApi:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def list_calls(self, filters: Mapping[str, str | int | None]) -> dict[str, Any]:
        """``GET /calls``: ``{"items": [...], "total": n, "limit": l}``."""
        params = {name: value for name, value in filters.items() if value is not None}
        return self._json("GET", "/calls", params=params)

    def call(self, call_id: str) -> dict[str, Any]:
        """``GET /calls/{id}``."""
        return self._json("GET", f"/calls/{quote(call_id, safe='')}")

    def hangup(self, call_id: str) -> None:
        """``DELETE /calls/{id}``."""
        self._request("DELETE", f"/calls/{quote(call_id, safe='')}")

    def callback(
        self, a: str, b: str, account_id: int | None, caller_id: str | None = None
    ) -> dict[str, Any]:
        """``POST /calls/callback``: ``{"call_id": ...}``."""
        body: dict[str, Any] = {"a": a, "b": b}
        if account_id is not None:
            body["account_id"] = account_id
        if caller_id is not None:
            body["caller_id"] = caller_id
        return self._json("POST", "/calls/callback", json=body)

    def monitor(self) -> dict[str, Any]:
        """``GET /monitor``."""
        return self._json("GET", "/monitor")

    def _json(self, method: str, path: str, **options: Any) -> dict[str, Any]:
        answer = self._request(method, path, **options)
        try:
            found = answer.json()
        except ValueError:
            raise CallsError(f"{self.base_url} answered {path} with something not JSON") from None
        if not isinstance(found, dict):
            raise CallsError(f"{self.base_url} answered {path} with an unexpected body")
        return found

    def _request(self, method: str, path: str, **options: Any) -> httpx.Response:
        try:
            answer = self._client.request(method, path, **options)
        except httpx.ConnectError as exc:
            raise CallsError(
                f"no switch answers at {self.base_url} ({exc}): is 'softswitch run' running, "
                "with this http_listen (or pass --url)?"
            ) from None
        except httpx.TimeoutException:
            raise CallsError(f"the switch at {self.base_url} did not answer in time") from None
        except httpx.HTTPError as exc:
            raise CallsError(f"cannot talk to the switch at {self.base_url}: {exc}") from None
        if answer.is_success:
            return answer
        message, field = _refusal(answer)
        if answer.status_code == 401:
            raise CallsError(
                f"the switch refused the API key ({message}); check {API_KEY_ENV} or --api-key"
            )
        if answer.status_code == 403:
            raise CallsError(f"the API key's role may not do this: {message}")
        where = f" ({field})" if field else ""
        raise CallsError(f"{message}{where}")


# -- what the CLI prints ---------------------------------------------------------------------


def _time(text: str | None) -> str:
    if not text:
        return "-"
    try:
        return datetime.fromisoformat(text).strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return text


def _duration(ms: int) -> str:
    seconds = max(ms, 0) // 1000
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def call_table(listing: Mapping[str, Any]) -> list[str]:
    """``calls list``: one line per call under a header, then how many there are."""
    items: list[dict[str, Any]] = listing.get("items", [])
    total = int(listing.get("total", len(items)))
    if not items:
        return ["no live calls"]
    rows = [
        [
            str(call["id"]),
            str(call["state"]),
            str(call.get("account_code") or call.get("account_id") or "-"),
            str(call["caller"]),
            str(call["callee"]),
            str(call.get("routing_gateway_name") or "-"),
            _time(call.get("start_time")),
            _duration(int(call.get("hold_ms", 0))),
        ]
        for call in items
    ]
    header = ["ID", "STATE", "ACCOUNT", "CALLER", "CALLEE", "GATEWAY", "STARTED (UTC)", "HOLD"]
    lines = _table(header, rows)
    shown = f"{len(items)} of {total}" if total > len(items) else str(total)
    lines.append(f"{shown} live call(s)")
    return lines


def call_details(call: Mapping[str, Any]) -> list[str]:
    """``calls show``: the call's fields, one per line, then one line per leg."""
    fields = (
        ("id", call.get("id")),
        ("state", call.get("state")),
        ("caller", f"{call.get('caller')} (sent as {call.get('caller_out')})"),
        ("callee", f"{call.get('callee')} (sent as {call.get('callee_out')})"),
        ("account", f"{call.get('account_code') or '-'} (id {call.get('account_id')})"),
        ("agent id", call.get("agent_id")),
        ("phone id", call.get("phone_id")),
        ("mapping gateway id", call.get("mapping_gateway_id")),
        (
            "routing gateway",
            f"{call.get('routing_gateway_name') or '-'} (id {call.get('routing_gateway_id')})",
        ),
        ("source ip", call.get("source_ip")),
        ("started", _time(call.get("start_time"))),
        ("ringing", _time(call.get("ring_time"))),
        ("answered", _time(call.get("answer_time"))),
        ("hold", _duration(int(call.get("hold_ms", 0)))),
        ("attempts", call.get("attempts")),
    )
    lines = [f"{name + ':':20}{'-' if value is None else value}" for name, value in fields]
    for leg in call.get("legs", []):
        lines.append(
            f"leg {leg.get('side')}: {leg.get('state')} peer {leg.get('peer')} "
            f"call-id {leg.get('call_id')} tags {leg.get('local_tag')}/{leg.get('remote_tag')}"
        )
    return lines


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}%"


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def _capacity(value: int | None) -> str:
    return "-" if value is None else str(value)


def monitor_lines(figures: Mapping[str, Any]) -> list[str]:
    """``calls monitor``: the switch's figures, then a table of the routing gateways, each
    followed by its figures per prefix."""
    lines = [
        f"at:                 {_time(figures.get('at'))} UTC",
        f"concurrent calls:   {figures.get('concurrent_calls')} "
        f"({figures.get('answered_calls')} answered)",
        f"calls per second:   {float(figures.get('calls_per_second', 0.0)):.2f} "
        f"(last {figures.get('cps_window_s')} s)",
        f"calls since start:  {figures.get('calls_total')} "
        f"({figures.get('answered_total')} answered)",
        f"registrations:      {figures.get('registered_aors')} AORs, "
        f"{figures.get('registered_bindings')} bindings "
        f"({figures.get('registered_behind_nat')} behind NAT)",
        f"CDRs pending:       {figures.get('cdr_pending')}",
    ]
    gateways: list[dict[str, Any]] = figures.get("gateways", [])
    if not gateways:
        return [*lines, "no routing gateways"]
    rows: list[list[str]] = []
    for gateway in gateways:
        rows.append(
            [
                str(gateway["id"]),
                str(gateway["name"]),
                f"{gateway['in_use']}/{_capacity(gateway.get('capacity'))}",
                str(gateway["attempts"]),
                str(gateway["answered"]),
                _percent(gateway.get("asr")),
                _seconds(gateway.get("acd")),
            ]
        )
        for prefix in gateway.get("prefixes", []):
            rows.append(
                [
                    "",
                    f"  prefix {prefix['prefix'] or '(any)'}",
                    "",
                    str(prefix["attempts"]),
                    str(prefix["answered"]),
                    _percent(prefix.get("asr")),
                    _seconds(prefix.get("acd")),
                ]
            )
    header = ["ID", "GATEWAY", "CALLS/CAP", "ATTEMPTS", "ANSWERED", "ASR", "ACD"]
    return [*lines, "", *_table(header, rows)]
