"""Authorisation at the HTTP edge: the role policy (``softswitch.operators.policy``) applied,
and its refusals turned into 403 answers that say who may do what."""

from __future__ import annotations

from softswitch.api.errors import ApiError
from softswitch.operators import Action, Actor, Target, can

__all__ = ["require"]


def require(actor: Actor, action: Action, target: Target) -> None:
    """Raise a 403 :class:`ApiError` unless the policy lets ``actor`` do ``action``."""
    if not can(actor, action, target):
        raise ApiError(
            403,
            "forbidden",
            f"{actor.username} ({actor.role.value}) may not {action.value} {target.resource.value}",
        )
