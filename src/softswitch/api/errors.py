"""One error shape for every refusal: ``{"error": {"code", "message", "field"}}``.

Operators script against the API; a client must be able to tell, from the body alone, which
field was wrong and why (issue 3, section 2). FastAPI's own validation answer (a list of
pydantic errors) is replaced by this shape, and so are Starlette's 404/405 answers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from softswitch.manage import ManageError

__all__ = ["ApiError", "error_body", "install_error_handlers"]

_LOCATIONS = frozenset({"body", "query", "path", "header", "cookie"})


class ApiError(Exception):
    """A refusal the handlers turn into a JSON error answer."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers


def error_body(code: str, message: str, field: str | None) -> dict[str, Any]:
    """The JSON body of an error answer."""
    return {"error": {"code": code, "message": message, "field": field}}


def _field_of(loc: Sequence[Any]) -> str | None:
    parts = [str(part) for part in loc if not (isinstance(part, str) and part in _LOCATIONS)]
    return ".".join(parts) if parts else None


def _validation_message(error: dict[str, Any], field: str | None) -> str:
    message = str(error.get("msg", "invalid value"))
    if error.get("type") == "missing":
        return f"{field} is required" if field else "a required value is missing"
    if error.get("type") == "json_invalid":
        return "the body is not valid JSON"
    return f"{field}: {message}" if field else message


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(
        error_body(exc.code, exc.message, exc.field), status_code=exc.status, headers=exc.headers
    )


async def _on_manage_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ManageError)
    return JSONResponse(error_body(exc.code, exc.message, exc.field), status_code=exc.status)


async def _on_data_error(request: Request, exc: Exception) -> JSONResponse:
    # The schemas bound every value; this is the safety net for one the database still refuses
    # (an engine-specific limit), answered as the client's error it is rather than a 500.
    assert isinstance(exc, DataError)
    message = f"a value does not fit the database: {str(exc.orig).splitlines()[0]}"
    return JSONResponse(error_body("invalid", message, None), status_code=422)


async def _on_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first: dict[str, Any] = dict(errors[0]) if errors else {}
    field = _field_of(first.get("loc", ()))
    if first.get("type") == "json_invalid":
        field = None
    return JSONResponse(
        error_body("invalid", _validation_message(first, field), field), status_code=422
    )


async def _on_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return JSONResponse(
        error_body(code, str(exc.detail), None),
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


def install_error_handlers(app: FastAPI) -> None:
    """Route every refusal through :func:`error_body`."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(ManageError, _on_manage_error)
    app.add_exception_handler(DataError, _on_data_error)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
