"""Request and response bodies (pydantic), one module per route group."""

from softswitch.api.schemas.api_keys import ApiKeyCreate, ApiKeyCreated, ApiKeyOut
from softswitch.api.schemas.auth import LoginRequest, TokenResponse
from softswitch.api.schemas.calls import (
    CallbackCreate,
    CallbackStarted,
    CallFilter,
    GatewayFiguresOut,
    LegOut,
    LiveCallList,
    LiveCallOut,
    MonitorOut,
    PrefixFiguresOut,
)
from softswitch.api.schemas.cdrs import CdrFilter, CdrOut, CdrPageFilter, CdrPageOut
from softswitch.api.schemas.common import ErrorBody, ErrorDetail, HealthResponse, VersionResponse
from softswitch.api.schemas.params import ParamOut, ParamSet
from softswitch.api.schemas.payments import (
    AdjustmentCreate,
    BulkLineError,
    BulkResultOut,
    LedgerEntryOut,
    PaymentCreate,
    PaymentCreated,
    PaymentOut,
)
from softswitch.api.schemas.rates_csv import RateImportOut, RateImportRefusal, RowErrorOut
from softswitch.api.schemas.users import PasswordChange, UserCreate, UserOut

__all__ = [
    "AdjustmentCreate",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyOut",
    "BulkLineError",
    "BulkResultOut",
    "CallFilter",
    "CallbackCreate",
    "CallbackStarted",
    "CdrFilter",
    "CdrOut",
    "CdrPageFilter",
    "CdrPageOut",
    "ErrorBody",
    "ErrorDetail",
    "GatewayFiguresOut",
    "HealthResponse",
    "LedgerEntryOut",
    "LegOut",
    "LiveCallList",
    "LiveCallOut",
    "LoginRequest",
    "MonitorOut",
    "ParamOut",
    "ParamSet",
    "PasswordChange",
    "PaymentCreate",
    "PaymentCreated",
    "PaymentOut",
    "PrefixFiguresOut",
    "RateImportOut",
    "RateImportRefusal",
    "RowErrorOut",
    "TokenResponse",
    "UserCreate",
    "UserOut",
    "VersionResponse",
]
