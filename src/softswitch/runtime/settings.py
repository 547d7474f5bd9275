"""Bootstrap settings: what must be known before anything starts (ARCHITECTURE.md, "Configuration").

Listen addresses, the data directory and the like are read once at start, from (lowest to
highest precedence) built-in defaults, an optional settings file (``--config``), environment
variables and command-line flags. The environment beats the file so that a container can
override one value of a shipped file without editing it; a flag beats everything because it
is the most deliberate. System parameters (``SS_*``) are *not* settings: they live in the
parameter store and change at run time.

The settings file is either TOML (``*.toml``) or ``KEY = value`` lines; keys are the variable
names with or without the ``SOFTSWITCH_`` prefix, in any case (``sip_listen = "..."``).
"""

from __future__ import annotations

import contextlib
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from softswitch.storage.db import default_url
from softswitch.transport.addresses import HostPort, parse_hostport

__all__ = ["ENV_PREFIX", "SETTING_NAMES", "Settings", "SettingsError", "load_settings"]

ENV_PREFIX = "SOFTSWITCH_"

# Setting name (lower case, no prefix) -> default text. The order is the documentation order.
_DEFAULTS: dict[str, str] = {
    "data_dir": "./data",
    "database_url": "",
    "admin_password": "",
    "sip_listen": "127.0.0.1:5060",
    "sip_tls_listen": "127.0.0.1:5061",
    "http_listen": "127.0.0.1:8080",
    "params_file": "",
    "log_level": "INFO",
    "tls_cert": "",
    "tls_key": "",
    "tls_verify": "off",
    "tls_ca_file": "",
    "tcp_idle_timeout": "600",
    "sip_digest_algorithms": "MD5",
    "sip_advertise": "",
    "time_zone": "",
    "node": "",
    "sip_workers": "1",
}
SETTING_NAMES = tuple(_DEFAULTS)
"""Known settings; the environment variable of each is ``SOFTSWITCH_`` + its upper-case name."""

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_DIGEST_ALGORITHMS = ("SHA-256", "MD5")
_TRUE = ("1", "on", "true", "yes")
_FALSE = ("0", "off", "false", "no")


class SettingsError(ValueError):
    """A setting is unknown or its value cannot be used; the message names the source."""


@dataclass(frozen=True, slots=True)
class Settings:
    """Bootstrap settings, parsed and checked.

    ``sip_listen`` addresses get UDP and TCP listeners, ``sip_tls_listen`` addresses TLS ones
    (an empty list turns a kind off). Without ``tls_cert``/``tls_key`` a self-signed certificate
    is generated into ``data_dir``. ``tls_verify`` makes outbound TLS check the peer's
    certificate (against ``tls_ca_file`` or the system store). ``http_listen`` is reserved for
    the HTTP API. ``database_url`` is the embedded SQLite file in ``data_dir`` unless
    a ``postgresql+asyncpg://`` URL is given. ``admin_password`` is the first-start password of the
    ``admin`` operator (None: generate one and log it once). ``sip_digest_algorithms`` are the
    digest algorithms offered in challenges: MD5 alone by default, because many devices (and SIPp)
    answer only the first challenge of a 401 and cannot do SHA-256; ``SHA-256,MD5`` offers both,
    strongest first (RFC 8760 §2.4). ``sip_advertise`` is the address the switch writes in its
    Via and Contact headers (calls); empty means the listen address, which must then not be a
    wildcard such as ``0.0.0.0`` for peers to reach it. ``time_zone`` (IANA name) is where
    "a day" is counted: daily spend limits and the daily reports at 01:00; empty means the
    machine's zone (``TZ`` or ``/etc/timezone``), else UTC. ``node`` names this switch process
    among several sharing one database: the credit its live calls hold is filed under it and
    released when it starts again (empty: ``default``). ``sip_workers`` (EXPERIMENTAL, default
    1) runs that many switch processes behind the one SIP address: a parent receives every UDP
    datagram and hands it to a worker chosen by its Call-ID (``softswitch.runtime.workers``).
    """

    data_dir: Path
    database_url: str
    admin_password: str | None
    sip_listen: tuple[HostPort, ...]
    sip_tls_listen: tuple[HostPort, ...]
    http_listen: HostPort
    params_file: Path | None
    log_level: str
    tls_cert: Path | None
    tls_key: Path | None
    tls_verify: bool
    tls_ca_file: Path | None
    tcp_idle_timeout: float
    sip_digest_algorithms: tuple[str, ...]
    sip_advertise: str | None = None
    time_zone: str = "UTC"
    node: str = "default"
    sip_workers: int = 1


def _key(name: str, source: str) -> str:
    key = name.strip().lower()
    if key.startswith(ENV_PREFIX.lower()):
        key = key[len(ENV_PREFIX) :]
    if key not in _DEFAULTS:
        raise SettingsError(f"{source}: unknown setting {name!r}; known: {', '.join(_DEFAULTS)}")
    return key


def _read_file(path: Path) -> dict[str, str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"cannot read settings file {path}: {exc}") from None
    found: dict[str, str] = {}
    if path.suffix.lower() == ".toml":
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise SettingsError(f"{path}: {exc}") from None
        for name, value in data.items():
            if isinstance(value, list):
                value = ",".join(str(item) for item in value)
            elif isinstance(value, bool):
                value = "on" if value else "off"
            elif not isinstance(value, str | int | float):
                raise SettingsError(f"{path}: {name} must be a string, number or list")
            found[_key(name, str(path))] = str(value)
        return found
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, equals, value = line.partition("=")
        if not equals:
            raise SettingsError(f"{path}:{number}: expected 'KEY = value', got {raw!r}")
        found[_key(name, f"{path}:{number}")] = value.strip().strip('"')
    return found


