"""Typed system parameters: the VOS3000-named ``SS_*``, ``SERVER_*`` and ``IVR_*`` knobs.

The catalogue (``catalog.tsv``) lists every parameter; :func:`load_catalog` turns it into a
:class:`Registry` of typed :class:`Param` objects, and a :class:`ParamStore` holds the values in
force over the defaults, validates changes and tells subscribers about them. Standard library
only, no clock, no I/O except :meth:`ParamStore.load_file`.
"""

from .catalog import load_catalog, parse_catalog
from .registry import Param, ParamError, Registry
from .store import ParamChange, ParamStore, Unsubscribe, resend_interval
from .values import ParamKind, PortRange

__all__ = [
    "Param",
    "ParamChange",
    "ParamError",
    "ParamKind",
    "ParamStore",
    "PortRange",
    "Registry",
    "Unsubscribe",
    "load_catalog",
    "parse_catalog",
    "resend_interval",
]
