"""Issue 3 §5, param validation over HTTP: every parameter of the catalogue accepts its default
text, and refuses values just outside its constraint with a 422 naming what is allowed.

The refused values are derived from each parameter's :class:`~softswitch.params.values.ValueSpec`
(bounds, choices, item rules), not from a table kept by hand, so a parameter added to the
catalogue is covered the day it is added. One app per engine walks the whole catalogue.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx
from api_support import Api
from sqlalchemy import func, select

from softswitch.params import Param, load_catalog
from softswitch.params.values import (
    BoolSpec,
    DecimalListSpec,
    DecimalSpec,
    EnumSpec,
    HexSpec,
    IntSpec,
    ParamKind,
    PortRangeSpec,
    TextListSpec,
    TextSpec,
)
from softswitch.storage import sessions
from softswitch.storage.models import AuditEntry, ParamOverride


def _just_past(bound: Decimal, direction: int) -> Decimal:
    """The decimal one digit finer than ``bound`` beyond it (100 -> 100.1, 0.05 -> 0.049)."""
    exponent = bound.as_tuple().exponent
    assert isinstance(exponent, int)
    return bound + direction * Decimal(1).scaleb(exponent - 1)


def outside(param: Param[Any]) -> list[str]:
    """Texts just outside what ``param`` allows: each bound crossed by one step, a word that
    is not a choice, a list item that breaks the item rule, a value on two lines."""
    spec = param.spec
    default = param.format(param.default)
    if isinstance(spec, IntSpec):
        ends = [(spec.low, -1), (spec.high, 1)]
        return [str(end + step) for end, step in ends if end is not None]
    if isinstance(spec, HexSpec):
        return [spec.format(spec.low - 1), spec.format(spec.high + 1)]
    if isinstance(spec, DecimalSpec):
        ends_d = [(spec.low, -1), (spec.high, 1)]
        return [spec.format(_just_past(end, step)) for end, step in ends_d if end is not None]
    if isinstance(spec, PortRangeSpec):
        low, high = default.split(",")
        return [f"{spec.low - 1},{high}", f"{low},{spec.high + 1}", f"{high},{low}"]
    if isinstance(spec, BoolSpec):
        return ["Maybe", "2"]
    if isinstance(spec, EnumSpec):
        if spec.choices:
            return [f"not {spec.choices[0]}", "999"]
        return ["", "first line\nsecond line"]
    if isinstance(spec, DecimalListSpec):
        return [f"{default},0", f"{default},-1", ""]
    if isinstance(spec, TextListSpec):
        return [f"{default},", "", f"{default},a\nb"]
    if isinstance(spec, TextSpec):
        return ["first line\nsecond line"]
    raise AssertionError(f"{param.name}: no rule for {type(spec).__name__}")


def test_every_kind_of_the_catalogue_has_refusals_that_the_registry_refuses() -> None:
    """The derivation itself: every parameter gets at least one text, each of them refused
    by the registry, while the default text is accepted (no HTTP here)."""
    kinds: set[ParamKind] = set()
    for param in load_catalog():
        kinds.add(param.kind)
        texts = outside(param)
        assert texts, param.name
        assert param.parse(param.format(param.default)) == param.default
        for text in texts:
            try:
                param.parse(text)
            except ValueError:
                continue
            raise AssertionError(f"{param.name} accepted {text!r}")
    assert kinds == set(ParamKind)


def error_of(answer: httpx.Response) -> dict[str, object]:
    error: dict[str, object] = answer.json()["error"]
    return error


async def test_every_parameter_accepts_its_default_and_refuses_values_outside(api: Api) -> None:
    headers = await api.admin()
    registry = api.params.registry
    for param in registry:
        url = f"/api/v1/params/{param.name}"
        default = param.format(param.default)
        answer = await api.client.put(url, json={"value": default}, headers=headers)
        assert answer.status_code == 200, (param.name, answer.text)
        assert (answer.json()["value"], answer.json()["overridden"]) == (default, True)
        for text in outside(param):
            answer = await api.client.put(url, json={"value": text}, headers=headers)
            assert answer.status_code == 422, (param.name, text, answer.text)
            error = error_of(answer)
            assert error["field"] == "value"
            assert error["message"] == f"{param.name} must be {param.allowed}; got {text!r}"
        assert api.params.get(param.name) == param.default

    # Read back through the API and the database: each value in force is the default, stored
    # as an override with exactly one audit row (the refusals wrote nothing).
    listed = await api.client.get("/api/v1/params", headers=headers)
    assert listed.status_code == 200
    shown = {item["name"]: (item["value"], item["overridden"]) for item in listed.json()}
    assert shown == {param.name: (param.format(param.default), True) for param in registry}
    async with sessions(api.engine)() as session:
        stored = {row.name: row.value for row in await session.scalars(select(ParamOverride))}
        audits = await session.scalar(
            select(func.count()).select_from(AuditEntry).where(AuditEntry.entity == "param")
        )
    assert stored == {param.name: param.format(param.default) for param in registry}
    assert audits == len(registry)
