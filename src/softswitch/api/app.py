"""The FastAPI application factory: no import-time app, every collaborator passed in.

The runtime (``softswitch run``) builds the engine, the parameter store and the operator
service, then calls :func:`create_app` and serves it with :func:`softswitch.api.serve_http`.
On start (lifespan) the persisted parameter overrides are loaded into the store, so values
set through the API survive a restart.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

import softswitch
from softswitch.api.deps import ApiContext
from softswitch.api.errors import install_error_handlers
from softswitch.api.routes import API_PREFIX, api_router, root_router
from softswitch.api.routes import reports as report_routes
from softswitch.calls.control import CallControl
from softswitch.manage import ChangeFeed, ManageContext
from softswitch.manage.reports import DailyReportRunner
from softswitch.operators import Clock, OperatorService
from softswitch.params import ParamError, ParamStore
from softswitch.security import SecurityControl
from softswitch.storage import sessions as session_factory
from softswitch.storage.repos import ChangeFeedRepo, ParamOverrideRepo, TokenRepo

__all__ = ["DEFAULT_TOKEN_LIFETIME", "create_app", "load_overrides"]

_log = logging.getLogger(__name__)

DEFAULT_TOKEN_LIFETIME = timedelta(hours=12)
"""How long a login token stays valid (one operator shift)."""


async def load_overrides(params: ParamStore, overrides: ParamOverrideRepo) -> int:
    """Apply the stored overrides to ``params``; returns how many were applied.

    A stored value the catalogue no longer accepts (renamed parameter, narrowed range) is
    skipped with a warning rather than stopping the switch: its default applies instead.
    """
    applied = 0
    for name, text in (await overrides.load()).items():
        try:
            params.set(name, text)
        except ParamError as exc:
            _log.warning("ignoring the stored override of %s: %s", name, exc)
            continue
        applied += 1
    return applied


def create_app(
    *,
    engine: AsyncEngine,
    params: ParamStore,
    operators: OperatorService,
    clock: Clock,
    token_lifetime: timedelta = DEFAULT_TOKEN_LIFETIME,
    feed: ChangeFeed | None = None,
    calls: CallControl | None = None,
    reports: DailyReportRunner | None = None,
    security: SecurityControl | None = None,
) -> FastAPI:
    """The HTTP API over ``engine``, with routes under ``/api/v1`` and ``/metrics`` at the root.

    ``feed`` is the switch's change-feed follower (the call path subscribes to it); without
    one the app makes its own, so writes still record their feed rows. ``calls`` is the call
    engine's live-call surface; without it the live-call, monitor and metrics routes answer 503.
    ``reports`` is the daily report job (its zone is also the default of on-demand reports);
    without it the ``/reports/daily`` routes answer 503 and on-demand reports default to UTC.
    """
    sessions = session_factory(engine)
    feed = feed if feed is not None else ChangeFeed(ChangeFeedRepo(sessions))
    context = ApiContext(
        engine=engine,
        sessions=sessions,
        params=params,
        operators=operators,
        clock=clock,
        tokens=TokenRepo(sessions),
        overrides=ParamOverrideRepo(sessions),
        token_lifetime=token_lifetime,
        manage=ManageContext(sessions=sessions, params=params, clock=clock, feed=feed),
        calls=calls,
        security=security,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        count = await load_overrides(params, context.overrides)
        _log.info("loaded %d stored parameter overrides", count)
        yield

    app = FastAPI(
        title="softswitch",
        version=softswitch.__version__,
        description="Management API of the softswitch: parameters, operators, and more.",
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.context = context
    app.state.reports = reports
    install_error_handlers(app)
    app.include_router(api_router())
    app.include_router(report_routes.router, prefix=API_PREFIX)
    app.include_router(root_router())
    return app
