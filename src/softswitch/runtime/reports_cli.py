"""``softswitch reports KIND --from D --to D``: a billing report from the *running* switch.

Like ``softswitch calls``, this is an HTTP client of the ``softswitch run`` process
(``GET /api/v1/reports/{kind}``), found at the ``http_listen`` of the same settings or at
``--url``, authenticated with an API key (``SOFTSWITCH_API_KEY``, or ``--api-key``): the key's
role decides which reports and which accounts it may see, exactly as for any API client, and
the reports are computed where the database is. ``--csv`` prints the API's CSV unchanged
(for a spreadsheet or a pipe); otherwise a table of the rows and one line of totals per
currency.

The command writes to the streams it is given (standard output and error by default) and
returns the exit code: 0, or 1 with one line saying what went wrong. The module itself
imports only argparse (``softswitch`` builds its parser with :func:`add_parser` on every
start); the HTTP client and the settings are imported by :func:`run`.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from softswitch.runtime.calls_cli import SwitchApi

__all__ = ["KINDS", "add_parser", "fetch_report", "fetch_report_csv", "report_lines", "run"]

API_KEY_ENV = "SOFTSWITCH_API_KEY"
"""The same variable as ``softswitch calls`` (``calls_cli.API_KEY_ENV``)."""

KINDS = ("customer_fee", "agent_income", "gateway_fee", "phone_fee", "profit", "gateway_area")
"""The values of ``softswitch.manage.reports.ReportKind`` (spelled out so ``--help`` needs no
import of the storage layer)."""

REPORT_TIMEOUT = 300.0
"""Seconds to wait for a report: a year of CDRs is a long scan on a big database."""

_HELP = (
    "A billing report of the running switch, through its HTTP API (GET /api/v1/reports/KIND): "
    "days are local days in --tz (default: the switch's time zone), FROM and TO included. "
    "The switch is found at the http_listen of the same settings as the other commands (or "
    "--url); the API key (SOFTSWITCH_API_KEY, or --api-key) decides which reports and accounts "
    "you may see."
)


def fetch_report(api: SwitchApi, kind: str, query: Mapping[str, str]) -> dict[str, Any]:
    """``GET /reports/{kind}`` as JSON (``columns``, ``rows``, ``totals``...), through the
    request and refusal handling of ``softswitch calls``' client."""
    return api._json("GET", f"/reports/{kind}", params=dict(query))


def fetch_report_csv(api: SwitchApi, kind: str, query: Mapping[str, str]) -> str:
    """``GET /reports/{kind}?format=csv``: the CSV text."""
    return api._request("GET", f"/reports/{kind}", params={**query, "format": "csv"}).text


def add_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> argparse.ArgumentParser:
    """The ``reports`` subcommand, with the settings options of ``common``."""
    parser = commands.add_parser(
        "reports",
        parents=[common],
        help="a billing report of the running switch (over its HTTP API)",
        description=_HELP,
    )
    parser.add_argument("kind", choices=KINDS, metavar="KIND", help=", ".join(KINDS))
    parser.add_argument("--from", dest="first", required=True, metavar="YYYY-MM-DD")
    parser.add_argument("--to", dest="last", required=True, metavar="YYYY-MM-DD")
    parser.add_argument(
        "--group",
        choices=("day", "period"),
        default="day",
        help="a row per local day (default), or one over the whole period",
    )
    parser.add_argument("--tz", help="IANA time zone of the days (default: the switch's)")
    parser.add_argument("--csv", action="store_true", help="print the report as CSV")
    group = parser.add_argument_group("switch")
    group.add_argument("--url", help="the switch's HTTP API (default: http://<http_listen>)")
    group.add_argument(
        "--api-key",
        help="an API key (default: $SOFTSWITCH_API_KEY, the safer way: ps shows command lines)",
    )
    return parser


def _api_key(given: str | None, env: Mapping[str, str]) -> str:
    from softswitch.runtime.calls_cli import CallsError

    key = (given if given is not None else env.get(API_KEY_ENV, "")).strip()
    if not key:
        raise CallsError(
            f"softswitch reports needs an API key: set {API_KEY_ENV} (or pass --api-key); "
            "make one with POST /api/v1/api-keys while logged in"
        )
    return key


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def report_lines(report: Mapping[str, Any]) -> list[str]:
    """A report as printed: what it is, a table of its rows, then its totals per currency."""
    title = (
        f"{report.get('kind')} {report.get('from')} to {report.get('to')} "
        f"({report.get('tz')} days, per {report.get('group')})"
    )
    columns: list[str] = list(report.get("columns", []))
    rows: list[dict[str, Any]] = list(report.get("rows", []))
    if not rows:
        return [title, "no calls in this period"]
    lines = [title, ""]
    lines += _table(
        [name.upper() for name in columns], [[_text(row.get(n)) for n in columns] for row in rows]
    )
    total_columns: list[str] = list(report.get("total_columns", []))
    totals: list[dict[str, Any]] = list(report.get("totals", []))
    if totals:
        lines += ["", "totals:"]
        lines += _table(
            [name.upper() for name in total_columns],
            [[_text(row.get(n)) for n in total_columns] for row in totals],
        )
    return lines


def run(args: argparse.Namespace, *, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """``softswitch reports``: one request to the running switch; the exit code."""
    from softswitch.runtime.calls_cli import CallsError, SwitchApi, switch_url
    from softswitch.runtime.settings import SettingsError, load_settings

    out = sys.stdout if out is None else out
    err = sys.stderr if err is None else err
    query = {"from": args.first, "to": args.last, "group": args.group}
    if args.tz:
        query["tz"] = args.tz
    try:
        settings = load_settings(
            os.environ, config_file=args.config, overrides={"data_dir": args.data_dir}
        )
        key = _api_key(args.api_key, os.environ)
        api = SwitchApi(switch_url(settings, args.url), key, timeout=REPORT_TIMEOUT)
        try:
            if args.csv:
                out.write(fetch_report_csv(api, args.kind, query))
                return 0
            found = fetch_report(api, args.kind, query)
        finally:
            api.close()
    except (CallsError, SettingsError) as exc:
        err.write(f"softswitch: {exc}\n")
        return 1
    for line in report_lines(found):
        out.write(line + "\n")
    return 0
