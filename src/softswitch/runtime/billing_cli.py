"""``softswitch billing verify``: check the books of the configured database from a shell.

Composition only: the database comes from :func:`softswitch.runtime.admin.open_manage` (it must
exist and be at the newest revision, like for ``rates import``), the checks from
:func:`softswitch.balance.verify.verify`. The check is read-only and reads one snapshot, so it
may run against the database of a running switch; it needs no login for the same reason the
other administration commands need none (whoever reads the data directory reads the books).

Output: one summary line, then one line per problem (account, check, expected, found). Exit
code 0 when every check held, 1 when a problem was found; refusals (no database, database
behind the code) are raised for the CLI to report like every other command's.

``softswitch.cli`` declares the command and calls :func:`run` (imported only when used, like
every runtime module, so ``--help`` stays fast).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import TextIO

from softswitch.balance.verify import VerifyReport, verify
from softswitch.runtime.admin import open_manage
from softswitch.runtime.settings import Settings

__all__ = ["run", "verify_database"]


async def verify_database(settings: Settings) -> VerifyReport:
    """The report of :func:`~softswitch.balance.verify.verify` on the configured database;
    raises ``AdminError`` when it is missing or not at the newest revision."""
    async with open_manage(settings) as ctx:
        return await verify(ctx.sessions)


def run(args: argparse.Namespace, settings: Settings, out: TextIO | None = None) -> int:
    """Run ``billing VERB``: write the summary and each problem to ``out`` (standard output)
    and return the exit code (0 clean, 1 problems)."""
    stream = sys.stdout if out is None else out
    if args.verb != "verify":  # argparse offers no other verb; a wiring mistake otherwise
        raise ValueError(f"unknown billing command {args.verb!r}")
    report = asyncio.run(verify_database(settings))
    lines = [report.summary(), *(str(problem) for problem in report.problems)]
    stream.write("".join(f"{line}\n" for line in lines))
    stream.flush()
    return 0 if report.clean else 1
