"""The ``softswitch`` command: run the switch, inspect parameters, print the version.

Subcommands::

    softswitch run [--config FILE] [--sip-listen ADDRS] [--data-dir DIR] [--log-level LEVEL]
    softswitch params list [--group GROUP]
    softswitch params get NAME [--file OVERRIDES]
    softswitch params check FILE
    softswitch version

This is the only module that prints; everything it shows comes from the packages below it.
Exit codes: 0 success, 1 a checked error (bad setting, bad parameter file), 2 bad usage.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from softswitch import __version__
from softswitch.params import ParamError, ParamStore, load_catalog

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="softswitch", description="Open-source VoIP softswitch")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = commands.add_parser("run", help="start the switch (stops on SIGINT/SIGTERM)")
    run.add_argument("--config", type=Path, help="settings file (KEY = value, or *.toml)")
    run.add_argument("--sip-listen", help="UDP+TCP listen addresses, comma separated")
    run.add_argument("--sip-tls-listen", help="TLS listen addresses, comma separated")
    run.add_argument("--data-dir", help="data directory (created if missing)")
    run.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")

    params = commands.add_parser("params", help="system parameters (SS_*, SERVER_*, IVR_*)")
    verbs = params.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", help="print the catalogue")
    listing.add_argument("--group", help="only this group (e.g. softswitch.sip)")
    get = verbs.add_parser("get", help="print the value in force of one parameter")
    get.add_argument("name")
    get.add_argument("--file", type=Path, help="override file (default: SOFTSWITCH_PARAMS_FILE)")
    check = verbs.add_parser("check", help="validate a parameter override file")
    check.add_argument("file", type=Path)

    commands.add_parser("version", help="print the version")
    return parser


def _run(args: argparse.Namespace) -> int:
    from softswitch.runtime.server import run_forever
    from softswitch.runtime.settings import SettingsError, load_settings

    try:
        settings = load_settings(
            os.environ,
            config_file=args.config,
            overrides={
                "sip_listen": args.sip_listen,
                "sip_tls_listen": args.sip_tls_listen,
                "data_dir": args.data_dir,
                "log_level": args.log_level,
            },
        )
    except SettingsError as exc:
        print(f"softswitch: {exc}", file=sys.stderr)
        return 1
    logging.basicConfig(
        level=settings.log_level,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return run_forever(settings)
    except (ParamError, OSError) as exc:
        logging.getLogger("softswitch").error("cannot start: %s", exc)
        return 1


def _params_list(group: str | None) -> int:
    registry = load_catalog()
    params = registry.in_group(group) if group else tuple(registry)
    for param in params:
        default = param.format(param.default)
        print(f"{param.name}\t{param.kind.value}\t{default}\t{param.allowed}\t{param.doc}")
    return 0


def _params_get(name: str, file: Path | None) -> int:
    store = ParamStore(load_catalog())
    if file is None and os.environ.get("SOFTSWITCH_PARAMS_FILE"):
        file = Path(os.environ["SOFTSWITCH_PARAMS_FILE"])
    if file is not None:
        store.load_file(file)
    param = store.registry.get(name)
    print(f"{param.name} = {param.format(store.get(param.name))}")
    return 0


def _params_check(file: Path) -> int:
    store = ParamStore(load_catalog())
    changes = store.load_file(file)
    print(f"{file}: OK, {len(store.overrides())} override(s), {len(changes)} differ from default")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``softswitch`` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    if args.command == "version":
        print(f"softswitch {__version__}")
        return 0
    if args.command == "run":
        return _run(args)
    try:
        if args.verb == "list":
            return _params_list(args.group)
        if args.verb == "get":
            return _params_get(args.name, args.file)
        return _params_check(args.file)
    except BrokenPipeError:
        # `softswitch params list | head`: the reader left; that is not an error.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the exit flush quiet
        return 0
    except (ParamError, OSError) as exc:
        print(f"softswitch: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
