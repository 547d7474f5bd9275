"""Issue 3 §5: schemathesis against ``/openapi.json`` finds no 5xx.

Every operation the app publishes is fuzzed over real HTTP, with valid (positive) and invalid
(negative) inputs, both unauthenticated and as the admin; the only check is that no answer is
a server error. Bad input must come back as a 4xx, never as a crash.

The app serves inside the test's event loop (``api`` fixture), so schemathesis, which calls
synchronously, runs in a worker thread while the loop keeps answering. Hypothesis is
derandomized and bounded so the run is stable and quick in CI. SQLite only: the point is the
HTTP layer, and the engine-specific behaviour is covered by the other API tests on both.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import schemathesis
from api_support import Api
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import APIOperation, Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Err

from softswitch.operators import ADMIN_USERNAME

Operation = APIOperation[Any, Any, Any, Any]

MAX_EXAMPLES = 30
LOGOUT = ("POST", "/api/v1/auth/logout")
"""Excluded from the admin run: it would revoke the token the run authenticates with."""

FUZZ_SETTINGS = settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)


def fuzz_operation(operation: Operation, base_url: str, token: dict[str, str]) -> list[int]:
    """Run the bounded fuzz of one operation in both modes; returns the status codes seen.

    A 5xx raises (schemathesis reports the failing case with a curl line to reproduce it).
    """
    seen: list[int] = []
    for mode in GenerationMode:

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy(generation_mode=mode))
        def run(case: Case[Operation]) -> None:
            if case.path_parameters and case.path_parameters.get("username") == ADMIN_USERNAME:
                # Changing the admin's own password would lock the run out of its login.
                case.path_parameters["username"] = "cust"
            response = case.call(base_url=base_url, headers=dict(token), timeout=10.0)
            seen.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        try:
            run()
        except Unsatisfiable:
            # An operation without parameters or body has no invalid input to generate.
            if mode is GenerationMode.POSITIVE:
                raise
    return seen


def fuzz_all(base_url: str, token: dict[str, str]) -> dict[str, list[int]]:
    """Fuzz every published operation sending ``token`` (empty: none); returns the status
    codes seen per operation."""
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    counts: dict[str, list[int]] = {}
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            raise result.err()  # a published operation schemathesis cannot read is a failure
        operation = result.ok()
        if token and (operation.method.upper(), operation.path) == LOGOUT:
            continue
        counts[operation.label] = fuzz_operation(operation, base_url, token)
    return counts


async def fuzz_in_thread(api: Api, token: dict[str, str]) -> dict[str, list[int]]:
    assert api.server is not None
    return await asyncio.to_thread(fuzz_all, api.server.url, token)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_operation_answers_unauthenticated_fuzzing_with_a_server_error(api: Api) -> None:
    counts = await fuzz_in_thread(api, {})
    assert "POST /api/v1/auth/login" in counts
    # Without a token the guarded operations refuse (and the fuzz reached them).
    assert all(400 <= code < 500 for code in counts["PUT /api/v1/params/{name}"]), counts
    assert all(counts.values()), counts


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_no_operation_answers_admin_fuzzing_with_a_server_error(api: Api) -> None:
    token = await api.admin()
    counts = await fuzz_in_thread(api, token)
    assert "POST /api/v1/users" in counts
    # The token was honoured: the admin reads the parameters.
    assert 200 in counts["GET /api/v1/params"], counts
    assert "POST /api/v1/auth/logout" not in counts
    assert all(counts.values()), counts
    # The run stayed authenticated to the end: the token still works.
    still = await api.client.get("/api/v1/params", headers=token)
    assert still.status_code == 200, still.text
