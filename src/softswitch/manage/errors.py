"""Refusals of the management services, each naming the field to fix.

The services raise these; the HTTP API maps each class to its status (one handler, in
``softswitch.api.errors``) and the CLI prints the message. Business outcomes that are not
refusals (an empty page, a partial bulk import with ``skip_bad``) are return values.
"""

from __future__ import annotations

__all__ = [
    "Conflict",
    "Forbidden",
    "Invalid",
    "ManageError",
    "NotFound",
    "Unavailable",
]


class ManageError(Exception):
    """A refused management operation: ``message`` says why, ``field`` what to fix."""

    status = 422
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class Invalid(ManageError):
    """The input is wrong (HTTP 422)."""


class NotFound(ManageError):
    """No such entity, or one the actor may not see (HTTP 404: not telling which)."""

    status = 404
    code = "not_found"


class Forbidden(ManageError):
    """The actor's role does not allow the operation on something it may see (HTTP 403)."""

    status = 403
    code = "forbidden"


class Conflict(ManageError):
    """The write collides with existing data: a duplicate name, a row still in use (HTTP 409)."""

    status = 409
    code = "conflict"


class Unavailable(ManageError):
    """Refused for now, by a system parameter (CDR queries in SERVER_QUERY_CDR_DENY_TIME):
    HTTP 503 with the hour it opens again in the message."""

    status = 503
    code = "unavailable"
