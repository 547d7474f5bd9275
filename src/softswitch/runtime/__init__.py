"""Composition root (layer L6): bootstrap settings, the server that wires everything, the run loop.

Nothing is built at import time; :func:`~softswitch.runtime.server.run_forever` builds it all.
"""

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
