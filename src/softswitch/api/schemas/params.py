"""System parameters as the API shows them."""

from __future__ import annotations

from pydantic import BaseModel, Field

__all__ = ["ParamOut", "ParamSet"]


class ParamOut(BaseModel):
    """One parameter: its value in force and everything needed to change it correctly."""

    name: str
    group: str
    type: str
    value: str
    default: str
    range: str
    allowed: str
    unit: str
    meaning: str
    aliases: list[str]
    overridden: bool


class ParamSet(BaseModel):
    """The new value, as text (``On``, ``120``, ``10000-20000`` ...), parsed by the registry."""

    value: str = Field(max_length=4096)