def _addresses(text: str, default_port: int, name: str) -> tuple[HostPort, ...]:
    try:
        return tuple(parse_hostport(item, default_port) for item in text.split(",") if item.strip())
    except ValueError as exc:
        raise SettingsError(f"{name}: {exc}") from None


def _path(text: str) -> Path | None:
    return Path(text).expanduser() if text.strip() else None


def load_settings(
    env: Mapping[str, str],
    *,
    config_file: Path | None = None,
    overrides: Mapping[str, str | None] | None = None,
) -> Settings:
    """Merge defaults, ``config_file``, ``env`` (``SOFTSWITCH_*`` only) and ``overrides``.

    ``overrides`` are command-line values by setting name; None means "not given".
    """
    raw = dict(_DEFAULTS)
    if config_file is not None:
        raw.update(_read_file(config_file))
    for name, value in env.items():
        if name.startswith(ENV_PREFIX) and name[len(ENV_PREFIX) :].lower() in _DEFAULTS:
            raw[name[len(ENV_PREFIX) :].lower()] = value
    for name, given in (overrides or {}).items():
        if given is not None:
            raw[_key(name, "command line")] = given

    level = raw["log_level"].strip().upper()
    if level not in _LOG_LEVELS:
        raise SettingsError(f"log_level must be one of {', '.join(_LOG_LEVELS)}; got {level!r}")
    verify = raw["tls_verify"].strip().lower()
    if verify not in _TRUE + _FALSE:
        raise SettingsError(f"tls_verify must be on or off; got {raw['tls_verify']!r}")
    try:
        idle = float(raw["tcp_idle_timeout"])
    except ValueError:
        idle = -1.0
    if idle < 0:
        raise SettingsError(
            f"tcp_idle_timeout must be seconds >= 0; got {raw['tcp_idle_timeout']!r}"
        )
    http = _addresses(raw["http_listen"], 8080, "http_listen")
    if len(http) != 1:
        raise SettingsError("http_listen must be exactly one address")
    cert, key = _path(raw["tls_cert"]), _path(raw["tls_key"])
    if (cert is None) != (key is None):
        raise SettingsError("tls_cert and tls_key must be given together")
    algorithms = tuple(a.strip() for a in raw["sip_digest_algorithms"].split(",") if a.strip())
    bad = [a for a in algorithms if a.upper() not in _DIGEST_ALGORITHMS]
    if bad or not algorithms:
        known = ", ".join(_DIGEST_ALGORITHMS)
        raise SettingsError(f"sip_digest_algorithms must list {known}; got {bad or '(none)'}")
    data_dir = Path(raw["data_dir"]).expanduser()
    database_url = raw["database_url"].strip() or default_url(data_dir)
    if not database_url.startswith(("sqlite+aiosqlite:///", "postgresql+asyncpg://")):
        raise SettingsError(
            "database_url must be sqlite+aiosqlite:///path or postgresql+asyncpg://user@host/db"
        )
    return Settings(
        data_dir=data_dir,
        database_url=database_url,
        admin_password=raw["admin_password"] or None,
        sip_listen=_addresses(raw["sip_listen"], 5060, "sip_listen"),
        sip_tls_listen=_addresses(raw["sip_tls_listen"], 5061, "sip_tls_listen"),
        http_listen=http[0],
        params_file=_path(raw["params_file"]),
        log_level=level,
        tls_cert=cert,
        tls_key=key,
        tls_verify=verify in _TRUE,
        tls_ca_file=_path(raw["tls_ca_file"]),
        tcp_idle_timeout=idle,
        sip_digest_algorithms=tuple(a.upper() for a in algorithms),
        sip_advertise=raw["sip_advertise"].strip().strip("[]") or None,
        time_zone=_zone(raw["time_zone"]),
        node=_node(raw["node"]),
        sip_workers=_workers(raw["sip_workers"]),
    )


def _zone(text: str) -> str:
    """The IANA zone named, or the machine's, or UTC; SettingsError for an unknown name."""
    name = text.strip() or _machine_zone()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(
            f"time_zone {name!r} is not an IANA time zone (e.g. UTC, Europe/London)"
        ) from None
    return name


def _machine_zone() -> str:
    name = os.environ.get("TZ", "").strip().lstrip(":")
    if not name:
        with contextlib.suppress(OSError):
            name = Path("/etc/timezone").read_text(encoding="utf-8").strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name or "UTC"


MAX_SIP_WORKERS = 64


def _workers(text: str) -> int:
    try:
        count = int(text.strip())
    except ValueError:
        count = 0
    if not 1 <= count <= MAX_SIP_WORKERS:
        raise SettingsError(f"sip_workers must be 1 to {MAX_SIP_WORKERS}; got {text!r}")
    return count


def _node(text: str) -> str:
    name = text.strip() or "default"
    if len(name) > 64 or not all(c.isalnum() or c in "-_.:" for c in name):
        raise SettingsError("node must be up to 64 letters, digits, '-', '_', '.' or ':'")
    return name
