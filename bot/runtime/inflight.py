"""Work a stop may cut short: updates being handled and scheduled jobs running.

A stop (SIGTERM, Ctrl-C) must not wait for a reply that is retried against a Telegram
that cannot be reached, nor for a backlog of a thousand queued updates. Nothing is lost
by cutting such work short: an update is marked done only after its handlers ran, so
one cancelled (or never started) is handled again on the next start from the durable
inbox, and a scheduled send left 'sending' is taken over on the next start. What each
transaction did is rolled back when it is cancelled (``storage.db``).

So the runtime tracks that work here, lets it finish for a short grace period, and then
cancels what is still running.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("gridbot.stop")

# How long cancelled work may take to unwind (a cancelled task runs its ``finally``
# blocks, a rollback among them) before ``cut_short`` logs it as stuck. (PTB's own stop
# still waits for an update task that has not ended.)
UNWIND_SECONDS = 1.0


class InFlight:
    """The blocks of one kind of work running right now, each with its task. A block,
    not a task, is what is waited for: with one update at a time PTB runs every update
    in one long-lived task, which must not count as busy between updates."""

    def __init__(self) -> None:
        self._open: dict[asyncio.Future[None], asyncio.Task[Any]] = {}

    def __len__(self) -> int:
        return len(self._open)

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Count the current task as in flight while the block runs."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        ended: asyncio.Future[None] = task.get_loop().create_future()
        self._open[ended] = task
        try:
            yield
        finally:
            del self._open[ended]
            ended.set_result(None)

    def blocks(self) -> dict[asyncio.Future[None], asyncio.Task[Any]]:
        """The open blocks: a future set when each ends, and the task running it."""
        return dict(self._open)


async def cut_short(grace: float, **kinds: InFlight) -> dict[str, int]:
    """Wait up to ``grace`` seconds for the work of every kind to end, then cancel the
    tasks still inside a block and give them ``UNWIND_SECONDS`` to leave it. How many
    were cancelled of each kind (logged when any were)."""
    running = {kind: flight.blocks() for kind, flight in kinds.items()}
    ends = {ended for blocks in running.values() for ended in blocks}
    if ends and grace > 0:
        await asyncio.wait(ends, timeout=grace)
    cancelled = {kind: 0 for kind in kinds}
    late: set[asyncio.Future[None]] = set()
    for kind, blocks in running.items():
        for ended, task in blocks.items():
            if not ended.done() and not task.done():
                task.cancel()
                cancelled[kind] += 1
                late.add(ended)
    if late:
        log.warning("stop.cut_short", extra={"fields": {**cancelled, "grace": grace}})
        _, stuck = await asyncio.wait(late, timeout=UNWIND_SECONDS)
        if stuck:
            log.error("stop.not_unwound", extra={"fields": {"tasks": len(stuck)}})
    return cancelled
