"""Composition root (layer L6): bootstrap settings, the server that wires everything, the run loop.

Nothing is built at import time; :func:`~softswitch.runtime.server.run_forever` builds it all.
The names below are loaded on first use: the command line imports small runtime modules
(``reports_cli``, ``billing_cli``) while building its parser, and must not pay for the whole
server (the engine, the API, the storage layer) on every ``softswitch --help``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from softswitch.runtime.dispatcher import BasicDispatcher, Capabilities
    from softswitch.runtime.server import PRODUCT, Server, load_params, run_forever
    from softswitch.runtime.settings import Settings, SettingsError, load_settings

__all__ = [
    "PRODUCT",
    "BasicDispatcher",
    "Capabilities",
    "Server",
    "Settings",
    "SettingsError",
    "load_params",
    "load_settings",
    "run_forever",
]

_HOMES = {
    "BasicDispatcher": "dispatcher",
    "Capabilities": "dispatcher",
    "PRODUCT": "server",
    "Server": "server",
    "load_params": "server",
    "run_forever": "server",
    "Settings": "settings",
    "SettingsError": "settings",
    "load_settings": "settings",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
