"""Liveness and version: unauthenticated, for load balancers and monitoring."""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

import softswitch
from softswitch.api.deps import Context
from softswitch.api.schemas import HealthResponse, VersionResponse

__all__ = ["router"]

_log = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/health", response_model=HealthResponse)
async def health(ctx: Context) -> JSONResponse:
    """``ok`` and 200 when the database answers; ``degraded`` and 503 when it does not."""
    try:
        async with ctx.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
        reachable = True
    except (SQLAlchemyError, OSError):
        _log.warning("health check: database unreachable", exc_info=True)
        reachable = False
    body = HealthResponse(status="ok" if reachable else "degraded", database=reachable)
    return JSONResponse(body.model_dump(), status_code=200 if reachable else 503)


@router.get("/version", response_model=VersionResponse)
async def version() -> VersionResponse:
    return VersionResponse(name="softswitch", version=softswitch.__version__, api="v1")
