"""Billing reports (issue 5 §3): on demand, and the files of the 01:00 daily run.

- ``GET /reports/{kind}?from=&to=&group=day|period&tz=&format=json|csv``: any report over any
  range of local days (at most 366), as JSON (rows and per-currency totals) or CSV (a header row,
  then the rows). The rules and who may read which report are ``softswitch.manage.reports``'s.
- ``POST /reports/daily?date=``: run the daily job for one past day now (replacing that day's
  files); ``GET /reports/daily``: the days and files on disk; ``GET /reports/daily/{date}/
  {kind}.csv``: one file. The daily files cover every account, so these are for admins and
  operators. The job lives in the runtime, which the API may not import: ``create_app`` is
  handed it as a ``DailyReportRunner`` (``reports=``); without one these three answer 503.

The daily routes are declared before ``/reports/{kind}`` so ``daily`` is never read as a kind.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import FileResponse

from softswitch.api.deps import Context, CurrentActor
from softswitch.api.errors import ApiError
from softswitch.api.routes import API_PREFIX
from softswitch.api.schemas.common import ErrorBody
from softswitch.api.schemas.reports import (
    DailyDayOut,
    DailyFileOut,
    DailyListOut,
    DailyRunOut,
    ReportFilter,
    ReportOut,
)
from softswitch.manage import Forbidden, Invalid, NotFound
from softswitch.manage.reports import (
    Cell,
    DailyFile,
    DailyReportRunner,
    Report,
    ReportKind,
    build_report,
    cell_text,
    report_csv,
    report_request,
)
from softswitch.operators import Actor, ScopeKind, visible_scope

__all__ = ["REPORTS_PATH", "daily_runner", "router"]

REPORTS_PATH = "/reports"

router = APIRouter(tags=["reports"])


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": ErrorBody} for status in statuses}


def _csv_answer(description: str, *statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": description},
        **_errors(*statuses),
    }


def daily_runner(request: Request) -> DailyReportRunner | None:
    """The daily job ``create_app(reports=...)`` was given, if any."""
    found: DailyReportRunner | None = getattr(request.app.state, "reports", None)
    return found


def _require_runner(request: Request) -> DailyReportRunner:
    runner = daily_runner(request)
    if runner is None:
        raise ApiError(
            503,
            "unavailable",
            "this switch runs no daily report job: daily report files are unavailable "
            "(reports on demand are at GET /api/v1/reports/{kind})",
        )
    return runner


def _require_all(actor: Actor) -> None:
    if visible_scope(actor).kind is not ScopeKind.ALL:
        raise Forbidden(
            f"{actor.username} ({actor.role.value}) may not use the daily report files: they "
            "cover every account (ask for a report with GET /api/v1/reports/{kind})"
        )


def _file_out(found: DailyFile) -> DailyFileOut:
    url = f"{API_PREFIX}{REPORTS_PATH}/daily/{found.day.isoformat()}/{found.kind.value}.csv"
    return DailyFileOut(day=found.day, kind=found.kind, size=found.size, url=url)


def _json_cell(value: Cell) -> str | int | None:
    return value if value is None or isinstance(value, int | str) else cell_text(value)


def _report_out(report: Report) -> ReportOut:
    return ReportOut(
        kind=report.kind,
        first=report.first,
        last=report.last,
        group=report.group,
        tz=report.zone,
        columns=list(report.columns),
        rows=[{name: _json_cell(row.get(name)) for name in report.columns} for row in report.rows],
        total_columns=list(report.total_columns),
        totals=[
            {name: _json_cell(row.get(name)) for name in report.total_columns}
            for row in report.totals
        ],
    )


DayParam = Annotated[date, Path(description="the local day, YYYY-MM-DD")]


@router.get(f"{REPORTS_PATH}/daily", response_model=DailyListOut, responses=_errors(401, 403, 503))
async def list_daily(request: Request, actor: CurrentActor) -> DailyListOut:
    """The days with daily report files, newest first, and each day's files."""
    _require_all(actor)
    days: dict[date, list[DailyFileOut]] = {}
    for found in await _require_runner(request).files():
        days.setdefault(found.day, []).append(_file_out(found))
    return DailyListOut(days=[DailyDayOut(day=day, files=files) for day, files in days.items()])


@router.post(
    f"{REPORTS_PATH}/daily", response_model=DailyRunOut, responses=_errors(401, 403, 422, 503)
)
async def run_daily(
    request: Request,
    ctx: Context,
    actor: CurrentActor,
    day: Annotated[date, Query(alias="date", description="a past local day, YYYY-MM-DD")],
) -> DailyRunOut:
    """Make one day's daily reports now (those whose SERVER_REPORT_* switch is On), replacing
    that day's earlier files; the files written."""
    _require_all(actor)
    runner = _require_runner(request)
    today = ctx.now().astimezone(runner.zone).date()
    if day >= today:
        raise Invalid(
            f"date must be a day that is over: before {today} in {runner.zone.key}",
            field="date",
        )
    if day.year < 1970:
        raise Invalid("date must be in 1970 or later", field="date")
    written = await runner.run_day(day)
    return DailyRunOut(day=day, files=[_file_out(found) for found in written])


@router.get(
    f"{REPORTS_PATH}/daily/{{day}}/{{kind}}.csv",
    response_class=FileResponse,
    responses=_csv_answer("the daily report file", 401, 403, 404, 422, 503),
)
async def download_daily(
    request: Request, actor: CurrentActor, day: DayParam, kind: ReportKind
) -> FileResponse:
    """One daily report file as written at 01:00 (or by ``POST /reports/daily``)."""
    _require_all(actor)
    path = _require_runner(request).file(day, kind)
    if path is None:
        raise NotFound(
            f"no {kind.value} report file for {day}: it was not made (its SERVER_REPORT_* switch "
            f"was Off, or the switch was down at 01:00); make it with POST "
            f"{API_PREFIX}{REPORTS_PATH}/daily?date={day}"
        )
    return FileResponse(
        path, media_type="text/csv; charset=utf-8", filename=f"{kind.value}-{day}.csv"
    )


@router.get(
    f"{REPORTS_PATH}/{{kind}}",
    response_model=ReportOut,
    responses={
        **_csv_answer("with format=csv: a header row, then the rows"),
        **_errors(401, 403, 422),
    },
)
async def get_report(
    request: Request,
    ctx: Context,
    actor: CurrentActor,
    kind: Annotated[ReportKind, Path(description="which report")],
    given: Annotated[ReportFilter, Query()],
) -> Response | ReportOut:
    """One report over local days ``from`` to ``to`` (both included)."""
    runner = daily_runner(request)
    zone = given.tz if given.tz is not None else (runner.zone if runner is not None else "UTC")
    query = report_request(kind, given.first, given.last, given.group, zone)
    report = await build_report(ctx.sessions, query, actor)
    if given.format == "csv":
        name = f"{kind.value}-{given.first}-{given.last}-{given.group.value}.csv"
        return Response(
            report_csv(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )
    return _report_out(report)
