"""Bodies shared by every route group: the error shape, health and version."""

from __future__ import annotations

from pydantic import BaseModel

__all__ = ["ErrorBody", "ErrorDetail", "HealthResponse", "VersionResponse"]


class ErrorDetail(BaseModel):
    """What was refused: a stable code, a sentence, and the offending field (or null)."""

    code: str
    message: str
    field: str | None


class ErrorBody(BaseModel):
    """The body of every 4xx answer."""

    error: ErrorDetail


class HealthResponse(BaseModel):
    """``status`` is ``ok`` when the database answers, ``degraded`` otherwise."""

    status: str
    database: bool


class VersionResponse(BaseModel):
    name: str
    version: str
    api: str
