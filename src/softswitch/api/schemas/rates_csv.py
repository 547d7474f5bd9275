"""Answers of the rate-table CSV upload (``PUT /api/v1/rate-tables/{id}/rates.csv``)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from softswitch.api.schemas.common import ErrorDetail

__all__ = ["RateImportOut", "RateImportRefusal", "RowErrorOut"]


class RowErrorOut(BaseModel):
    """One refused row: the file's line number (the header is line 1), the column to fix
    (``header`` for the header row, null for the row as a whole) and why."""

    line: int
    field: str | None
    message: str


class RateImportOut(BaseModel):
    """What an accepted import did. ``errors`` lists the skipped rows (at most 1000)."""

    table_id: int
    mode: str = Field(description="replace or merge")
    imported: int = Field(description="rows written")
    skipped: int = Field(description="bad rows left out (only with skip_bad)")
    errors: list[RowErrorOut]


class RateImportRefusal(BaseModel):
    """The 422 of an all-or-nothing import with bad rows: nothing was imported. ``errors``
    lists the bad rows (at most 1000), ``bad`` counts them all."""

    error: ErrorDetail
    errors: list[RowErrorOut]
    bad: int
