"""The HTTP API (layer L5): FastAPI routes under ``/api/v1`` over the services.

``create_app`` builds an app from its collaborators (no import-time singletons) and
``serve_http`` runs it in the caller's event loop without touching signal handlers.
"""

from softswitch.api.app import DEFAULT_TOKEN_LIFETIME, create_app, load_overrides
from softswitch.api.errors import ApiError, error_body
from softswitch.api.routes import API_PREFIX
from softswitch.api.serve import HttpServer, serve_http

__all__ = [
    "API_PREFIX",
    "DEFAULT_TOKEN_LIFETIME",
    "ApiError",
    "HttpServer",
    "create_app",
    "error_body",
    "load_overrides",
    "serve_http",
]
