"""softswitch: an open-source, carrier-grade VoIP softswitch."""

__all__ = ["__version__"]

__version__ = "0.1.0"
