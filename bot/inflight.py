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

log = logging.getLogger("gridbot.stop")

# How long cancelled work may take to unwind (a cancelled task runs its ``finally``
# blocks, a rollback among them) before the stop goes on without it.
UNWIND_SECONDS = 1.0


class InFlight:
    """The tasks doing one kind of work right now."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def __len__(self) -> int:
        return sum(1 for task in self._tasks if not task.done())

    @contextlib.contextmanager
    def track(self) -> Iterator[None]:
        """Count the current task as in flight while the block runs."""
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)

    def tasks(self) -> set[asyncio.Task[object]]:
        return {task for task in self._tasks if not task.done()}


async def cut_short(grace: float, **kinds: InFlight) -> dict[str, int]:
    """Wait up to ``grace`` seconds for the work of every kind to end, then cancel what is
    still running and give it ``UNWIND_SECONDS`` to unwind. How many tasks of each kind
    were cancelled (logged when any were)."""
    running = {kind: flight.tasks() for kind, flight in kinds.items()}
    everything = set().union(*running.values())
    if everything and grace > 0:
        await asyncio.wait(everything, timeout=grace)
    cancelled = {kind: 0 for kind in kinds}
    late: set[asyncio.Task[object]] = set()
    for kind, tasks in running.items():
        for task in tasks:
            if not task.done():
                task.cancel()
                cancelled[kind] += 1
                late.add(task)
    if late:
        log.warning("stop.cut_short", extra={"fields": {**cancelled, "grace": grace}})
        _, stuck = await asyncio.wait(late, timeout=UNWIND_SECONDS)
        if stuck:
            log.error("stop.not_unwound", extra={"fields": {"tasks": len(stuck)}})
    return cancelled
