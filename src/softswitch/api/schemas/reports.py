"""Report bodies: the query of a report, the report, and the daily files.

Amounts, minutes, ASR and ACD are exact decimal text (``"12.340000"``, ``"83.33"``), counts and
ids JSON integers, a missing value null: the same cells as the CSV, whose header is
``columns``.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from softswitch.manage.reports import Grouping, ReportKind

__all__ = [
    "DailyDayOut",
    "DailyFileOut",
    "DailyListOut",
    "DailyRunOut",
    "ReportFilter",
    "ReportOut",
]

JsonCell = str | int | None
"""One cell: text (amounts as exact decimal text), an integer, or null."""


class ReportFilter(BaseModel):
    """Which days (local days in ``tz``, ``from`` and ``to`` both included, at most 366) and
    how to group and deliver them."""

    model_config = ConfigDict(extra="forbid")

    first: date = Field(alias="from", description="first local day, YYYY-MM-DD")
    last: date = Field(alias="to", description="last local day (included), YYYY-MM-DD")
    group: Grouping = Field(
        default=Grouping.DAY, description="day: a row per local day and key; period: one per key"
    )
    tz: str | None = Field(
        default=None,
        max_length=64,
        description="IANA zone of the days (Europe/London); default: the daily job's zone, or UTC",
    )
    format: Literal["json", "csv"] = Field(
        default="json", description="csv: text/csv with a header row (no totals)"
    )


class ReportOut(BaseModel):
    """A report: ``rows`` in ``columns`` order (period, keys, figures), sorted by day then key;
    ``totals`` one row per currency over all rows (``total_columns``)."""

    kind: ReportKind
    first: date = Field(serialization_alias="from")
    last: date = Field(serialization_alias="to")
    group: Grouping
    tz: str
    columns: list[str]
    rows: list[dict[str, JsonCell]]
    total_columns: list[str]
    totals: list[dict[str, JsonCell]]


class DailyFileOut(BaseModel):
    """One file of the daily run; ``url`` downloads it."""

    day: date
    kind: ReportKind
    size: int = Field(description="bytes")
    url: str


class DailyRunOut(BaseModel):
    """What ``POST /reports/daily`` wrote: the reports whose SERVER_REPORT_* switch is On."""

    day: date
    files: list[DailyFileOut]


class DailyDayOut(BaseModel):
    """The files of one day."""

    day: date
    files: list[DailyFileOut]


class DailyListOut(BaseModel):
    """Every day with report files, newest first."""

    days: list[DailyDayOut]
