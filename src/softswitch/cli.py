"""The ``softswitch`` command: run the switch, administer its database and users, inspect
parameters, print the version.

Subcommands (``SETTINGS`` is ``[--config FILE] [--data-dir DIR]``, over the same
``SOFTSWITCH_*`` environment variables for every subcommand)::

    softswitch run SETTINGS [--sip-listen ADDRS] [--sip-tls-listen ADDRS] [--log-level LEVEL]
    softswitch db upgrade SETTINGS
    softswitch db status SETTINGS
    softswitch user add USERNAME --role ROLE [--agent-id N] [--account-id N]
                        [--password-stdin] SETTINGS
    softswitch user passwd USERNAME [--password-stdin] SETTINGS
    softswitch param list [--group GROUP] [--overridden] [--file OVERRIDES] SETTINGS
    softswitch param get NAME [--file OVERRIDES] SETTINGS
    softswitch param set NAME VALUE SETTINGS
    softswitch param reset NAME SETTINGS
    softswitch param check FILE
    softswitch version

``params`` is accepted for ``param``. ``param list`` and ``get`` show the values in force: the
catalogue defaults, then the override file, then the overrides stored in the database (the
order ``run`` applies them); with no database yet, the first two. ``param set`` and ``reset``
store the change in the database with an audit row and a change-feed row, exactly as the HTTP
API does; a running switch follows the feed and applies them within about a second.

``db``, ``user`` and ``param set/reset`` act without a login, as the system actor: they are
for whoever has shell access to the data directory (or the database credentials), who controls
the data anyway (see ``softswitch.runtime.admin``). Passwords are never taken from the command
line, where ``ps`` and shell history would show them: they are prompted for twice on a
terminal, or read as the first line of standard input with ``--password-stdin`` (for scripts).

This is the only module that prints; everything it shows comes from the packages below it.
Exit codes: 0 success, 1 a checked error (bad setting, bad parameter file, refused user
operation, unknown parameter or value not allowed, database behind the code), 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from softswitch import __version__
from softswitch.params import ParamError, ParamStore, load_catalog

if TYPE_CHECKING:
    from softswitch.runtime.admin import ParamValue
    from softswitch.runtime.settings import Settings

__all__ = ["main"]

_ROLES = ("admin", "operator", "agent", "customer")
"""The values of ``softswitch.storage.models.Role`` (spelled out so ``--help`` needs no import
of the storage layer)."""


_PARAM_HELP = (
    "list and get show the values in force: catalogue defaults, then the override file, then "
    "the overrides stored in the database. set and reset write the database (with an audit "
    "row by 'system'), as the HTTP API does; a running switch applies them within about a "
    "second."
)


def _settings_options() -> argparse.ArgumentParser:
    """Where the bootstrap settings come from: shared by every subcommand that opens the data
    directory, so ``run``, ``db`` and ``user`` always find the same database."""
    common = argparse.ArgumentParser(add_help=False)
    group = common.add_argument_group("settings (over SOFTSWITCH_* environment variables)")
    group.add_argument("--config", type=Path, help="settings file (KEY = value, or *.toml)")
    group.add_argument(
        "--data-dir", help="data directory (default ./data; run and db upgrade create it)"
    )
    return common


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="softswitch", description="Open-source VoIP softswitch")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    common = _settings_options()

    run = commands.add_parser(
        "run", parents=[common], help="start the switch (stops on SIGINT/SIGTERM)"
    )
    run.add_argument("--sip-listen", help="UDP+TCP listen addresses, comma separated")
    run.add_argument("--sip-tls-listen", help="TLS listen addresses, comma separated")
    run.add_argument("--log-level", help="DEBUG, INFO, WARNING, ERROR")

    db = commands.add_parser("db", help="database schema")
    db_verbs = db.add_subparsers(dest="verb", required=True, metavar="VERB")
    db_verbs.add_parser(
        "upgrade", parents=[common], help="migrate the database to the newest schema"
    )
    db_verbs.add_parser(
        "status", parents=[common], help="current and newest revision (exit 1 when behind)"
    )

    user = commands.add_parser(
        "user", help="operator logins (acts as the system actor: needs shell access to the data)"
    )
    user_verbs = user.add_subparsers(dest="verb", required=True, metavar="VERB")
    add = user_verbs.add_parser("add", parents=[common], help="create a login")
    add.add_argument("username")
    add.add_argument("--role", required=True, choices=_ROLES)
    add.add_argument("--agent-id", type=int, help="the agent of an agent user")
    add.add_argument("--account-id", type=int, help="the account of a customer user")
    add.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    passwd = user_verbs.add_parser(
        "passwd", parents=[common], help="set a login's password (also lifts a lockout)"
    )
    passwd.add_argument("username")
    passwd.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )

    params = commands.add_parser(
        "param",
        aliases=["params"],
        help="system parameters (SS_*, SERVER_*, IVR_*)",
        description=_PARAM_HELP,
    )
    verbs = params.add_subparsers(dest="verb", required=True, metavar="VERB")
    file_help = "override file (default: the params_file setting, SOFTSWITCH_PARAMS_FILE)"
    listing = verbs.add_parser(
        "list",
        parents=[common],
        help="every parameter: name, type, value in force, source, allowed values, meaning",
    )
    listing.add_argument("--group", help="only this group (e.g. softswitch.sip)")
    listing.add_argument(
        "--overridden", action="store_true", help="only those not at their default"
    )
    listing.add_argument("--file", type=Path, help=file_help)
    get = verbs.add_parser(
        "get", parents=[common], help="print the value in force of one parameter"
    )
    get.add_argument("name", help="canonical name or alias, any case")
    get.add_argument("--file", type=Path, help=file_help)
    setter = verbs.add_parser(
        "set",
        parents=[common],
        help="store an override in the database (a running switch applies it within a second)",
    )
    setter.add_argument("name", help="canonical name or alias, any case")
    setter.add_argument("value")
    reset = verbs.add_parser(
        "reset",
        parents=[common],
        help="remove the database override (a running switch applies it within a second)",
    )
    reset.add_argument("name", help="canonical name or alias, any case")
    check = verbs.add_parser("check", help="validate a parameter override file")
    check.add_argument("file", type=Path)

    commands.add_parser("version", help="print the version")
    return parser


def _settings(args: argparse.Namespace, **flags: str | None) -> Settings:
    """Settings from the environment, ``--config``, ``--data-dir`` and the given flags.
    Raises ``SettingsError``."""
    from softswitch.runtime.settings import load_settings

    return load_settings(
        os.environ,
        config_file=args.config,
        overrides={"data_dir": args.data_dir, **flags},
    )


def _run(args: argparse.Namespace) -> int:
    from softswitch.runtime.server import run_forever
    from softswitch.runtime.settings import SettingsError

    try:
        settings = _settings(
            args,
            sip_listen=args.sip_listen,
            sip_tls_listen=args.sip_tls_listen,
            log_level=args.log_level,
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


class _UsageError(Exception):
    """Bad usage found after parsing (exit code 2, like argparse's own)."""


def _db(args: argparse.Namespace) -> int:
    from softswitch.runtime.admin import database_status, upgrade_database

    settings = _settings(args)
    if args.verb == "upgrade":
        status = asyncio.run(upgrade_database(settings))
    else:
        status = asyncio.run(database_status(settings))
    if status.up_to_date:
        print(f"database {status.url} at revision {status.current} (head)")
        return 0
    at = "is empty" if status.current is None else f"at revision {status.current}"
    print(f"database {status.url} {at}, head is {status.head}: run 'softswitch db upgrade'")
    return 1


def _read_password(args: argparse.Namespace) -> str:
    """The new password: the first line of standard input (without its line ending) with
    ``--password-stdin``, else typed twice at a terminal. Raises ``_UsageError`` when there is
    no terminal to prompt on and ``ValueError`` for an empty input or a mismatch."""
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise ValueError("no password on standard input")
        return line.removesuffix("\n").removesuffix("\r")
    if not sys.stdin.isatty():
        raise _UsageError(
            "standard input is not a terminal, cannot prompt for the password: "
            "use --password-stdin and write the password to standard input"
        )
    first = getpass.getpass(f"New password for {args.username}: ")
    second = getpass.getpass("Repeat the password: ")
    if first != second:
        raise ValueError("the two passwords do not match; nothing was changed")
    return first


def _user(args: argparse.Namespace) -> int:
    from softswitch.runtime.admin import add_user, set_password
    from softswitch.storage.models.users import Role

    settings = _settings(args)
    password = _read_password(args)
    if args.verb == "add":
        role = Role(args.role)
        user = asyncio.run(
            add_user(
                settings,
                args.username,
                password,
                role,
                agent_id=args.agent_id,
                account_id=args.account_id,
            )
        )
        scope = ""
        if user.agent_id is not None:
            scope = f", agent {user.agent_id}"
        elif user.account_id is not None:
            scope = f", account {user.account_id}"
        print(f"created user {user.username} (id {user.id}, role {user.role.value}{scope})")
        return 0
    user = asyncio.run(set_password(settings, args.username, password))
    print(f"password of {user.username} set (id {user.id}, role {user.role.value}, not locked)")
    return 0


def _admin(args: argparse.Namespace) -> int:
    """``db``, ``user`` and ``param``: every refusal is one line on stderr and exit code 1."""
    from softswitch.operators import OperatorError
    from softswitch.runtime.admin import AdminError

    try:
        if args.command == "db":
            return _db(args)
        if args.command == "user":
            return _user(args)
        return _param(args)
    except BrokenPipeError:
        # `softswitch param list | head`: the reader left; that is not an error.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - keeps the exit flush quiet
        return 0
    except _UsageError as exc:
        print(f"softswitch: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return 130
    except (AdminError, OperatorError, ValueError, OSError) as exc:
        # ValueError covers SettingsError, ParamError and PasswordTooShort/PasswordTooLong.
        print(f"softswitch: {exc}", file=sys.stderr)
        return 1


def _param_line(view: ParamValue) -> str:
    param = view.param
    return (
        f"{param.name}\t{param.kind.value}\t{view.value}\t{view.source.value}"
        f"\t{param.allowed}\t{param.doc}"
    )


def _param(args: argparse.Namespace) -> int:
    from softswitch.runtime.admin import params_in_force, reset_param, set_param

    if args.verb == "check":
        return _params_check(args.file)
    settings = _settings(args)
    if args.verb == "set":
        update = asyncio.run(set_param(settings, args.name, args.value))
        print(f"{update.name}: {update.before} -> {update.after} (stored; {_NEXT_START})")
        return 0
    if args.verb == "reset":
        update = asyncio.run(reset_param(settings, args.name))
        if not update.stored:
            print(f"{update.name}: no override stored, {update.after} stays in force")
            return 0
        print(f"{update.name}: {update.before} -> {update.after} (reset; {_NEXT_START})")
        return 0
    in_force = asyncio.run(params_in_force(settings, params_file=args.file))
    if not in_force.database:
        print(
            "softswitch: no database yet, showing defaults and the override file",
            file=sys.stderr,
        )
    if args.verb == "get":
        view = in_force.get(args.name)
        print(f"{view.param.name} = {view.value}")
        return 0
    registry = in_force.store.registry
    members = registry.in_group(args.group) if args.group else tuple(registry)
    for param in members:
        view = in_force.view(param)
        if view.overridden or not args.overridden:
            print(_param_line(view))
    return 0


_NEXT_START = "a running switch applies it within about a second"


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
    return _admin(args)


if __name__ == "__main__":
    sys.exit(main())
