"""The ``/api/v1`` routers, one module per resource; ``api_router`` mounts them all, and
``root_router`` what lives outside the prefix (``/metrics``, where Prometheus looks).
"""

from fastapi import APIRouter

from softswitch.api.routes import (
    api_keys,
    audit,
    auth,
    calls,
    cdrs,
    health,
    metrics,
    params,
    payments,
    rates_csv,
    registrations,
    security,
    users,
)
from softswitch.api.routes.entities import entity_routers

__all__ = ["API_PREFIX", "api_router", "root_router"]

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    """A fresh router with every route group (a new one per app: nothing shared)."""
    router = APIRouter(prefix=API_PREFIX)
    router.include_router(health.router)
    router.include_router(auth.router)
    router.include_router(params.router)
    router.include_router(users.router)
    router.include_router(audit.router)
    router.include_router(api_keys.router)
    router.include_router(payments.router)
    router.include_router(cdrs.router)
    router.include_router(rates_csv.router)
    router.include_router(registrations.router)
    router.include_router(security.router)
    router.include_router(calls.router)
    for entity_router in entity_routers():
        router.include_router(entity_router)
    return router


def root_router() -> APIRouter:
    """The routes outside ``/api/v1``: ``/metrics`` for Prometheus."""
    router = APIRouter()
    router.include_router(metrics.router)
    return router
