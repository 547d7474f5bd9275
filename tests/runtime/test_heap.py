"""The garbage collector's policy of a running switch (runtime/heap.py)."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator

import pytest

from softswitch.runtime import heap


@pytest.fixture
def restored() -> Iterator[None]:
    """Put the interpreter's collector back as it was: the policy is process-wide."""
    thresholds = gc.get_threshold()
    yield
    gc.enable()
    gc.unfreeze()
    gc.set_threshold(*thresholds)


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


def _leave_cycles(count: int) -> None:
    """Garbage cycles, as a closure that refers to itself would leave."""
    for _ in range(count):
        a, b = _Node(), _Node()
        a.other, b.other = b, a


def test_settle_freezes_what_exists_and_leaves_full_collections_to_the_schedule(
    restored: None,
) -> None:
    heap.settle()

    assert gc.get_freeze_count() > 0
    young, middle, full = gc.get_threshold()
    assert (young, middle) == (heap.YOUNG, heap.MIDDLE)
    assert full >= 1_000_000  # out of reach: no automatic full collection


async def test_a_scheduled_full_collection_frees_cycles_and_logs_its_pause(
    restored: None, caplog: pytest.LogCaptureFixture
) -> None:
    heap.settle()
    gc.disable()  # no young collection may free them first: only the scheduled pass
    _leave_cycles(100)
    assert [o for o in gc.get_objects() if isinstance(o, _Node)]  # waiting for a full pass
    collections = heap.FullCollections(interval_s=0.05)
    with caplog.at_level(logging.INFO, logger="softswitch.runtime.heap"):
        collections.start()
        for _ in range(100):
            if collections.runs:
                break
            await asyncio.sleep(0.02)
        await collections.stop()

    assert collections.runs >= 1
    assert any("full garbage collection" in r.getMessage() for r in caplog.records)
    assert not [o for o in gc.get_objects() if isinstance(o, _Node)]
