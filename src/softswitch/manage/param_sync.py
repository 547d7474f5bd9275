"""Keeping the running switch's parameters equal to the stored overrides.

The API changes the in-memory store itself, at once. A change made from a shell
(``softswitch param set``, ``softswitch config apply``) only reaches the database; its
change-feed row brings it here, and this subscriber re-reads the overrides of the named
parameters and applies them to the store, whose own subscribers (timers, QoS, …) react as
they do to an API change. Re-applying a value already in force changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from softswitch.params import ParamError, ParamStore
from softswitch.storage.repos import PARAM_ENTITY, Change, ParamOverrideRepo

__all__ = ["ParamSync"]

_log = logging.getLogger(__name__)


class ParamSync:
    """A change-feed subscriber applying stored parameter overrides to a store."""

    def __init__(self, params: ParamStore, overrides: ParamOverrideRepo) -> None:
        self._params = params
        self._overrides = overrides

    async def __call__(self, batch: Sequence[Change]) -> None:
        names = {change.entity_id for change in batch if change.entity == PARAM_ENTITY}
        if not names:
            return
        stored = await self._overrides.load()
        for name in sorted(names):
            try:
                param = self._params.registry.get(name)
                if name in stored:
                    value = param.parse(stored[name])
                    if not self._params.is_overridden(name) or self._params.get(name) != value:
                        self._params.set(name, value)
                        _log.info(
                            "parameter %s = %s (changed outside this process)", name, stored[name]
                        )
                elif self._params.is_overridden(name):
                    self._params.reset(name)
                    _log.info("parameter %s reset to its default (outside this process)", name)
            except ParamError as exc:
                _log.warning("ignoring the stored override of %s: %s", name, exc)
