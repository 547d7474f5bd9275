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
    softswitch cdr export --from TIME --to TIME [--output FILE] [FILTERS] [--ignore-deny-time]
                          [--full-range] SETTINGS
    softswitch rates import FILE.csv --table NAME [--mode replace|merge] [--skip-bad]
                        [--create --currency XXX] SETTINGS
    softswitch rates export --table NAME [--output FILE] SETTINGS
    softswitch config export FILE.yaml SETTINGS
    softswitch config apply FILE.yaml [--prune] [--dry-run] SETTINGS
    softswitch calls list [--account-id N] [--agent-id N] [--gateway-id N] [--state STATE]
                          [--limit N] CLIENT
    softswitch calls show ID CLIENT
    softswitch calls hangup ID CLIENT
    softswitch calls callback A B [--account ID] [--caller-id NUMBER] CLIENT
    softswitch calls monitor CLIENT
    softswitch billing verify SETTINGS
    softswitch reports KIND --from D --to D [--group day|period] [--tz ZONE] [--csv] CLIENT
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

``calls`` is different: live calls exist only inside the running switch, so it talks to that
process over its HTTP API (``CLIENT`` is ``SETTINGS [--url URL] [--api-key KEY] [--json]``; the
URL defaults to the settings' ``http_listen``, the key to ``SOFTSWITCH_API_KEY``) and acts with
the role and scope of the key's owner (see ``softswitch.runtime.calls_cli``).

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
from typing import TYPE_CHECKING, Any

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

    _rates_parser(commands, common)
    _cdr_parser(commands, common)
    _config_parser(commands, common)
    _calls_parser(commands, common)
    from softswitch.runtime.reports_cli import add_parser as _reports_parser

    _reports_parser(commands, common)
    billing = commands.add_parser("billing", help="balances, ledger and reserved credit")
    billing_verbs = billing.add_subparsers(dest="verb", required=True, metavar="VERB")
    billing_verbs.add_parser(
        "verify",
        parents=[common],
        help="check every balance against its ledger and reservations (exit 1 on a problem)",
        description=_BILLING_VERIFY_HELP,
    )
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
        if settings.sip_workers > 1:
            from softswitch.runtime.workers import run_workers

            return run_workers(settings)
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
    """Every command but ``run`` and ``version``: each refusal is one line on stderr and exit
    code 1 (the commands handle their own multi-line reports, such as bad CSV rows)."""
    from softswitch.manage import ManageError
    from softswitch.operators import OperatorError
    from softswitch.runtime.admin import AdminError

    commands = {
        "db": _db,
        "user": _user,
        "cdr": _cdr,
        "rates": _rates,
        "config": _config,
        "calls": _calls,
        "billing": _billing,
        "reports": _reports,
    }
    try:
        return commands.get(args.command, _param)(args)
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
    except (AdminError, OperatorError, ManageError, ValueError, OSError) as exc:
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


def _rates_parser(
    commands: argparse._SubParsersAction[Any], common: argparse.ArgumentParser
) -> None:
    rates = commands.add_parser(
        "rates", help="rate tables as CSV (acts as the system actor, like user and param)"
    )
    verbs = rates.add_subparsers(dest="verb", required=True, metavar="VERB")
    importer = verbs.add_parser(
        "import",
        parents=[common],
        help="import a CSV file into a rate table (nothing imported if a row is bad)",
        description="Columns (found by the header, any order): prefix, rate, and optionally "
        "area, initial_increment, subsequent_increment, connection_fee, effective_from, "
        "effective_to, free_seconds, first_price, min_duration, profile; times without an "
        "offset are UTC. One transaction: a bad row imports nothing unless --skip-bad.",
    )
    importer.add_argument("file", type=Path, help="the CSV file (UTF-8)")
    importer.add_argument("--table", required=True, help="the rate table's name")
    importer.add_argument(
        "--mode",
        choices=("replace", "merge"),
        default="replace",
        help="replace: the file becomes the whole table (default); merge: upsert by "
        "(prefix, effective_from, profile)",
    )
    importer.add_argument(
        "--skip-bad", action="store_true", help="import the good rows, report the bad ones"
    )
    importer.add_argument("--create", action="store_true", help="create the table if missing")
    importer.add_argument("--currency", help="currency of a table made by --create (e.g. USD)")
    exporter = verbs.add_parser("export", parents=[common], help="write a rate table as CSV")
    exporter.add_argument("--table", required=True, help="the rate table's name")
    exporter.add_argument("--output", type=Path, help="file to write (default: standard output)")


def _rates(args: argparse.Namespace) -> int:
    """``rates import|export``: row errors one per line with their line numbers, exit 1 when
    the import was refused (nothing imported) or any other refusal."""
    from softswitch.manage.rate_import import ImportMode, ImportRefused
    from softswitch.runtime.rates_cli import ProgressBar, export_rates, import_rates

    bar = None
    try:
        settings = _settings(args)
        if args.verb == "export":
            if args.output is None:
                exported = asyncio.run(export_rates(settings, args.table, sys.stdout))
            else:
                with args.output.open("w", encoding="utf-8", newline="") as output:
                    exported = asyncio.run(export_rates(settings, args.table, output))
                print(f"{args.output}: {exported.lines} rate(s) of table {args.table}")
            return 0
        bar = ProgressBar(sys.stderr, args.file.name) if sys.stderr.isatty() else None
        result = asyncio.run(
            import_rates(
                settings,
                args.file,
                args.table,
                mode=ImportMode(args.mode),
                skip_bad=args.skip_bad,
                create=args.create,
                currency=args.currency,
                progress=bar,
            )
        )
    except ImportRefused as exc:
        if bar is not None and bar.drawn:
            print(file=sys.stderr)  # end the bar's line before the errors
        for error in exc.errors:
            _print_row_error(args.file, error.line, error.field, error.message)
        more = exc.bad - len(exc.errors)
        tail = f" ({more} more not shown)" if more > 0 else ""
        print(
            f"softswitch: {exc.bad} bad row(s){tail}; nothing imported "
            "(fix them, or use --skip-bad to import the good rows)",
            file=sys.stderr,
        )
        return 1
    for error in result.errors:
        _print_row_error(args.file, error.line, error.field, error.message)
    print(
        f"{args.file}: {result.imported} rate(s) imported into {args.table} "
        f"({result.mode.value}), {result.skipped} bad row(s) skipped"
    )
    return 0


def _print_row_error(file: Path, line: int, field: str | None, message: str) -> None:
    where = f"{file}:{line}" + (f": {field}" if field else "")
    print(f"{where}: {message}", file=sys.stderr)


_CDR_HELP = (
    "Write the CDRs whose call started in [--from, --to) as CSV (the columns of GET "
    "/api/v1/cdrs.csv, newest first) to standard output or --output. Times are ISO 8601; "
    "without an offset they are UTC. Like the API, it is refused in SERVER_QUERY_CDR_DENY_TIME "
    "hours (UTC) and for ranges over SERVER_QUERY_CDR_MAX_DAY_INTERVAL days unless "
    "--ignore-deny-time / --full-range say otherwise, and stops at SERVER_QUERY_MAX_SIZE rows "
    "(exit code 1 when it did). Acts as the system actor: every account's CDRs."
)


def _cdr_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    cdr = commands.add_parser("cdr", help="call detail records")
    verbs = cdr.add_subparsers(dest="verb", required=True, metavar="VERB")
    export = verbs.add_parser(
        "export", parents=[common], help="CDRs of a time range as CSV", description=_CDR_HELP
    )
    export.add_argument(
        "--from", dest="start", required=True, metavar="TIME", help="start, inclusive"
    )
    export.add_argument("--to", dest="end", required=True, metavar="TIME", help="end, exclusive")
    export.add_argument("--output", "-o", type=Path, help="CSV file to write (default: stdout)")
    export.add_argument("--caller", help="exact, or a prefix ending in * (44*)")
    export.add_argument("--callee", help="exact, or a prefix ending in * (44*)")
    export.add_argument("--account-id", type=int)
    export.add_argument("--routing-gateway-id", type=int)
    export.add_argument("--mapping-gateway-id", type=int)
    export.add_argument("--termination-reason", help="exact, e.g. normal_clearing")
    answered = export.add_mutually_exclusive_group()
    answered.add_argument(
        "--answered", action="store_true", default=None, help="answered calls only"
    )
    answered.add_argument(
        "--unanswered",
        dest="answered",
        action="store_false",
        default=None,
        help="unanswered calls only",
    )
    export.add_argument(
        "--ignore-deny-time", action="store_true", help="export even in SERVER_QUERY_CDR_DENY_TIME"
    )
    export.add_argument(
        "--full-range",
        action="store_true",
        help="allow a range longer than SERVER_QUERY_CDR_MAX_DAY_INTERVAL (backups, migration)",
    )


def _discard(output: Path | None) -> None:
    """Remove the file a failed export had opened, so no empty or partial CSV is left."""
    if output is not None:
        output.unlink(missing_ok=True)


def _cdr(args: argparse.Namespace) -> int:
    """``cdr export``: the CSV on stdout or in --output, progress on stderr for a file."""
    from softswitch.manage import ManageError
    from softswitch.manage.cdrs import CdrQuery
    from softswitch.runtime.cdr_export import export_cdrs, parse_time

    settings = _settings(args)
    query = CdrQuery(
        start=parse_time(args.start, "--from"),
        end=parse_time(args.end, "--to"),
        caller=args.caller,
        callee=args.callee,
        account_id=args.account_id,
        routing_gateway_id=args.routing_gateway_id,
        mapping_gateway_id=args.mapping_gateway_id,
        termination_reason=args.termination_reason,
        answered=args.answered,
    )
    to_file = args.output is not None
    terminal = sys.stderr.isatty()

    def progress(rows: int) -> None:
        if to_file and terminal:
            print(f"\r{rows} rows written", end="", file=sys.stderr, flush=True)

    try:
        if to_file:
            with open(args.output, "w", encoding="utf-8", newline="") as out:
                result = asyncio.run(
                    export_cdrs(
                        settings,
                        query,
                        out,
                        progress=progress,
                        ignore_deny_time=args.ignore_deny_time,
                        full_range=args.full_range,
                    )
                )
        else:
            result = asyncio.run(
                export_cdrs(
                    settings,
                    query,
                    sys.stdout,
                    ignore_deny_time=args.ignore_deny_time,
                    full_range=args.full_range,
                )
            )
    except ManageError as exc:
        field = f" ({exc.field})" if exc.field else ""
        print(f"softswitch: {exc.message}{field}", file=sys.stderr)
        _discard(args.output)
        return 1
    except BaseException:
        _discard(args.output)
        raise
    if to_file:
        if terminal:
            print(file=sys.stderr)
        print(f"{result.rows} rows written to {args.output}", file=sys.stderr)
    if result.capped:
        print(
            f"softswitch: stopped at SERVER_QUERY_MAX_SIZE = {result.limit} rows, more matched: "
            "narrow the time range or raise the parameter",
            file=sys.stderr,
        )
        return 1
    return 0


_CONFIG_HELP = (
    "The whole configuration (parameter overrides, rate tables with their rates, agents, "
    "accounts, phones, mapping and routing gateways) as one YAML file; rows refer to each other "
    "by name, never by id. See docs/configuration.md. Acts as the system actor."
)


def _config_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    config = commands.add_parser(
        "config", help="the whole configuration as one YAML file", description=_CONFIG_HELP
    )
    verbs = config.add_subparsers(dest="verb", required=True, metavar="VERB")
    exporter = verbs.add_parser(
        "export",
        parents=[common],
        help="write the configuration (with passwords; mode 0600) to FILE, '-' for stdout",
    )
    exporter.add_argument("file", help="the YAML file to write, or - for standard output")
    applier = verbs.add_parser(
        "apply",
        parents=[common],
        help="make the database match FILE (validated whole, applied in one transaction)",
    )
    applier.add_argument("file", type=Path, help="the YAML file")
    applier.add_argument(
        "--prune", action="store_true", help="also delete the rows and overrides FILE lacks"
    )
    applier.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")


def _config(args: argparse.Namespace) -> int:
    """``config export|apply``: the plan on stdout, notes and errors on stderr; exit 1 when
    the file was refused (every error listed with its YAML path; nothing changed)."""
    from softswitch.manage.config_file import ConfigInvalid
    from softswitch.runtime.config_cli import (
        apply_file,
        export_file,
        export_text,
        plan_lines,
        summary_lines,
    )

    terminal = sys.stderr.isatty()

    def progress(done: int, total: int) -> None:
        if terminal:
            end = "\n" if done == total else ""
            print(f"\rapplying {done}/{total}", end=end, file=sys.stderr, flush=True)

    try:
        settings = _settings(args)
        if args.verb == "export":
            if args.file == "-":
                exported = asyncio.run(export_text(settings))
                sys.stdout.write(exported.text)
            else:
                exported = asyncio.run(export_file(settings, Path(args.file)))
                print(
                    f"{args.file}: written with mode 0600 (it contains passwords: keep it private)",
                    file=sys.stderr,
                )
            counts = ", ".join(f"{count} {key}" for key, count in exported.counts.items())
            print(f"exported {counts}", file=sys.stderr)
            return 0
        result = asyncio.run(
            apply_file(
                settings, args.file, prune=args.prune, dry_run=args.dry_run, progress=progress
            )
        )
    except ConfigInvalid as exc:
        for error in exc.errors:
            print(f"{args.file}: {error}", file=sys.stderr)
        print(
            f"softswitch: {len(exc.errors)} error(s) in {args.file}; nothing was changed",
            file=sys.stderr,
        )
        return 1
    for line in plan_lines(result.plan):
        print(line)
    for line in summary_lines(result.plan, applied=result.applied):
        print(line)
    if args.dry_run:
        print("dry run: nothing was changed")
    elif result.plan.empty:
        print("nothing to change: the database already matches the file")
    return 0


_CALLS_HELP = (
    "Live calls of the running switch, through its HTTP API: the switch is found at the "
    "http_listen of the same settings as the other commands (or --url), and the API key "
    "(SOFTSWITCH_API_KEY, or --api-key) decides what you may see and do: an admin or operator "
    "key every call, an agent's key its accounts' calls, a customer's key its own."
)
_BILLING_VERIFY_HELP = (
    "Check every account: its balance equals the sum of its ledger amounts, each ledger row's "
    "balance_after is the previous one plus its amount, reserved equals the sum of its live "
    "calls' reservations, and no prepaid balance is below zero nor a postpaid one below minus "
    "its credit limit. Read-only, on one snapshot (safe while the switch runs). Exit code 0 "
    "when clean, 1 when a problem is found."
)
_CALL_STATES = ("routing", "ringing", "answered", "ending")
"""The values of ``softswitch.calls.control.CallState``."""


def _calls_parser(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    client = argparse.ArgumentParser(add_help=False)
    group = client.add_argument_group("switch")
    group.add_argument("--url", help="the switch's HTTP API (default: http://<http_listen>)")
    group.add_argument(
        "--api-key",
        help="an API key (default: $SOFTSWITCH_API_KEY, the safer way: ps shows command lines)",
    )
    group.add_argument("--json", action="store_true", help="print the API's JSON answer")
    parents = [common, client]
    calls = commands.add_parser(
        "calls",
        help="live calls of the running switch (over its HTTP API)",
        description=_CALLS_HELP,
    )
    verbs = calls.add_subparsers(dest="verb", required=True, metavar="VERB")
    listing = verbs.add_parser("list", parents=parents, help="the live calls, oldest first")
    listing.add_argument("--account-id", type=int)
    listing.add_argument("--agent-id", type=int)
    listing.add_argument("--gateway-id", type=int, help="routing gateway id")
    listing.add_argument("--state", choices=_CALL_STATES)
    listing.add_argument("--limit", type=int, help="at most this many (default 1000)")
    show = verbs.add_parser("show", parents=parents, help="one live call with its legs")
    show.add_argument("id")
    hangup = verbs.add_parser(
        "hangup", parents=parents, help="hang up a live call (its CDR says OperatorHangup)"
    )
    hangup.add_argument("id")
    callback = verbs.add_parser(
        "callback", parents=parents, help="call A, then B once A answers, and bridge them"
    )
    callback.add_argument("a", help="the number called first")
    callback.add_argument("b", help="the number called when A answers")
    callback.add_argument(
        "--account",
        dest="account_id",
        type=int,
        metavar="ID",
        help="the account it is routed and billed as (a customer's key: its own by default)",
    )
    callback.add_argument("--caller-id", help="the number shown to both parties")
    verbs.add_parser(
        "monitor",
        parents=parents,
        help="concurrent calls, calls per second, ASR/ACD per gateway, registrations",
    )


def _reports(args: argparse.Namespace) -> int:
    """``reports KIND``: one report of the running switch, over its HTTP API."""
    from softswitch.runtime.reports_cli import run

    return run(args)


def _billing(args: argparse.Namespace) -> int:
    """``billing verify``: exit 0 when the books check clean, 1 when a problem was found."""
    from softswitch.runtime.billing_cli import run

    return run(args, _settings(args), sys.stdout)


def _calls(args: argparse.Namespace) -> int:
    """``calls list|show|hangup|callback|monitor``: one request to the running switch."""
    import json

    from softswitch.runtime.calls_cli import (
        CallsError,
        SwitchApi,
        api_key,
        call_details,
        call_table,
        monitor_lines,
        switch_url,
    )

    try:
        settings = _settings(args)
        key = api_key(args.api_key, os.environ)
        with SwitchApi(switch_url(settings, args.url), key) as api:
            found: dict[str, Any] | None
            if args.verb == "list":
                filters = {
                    "account_id": args.account_id,
                    "agent_id": args.agent_id,
                    "routing_gateway_id": args.gateway_id,
                    "state": args.state,
                    "limit": args.limit,
                }
                found = api.list_calls(filters)
                lines = call_table(found)
            elif args.verb == "show":
                found = api.call(args.id)
                lines = call_details(found)
            elif args.verb == "hangup":
                api.hangup(args.id)
                found, lines = None, [f"call {args.id} hung up"]
            elif args.verb == "callback":
                found = api.callback(args.a, args.b, args.account_id, args.caller_id)
                lines = [f"callback started: call {found['call_id']} is calling {args.a}"]
            else:
                found = api.monitor()
                lines = monitor_lines(found)
    except CallsError as exc:
        print(f"softswitch: {exc}", file=sys.stderr)
        return 1
    if args.json and found is not None:
        print(json.dumps(found, indent=2))
    else:
        for line in lines:
            print(line)
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
