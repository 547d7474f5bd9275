"""serve_http: runs inside the caller's loop, binds port 0, leaves signals to the runtime,
stops cleanly, and reports an app that fails to start."""

from __future__ import annotations

import signal

import httpx
import pytest
from api_support import Api, FakeClock

from softswitch.api import create_app, serve_http
from softswitch.operators import OperatorService
from softswitch.params import ParamStore, load_catalog
from softswitch.storage import create_engine, sessions


async def test_serving_installs_no_signal_handlers_and_stop_closes_the_port(api: Api) -> None:
    before = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    app = create_app(engine=api.engine, params=api.params, operators=api.operators, clock=api.clock)
    server = await serve_http(app, "127.0.0.1", 0)
    assert server.port > 0
    assert server.url == f"http://127.0.0.1:{server.port}"
    assert {sig: signal.getsignal(sig) for sig in before} == before
    async with httpx.AsyncClient(base_url=server.url) as client:
        assert (await client.get("/api/v1/version")).status_code == 200
    await server.stop()
    assert {sig: signal.getsignal(sig) for sig in before} == before
    async with httpx.AsyncClient(base_url=server.url) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get("/api/v1/version")


async def test_an_app_that_cannot_start_is_reported(clock: FakeClock) -> None:
    # The lifespan loads the stored overrides; a database that cannot be opened fails it.
    engine = create_engine("sqlite+aiosqlite:////nonexistent-dir/softswitch.db")
    params = ParamStore(load_catalog())
    operators = OperatorService(sessions(engine), params, clock)
    app = create_app(engine=engine, params=params, operators=operators, clock=clock)
    try:
        with pytest.raises(RuntimeError, match="did not start"):
            await serve_http(app, "127.0.0.1", 0)
    finally:
        await engine.dispose()
