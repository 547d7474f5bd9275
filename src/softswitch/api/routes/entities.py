"""CRUD and list routes for every configuration entity, built from its ``EntitySpec``.

One factory instead of seven hand-written modules keeps the API uniform (same paging, sorting,
filtering and errors everywhere) while OpenAPI still shows each entity's own schemas: the
endpoints get their concrete types through ``__signature__``, which FastAPI reads.

This module deliberately has no ``from __future__ import annotations``: the annotations are
objects built at run time.
"""

import inspect
from collections.abc import Callable
from typing import Annotated, Any, Optional

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field, create_model

from softswitch.api.deps import ApiContext, context, current_actor, current_who
from softswitch.api.schemas import ErrorBody
from softswitch.manage import Who
from softswitch.manage.catalog import ENTITIES
from softswitch.manage.entities import EntityService, EntitySpec, plural
from softswitch.manage.fields import MAX_ID
from softswitch.manage.listing import ListQuery
from softswitch.operators import Actor

__all__ = ["entity_routers"]

_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (401, 403, 404, 409, 422)
}

_PATHS = {
    "agent": "/agents",
    "account": "/accounts",
    "phone": "/phones",
    "mapping_gateway": "/mapping-gateways",
    "routing_gateway": "/routing-gateways",
    "rate_table": "/rate-tables",
    "rate": "/rate-tables/{parent_id}/rates",
    "security_list_entry": "/security/lists",
}

_TEXT_FILTER_HELP = "exact match; end with * for a prefix match"


def _filter_model(spec: EntitySpec) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for name in spec.filters:
        python_type = spec.column(name).type.python_type
        if python_type is str:
            info = Field(default=None, max_length=255, description=_TEXT_FILTER_HELP)
        elif python_type is int:
            info = Field(default=None, ge=0, le=MAX_ID, description="exact match")
        else:
            info = Field(default=None, description="exact match")
        fields[name] = (Optional[python_type], info)  # noqa: UP045
    fields["sort"] = (
        Optional[str],  # noqa: UP045
        Field(
            default=None,
            description=f"comma-separated, '-' for descending: {', '.join(spec.sorts)}",
        ),
    )
    fields["page"] = (int, Field(default=1, ge=1, le=MAX_ID))
    fields["page_size"] = (
        Optional[int],  # noqa: UP045
        Field(
            default=None,
            ge=1,
            le=MAX_ID,
            description="default and maximum: SERVER_QUERY_ONE_PAGE_SIZE",
        ),
    )
    name = f"{spec.out.__name__.removesuffix('Out')}Filter"
    return create_model(name, __config__=ConfigDict(extra="forbid"), **fields)


def _page_model(spec: EntitySpec) -> type[BaseModel]:
    name = f"{spec.out.__name__.removesuffix('Out')}Page"
    listing: Any = list
    return create_model(
        name,
        items=(listing[spec.out], ...),
        total=(int, ...),
        page=(int, ...),
        page_size=(int, ...),
    )


def _typed(function: Callable[..., Any], returns: Any, **annotations: Any) -> Callable[..., Any]:
    """Give ``function`` the parameter and return annotations FastAPI should see."""
    signature = inspect.signature(function)
    parameters = [
        parameter.replace(annotation=annotations.get(parameter.name, parameter.annotation))
        for parameter in signature.parameters.values()
    ]
    typed = signature.replace(parameters=parameters, return_annotation=returns)
    setattr(function, "__signature__", typed)  # noqa: B010
    return function


def _drop(function: Callable[..., Any], name: str) -> None:
    """Remove parameter ``name`` from what FastAPI sees of ``function``."""
    signature = inspect.signature(function)
    kept = [parameter for parameter in signature.parameters.values() if parameter.name != name]
    setattr(function, "__signature__", signature.replace(parameters=kept))  # noqa: B010


def _require(function: Callable[..., Any], name: str) -> None:
    """Make parameter ``name`` required in what FastAPI sees (path parameters have no default;
    the Python default only serves the routes without a parent)."""
    signature = inspect.signature(function)
    parameters = [
        parameter.replace(default=inspect.Parameter.empty) if parameter.name == name else parameter
        for parameter in signature.parameters.values()
    ]
    setattr(function, "__signature__", signature.replace(parameters=parameters))  # noqa: B010


