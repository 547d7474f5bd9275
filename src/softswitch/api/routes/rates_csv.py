"""Rate-table CSV upload and download (issue 3 §2; format in ``softswitch.manage.rate_csv``).

``PUT /rate-tables/{table_id}/rates.csv`` takes the file as the raw body (``text/csv``) or as
the file field of a ``multipart/form-data`` form (what a browser or ``curl -F`` sends). The
body is spooled to a temporary file (in memory up to a few megabytes, then on disk) while it
arrives, and read back line by line: a million-row upload never sits in memory whole. The
multipart reader is a small one of our own, copying the first file part and skipping the
rest, because that is all this endpoint needs.

``GET`` streams the table as CSV in the same format, so a download uploaded again changes
nothing.
"""

from __future__ import annotations

import io
import tempfile
from collections.abc import AsyncIterator, Iterator
from typing import IO, Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse, StreamingResponse

from softswitch.api.deps import Context, CurrentActor, CurrentWho
from softswitch.api.errors import ApiError, error_body
from softswitch.api.schemas import ErrorBody, RateImportOut, RateImportRefusal, RowErrorOut
from softswitch.manage import Invalid
from softswitch.manage.rate_csv import RowError
from softswitch.manage.rate_import import ImportMode, ImportRefused, RateImportService

__all__ = ["router"]

router = APIRouter(prefix="/rate-tables", tags=["rate tables"])

