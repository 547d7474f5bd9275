"""A CDR writer in its own process, for the ``kill -9`` test.

Usage: ``python cdr_writer_child.py DIRECTORY DATABASE_URL COUNT``. Submits COUNT records, 10
at a time, and prints each record_id on its own line (flushed) as soon as ``submit`` returns —
i.e. once the record is acknowledged as durable. The test kills it with SIGKILL mid-way.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from softswitch.cdr.writer import CdrWriter, CdrWriterConfig
from softswitch.storage import create_engine


def record(n: int) -> dict[str, object]:
    start = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    return {
        "call_id": f"child-{n}",
        "start_time": start,
        "end_time": start,
        "caller": "1000",
        "callee": f"4930{n:06d}",
        "termination_reason": "NoAnswer",
        "fee": Decimal("0.125"),
    }


async def main(directory: Path, url: str, count: int) -> None:
    engine = create_engine(url)
    writer = CdrWriter(directory, engine, CdrWriterConfig(), lambda: datetime.now(UTC))
    await writer.start()
    sys.stdout.write("started\n")
    sys.stdout.flush()
    for base in range(0, count, 10):
        ids = await asyncio.gather(*(writer.submit(record(n)) for n in range(base, base + 10)))
        sys.stdout.write("".join(f"{record_id}\n" for record_id in ids))
        sys.stdout.flush()
    await writer.stop()
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])))