_Ctx = Annotated[ApiContext, Depends(context)]
_Actor = Annotated[Actor, Depends(current_actor)]
_Who = Annotated[Who, Depends(current_who)]
_Id = Annotated[int, Path(ge=1, le=MAX_ID, description="the row's id")]
_ParentId = Annotated[int, Path(ge=1, le=MAX_ID, description="the id of the parent")]


def _router(spec: EntitySpec) -> APIRouter:
    path = _PATHS[spec.name]
    tag = path.strip("/").split("/")[-1]
    router = APIRouter(prefix=path, tags=[tag])
    filters = _filter_model(spec)
    page = _page_model(spec)
    nested = spec.parent is not None
    title = spec.title
    titles = plural(title)
    a_title = f"an {title}" if title[0] in "aeiou" else f"a {title}"

    def service(ctx: ApiContext) -> EntityService:
        return EntityService(ctx.manage, spec)

    async def list_rows(ctx: Any, actor: Any, query: Any, parent_id: Any = None) -> Any:
        given = query.model_dump(exclude_unset=True, exclude={"sort", "page", "page_size"})
        request = ListQuery(given, query.sort, query.page, query.page_size)
        found = await service(ctx).list(actor, request, parent_id=parent_id)
        return page(
            items=found.items, total=found.total, page=found.page, page_size=found.page_size
        )

    async def create_row(ctx: Any, who: Any, body: Any, parent_id: Any = None) -> Any:
        return await service(ctx).create(who, body, parent_id=parent_id)

    async def get_row(ctx: Any, actor: Any, entity_id: Any, parent_id: Any = None) -> Any:
        return await service(ctx).get(actor, entity_id, parent_id=parent_id)

    async def update_row(
        ctx: Any, who: Any, entity_id: Any, body: Any, parent_id: Any = None
    ) -> Any:
        return await service(ctx).update(who, entity_id, body, parent_id=parent_id)

    async def delete_row(ctx: Any, who: Any, entity_id: Any, parent_id: Any = None) -> Response:
        await service(ctx).delete(who, entity_id, parent_id=parent_id)
        return Response(status_code=204)

    parent = {"parent_id": _ParentId} if nested else {}
    for function in (list_rows, create_row, get_row, update_row, delete_row):
        if nested:
            _require(function, "parent_id")
        else:
            _drop(function, "parent_id")
    common = {"ctx": _Ctx, "actor": _Actor, "who": _Who, "entity_id": _Id, **parent}
    router.add_api_route(
        "",
        _typed(list_rows, page, query=Annotated[filters, Query()], **common),
        methods=["GET"],
        response_model=page,
        responses=_ERRORS,
        summary=f"List {titles}",
        description=f"One page of the {titles} you may see, filtered and sorted.",
    )
    router.add_api_route(
        "",
        _typed(create_row, spec.out, body=spec.create, **common),
        methods=["POST"],
        status_code=201,
        response_model=spec.out,
        responses=_ERRORS,
        summary=f"Create {a_title}",
    )
    router.add_api_route(
        "/{entity_id}",
        _typed(get_row, spec.out, **common),
        methods=["GET"],
        response_model=spec.out,
        responses=_ERRORS,
        summary=f"Read {a_title}",
    )
    router.add_api_route(
        "/{entity_id}",
        _typed(update_row, spec.out, body=spec.update, **common),
        methods=["PATCH"],
        response_model=spec.out,
        responses=_ERRORS,
        summary=f"Change {a_title}",
        description="Only the fields given change; null clears an optional field.",
    )
    router.add_api_route(
        "/{entity_id}",
        _typed(delete_row, None, **common),
        methods=["DELETE"],
        status_code=204,
        response_class=Response,
        responses=_ERRORS,
        summary=f"Delete {a_title}",
    )
    return router


def entity_routers() -> list[APIRouter]:
    """One router per configuration entity (fresh each call: nothing shared between apps)."""
    return [_router(spec) for spec in ENTITIES]
