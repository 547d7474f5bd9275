"""Request and response bodies (pydantic), one module per route group."""

from softswitch.api.schemas.auth import LoginRequest, TokenResponse
from softswitch.api.schemas.common import ErrorBody, ErrorDetail, HealthResponse, VersionResponse
from softswitch.api.schemas.params import ParamOut, ParamSet
from softswitch.api.schemas.users import PasswordChange, UserCreate, UserOut

__all__ = [
    "ErrorBody",
    "ErrorDetail",
    "HealthResponse",
    "LoginRequest",
    "ParamOut",
    "ParamSet",
    "PasswordChange",
    "TokenResponse",
    "UserCreate",
    "UserOut",
    "VersionResponse",
]