_MAX_ID = 2**31 - 1  # rate_tables.id is a 32-bit integer on PostgreSQL
_SPOOL_IN_MEMORY = 8 * 1024 * 1024
_MAX_PART_HEADERS = 16 * 1024
_CSV_TYPES = frozenset({"text/csv", "text/plain", "application/csv", "application/octet-stream"})
_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 415)
}
_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {"schema": {"type": "string"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}

TableId = Annotated[int, Path(ge=1, le=_MAX_ID, description="the rate table's id")]


class _FilePart:
    """Copies the content of the first file part of a ``multipart/form-data`` body (RFC 7578:
    the part named ``file``, or any part with a filename) into ``sink``, fed in pieces."""

    def __init__(self, boundary: bytes, sink: IO[bytes]) -> None:
        self._delimiter = b"\r\n--" + boundary
        self._buffer = b"\r\n"  # so that a first boundary at offset 0 matches too
        self._sink = sink
        self._state = "preamble"
        self.found = False
        self.filename = ""

    def feed(self, data: bytes) -> None:
        self._buffer += data
        while self._state != "done":
            if self._state in ("preamble", "skip", "file"):
                at = self._buffer.find(self._delimiter)
                if at < 0:
                    keep = len(self._delimiter) - 1
                    if len(self._buffer) > keep:
                        if self._state == "file":
                            self._sink.write(self._buffer[:-keep])
                        self._buffer = self._buffer[-keep:]
                    return
                if self._state == "file":
                    self._sink.write(self._buffer[:at])
                    self._state = "done"
                    break
                self._buffer = self._buffer[at + len(self._delimiter) :]
                self._state = "delimiter"
            if self._state == "delimiter":
                if len(self._buffer) < 2:
                    return
                if self._buffer.startswith(b"--"):
                    self._state = "done"
                    break
                end = self._buffer.find(b"\r\n")
                if end < 0:
                    return
                self._buffer = self._buffer[end + 2 :]  # transport padding, then CRLF
                self._state = "headers"
            if self._state == "headers" and not self._headers():
                return
        self._buffer = b""

    def _headers(self) -> bool:
        end = self._buffer.find(b"\r\n\r\n")
        if end < 0:
            if self._buffer.startswith(b"\r\n"):  # a part without headers
                end = -2
            elif len(self._buffer) > _MAX_PART_HEADERS:
                raise ApiError(422, "invalid", "a multipart part header is too long", field="file")
            else:
                return False
        headers = self._buffer[: max(end, 0)].decode("latin-1")
        self._buffer = self._buffer[end + 4 :]
        name, filename = _disposition(headers)
        if not self.found and (filename is not None or name == "file"):
            self.found = True
            self.filename = filename or ""
            self._state = "file"
        else:
            self._state = "skip"
        return True


def _disposition(headers: str) -> tuple[str | None, str | None]:
    """The ``name`` and ``filename`` parameters of a part's Content-Disposition."""
    name = filename = None
    for line in headers.split("\r\n"):
        field, _, value = line.partition(":")
        if field.strip().lower() != "content-disposition":
            continue
        for parameter in value.split(";")[1:]:
            key, _, text = parameter.strip().partition("=")
            text = text.strip().strip('"')
            if key.strip().lower() == "name":
                name = text
            elif key.strip().lower() == "filename":
                filename = text
    return name, filename


def _media(request: Request) -> tuple[str, dict[str, str]]:
    media, *parameters = request.headers.get("content-type", "text/csv").split(";")
    values = {}
    for parameter in parameters:
        key, _, value = parameter.strip().partition("=")
        values[key.strip().lower()] = value.strip().strip('"')
    return media.strip().lower(), values


async def _spool(request: Request) -> tuple[IO[bytes], str]:
    """The uploaded CSV bytes in a spooled temporary file (rewound), and its file name."""
    media, parameters = _media(request)
    spool = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
    if media == "multipart/form-data":
        boundary = parameters.get("boundary", "")
        if not boundary:
            raise ApiError(422, "invalid", "the multipart body has no boundary", field="file")
        part = _FilePart(boundary.encode("latin-1", "replace"), spool)
        async for piece in request.stream():
            part.feed(piece)
        if not part.found:
            raise ApiError(422, "invalid", "the form has no file field", field="file")
        name = part.filename
    elif media in _CSV_TYPES:
        async for piece in request.stream():
            spool.write(piece)
        name = ""
    else:
        spool.close()
        raise ApiError(
            415, "unsupported_media_type", "send text/csv or multipart/form-data", field="file"
        )
    spool.seek(0)
    return spool, name


def _lines(raw: IO[bytes]) -> Iterator[str]:
    """The text lines of the upload (UTF-8, a byte-order mark ignored); bad UTF-8 is a 422."""
    text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
    try:
        yield from text
    except UnicodeDecodeError as exc:
        raise Invalid(f"the file is not UTF-8 text ({exc.reason})", field="file") from None


def _error_out(errors: tuple[RowError, ...]) -> list[RowErrorOut]:
    return [RowErrorOut(line=e.line, field=e.field, message=e.message) for e in errors]


@router.put(
    "/{table_id}/rates.csv",
    response_model=RateImportOut,
    responses={**_ERRORS, 422: {"model": RateImportRefusal}},
    openapi_extra=_UPLOAD_BODY,
    summary="Upload a rate table's rates as CSV",
)
async def upload_rates(
    table_id: TableId,
    request: Request,
    ctx: Context,
    who: CurrentWho,
    mode: Annotated[ImportMode, Query(description="replace the table's rates, or merge")] = (
        ImportMode.REPLACE
    ),
    skip_bad: Annotated[
        bool, Query(description="import the good rows and report the bad ones")
    ] = False,
) -> Any:
    """Import the CSV (columns prefix and rate, optionally area, initial_increment,
    subsequent_increment, connection_fee, effective_from, effective_to, free_seconds,
    first_price, min_duration, profile; merge keys on prefix, effective_from and profile).
    All or nothing unless ``skip_bad``: a bad row gives 422 with every error and its line
    number."""
    service = RateImportService(ctx.manage)
    await service.check_import(who.actor, table_id)
    raw, name = await _spool(request)
    try:
        result = await service.import_csv(
            who, table_id, _lines(raw), mode=mode, skip_bad=skip_bad, file_name=name
        )
    except ImportRefused as exc:
        refusal = {
            **error_body(exc.code, exc.message, exc.field),
            "errors": [e.model_dump() for e in _error_out(exc.errors)],
            "bad": exc.bad,
        }
        return JSONResponse(refusal, status_code=422)
    finally:
        raw.close()
    return RateImportOut(
        table_id=result.table_id,
        mode=result.mode.value,
        imported=result.imported,
        skipped=result.skipped,
        errors=_error_out(result.errors),
    )


@router.get(
    "/{table_id}/rates.csv",
    response_class=StreamingResponse,
    responses={**_ERRORS, 200: {"content": {"text/csv": {"schema": {"type": "string"}}}}},
    summary="Download a rate table's rates as CSV",
)
async def download_rates(table_id: TableId, ctx: Context, actor: CurrentActor) -> Any:
    """The table's rates as CSV, ordered by prefix and effective_from (times in UTC)."""
    pieces = await RateImportService(ctx.manage).export_csv(actor, table_id)

    async def body() -> AsyncIterator[bytes]:
        async for piece in pieces:
            yield piece.encode()

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="rate-table-{table_id}.csv"'},
    )
