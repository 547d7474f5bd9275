"""Listing: filters, sort order and pages for the configuration entities.

One grammar for every list of the API, so operators learn it once:

- a filter per scalar field, ``?name=acme``; a text filter ending in ``*`` matches a prefix
  (``?number=4420*``); numbers, enums and booleans match exactly;
- ``?sort=-priority,name``: fields in order, ``-`` for descending; the id always breaks ties,
  so pages never repeat or skip a row while nothing changes;
- ``?page=1&page_size=50``: 1-based pages, at most SERVER_QUERY_ONE_PAGE_SIZE rows each (the
  default too); the answer carries the total, so a console can draw its pager.

CDRs, ten million rows deep, have their own cursor-based listing (``softswitch.manage.cdrs``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import InstrumentedAttribute

from softswitch.manage.errors import Invalid

__all__ = ["ListQuery", "Page", "apply_filters", "order_by", "page_of"]

T = TypeVar("T")

_WILDCARD = "*"


@dataclass(frozen=True, slots=True)
class ListQuery:
    """What a list request asks for; ``filters`` hold only the fields that were given."""

    filters: Mapping[str, Any]
    sort: str | None = None
    page: int = 1
    page_size: int | None = None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """One page of a list and the size of the whole list."""

    items: Sequence[T]
    total: int
    page: int
    page_size: int


def apply_filters(
    query: Select[Any],
    columns: Mapping[str, InstrumentedAttribute[Any]],
    filters: Mapping[str, Any],
) -> Select[Any]:
    """``query`` narrowed by each given filter (the values were typed by the API schema)."""
    for name, value in filters.items():
        if value is None:
            continue
        column = columns[name]
        if isinstance(value, str) and value.endswith(_WILDCARD):
            stem = value[: -len(_WILDCARD)]
            if _WILDCARD in stem:
                raise Invalid(f"only a trailing * is a wildcard, not {value!r}", field=name)
            # substr, not LIKE: SQLite's LIKE ignores case, and a filter must mean the same
            # on both engines. The configuration tables are small enough for a scan.
            query = query.where(func.substr(column, 1, len(stem)) == stem)
        elif isinstance(value, enum.Enum | bool | int | str):
            query = query.where(column == value)
        else:
            raise Invalid(f"cannot filter on {value!r}", field=name)
    return query


def order_by(
    query: Select[Any],
    columns: Mapping[str, InstrumentedAttribute[Any]],
    sort: str | None,
    default: str,
    tiebreak: InstrumentedAttribute[Any],
) -> Select[Any]:
    """``query`` ordered by ``sort`` (validated against ``columns``), then by ``tiebreak``."""
    terms = [term.strip() for term in (sort or default).split(",") if term.strip()]
    order = []
    for term in terms:
        name = term[1:] if term.startswith("-") else term
        if name not in columns:
            allowed = ", ".join(sorted(columns))
            raise Invalid(f"cannot sort by {name!r}; sortable: {allowed}", field="sort")
        column = columns[name]
        order.append(column.desc() if term.startswith("-") else column.asc())
    order.append(tiebreak.asc())
    return query.order_by(*order)


async def page_of(
    session: Any, query: Select[Any], page: int, page_size: int
) -> tuple[Sequence[Any], int]:
    """The rows of one page and the total count of ``query``."""
    if page < 1:
        raise Invalid("page numbers start at 1", field="page")
    total = int(
        await session.scalar(select(func.count()).select_from(query.order_by(None).subquery())) or 0
    )
    rows = (await session.scalars(query.limit(page_size).offset((page - 1) * page_size))).all()
    return rows, total
