"""The scheduler's leader: with several ``gridbot run`` processes on one PostgreSQL
store, the scheduled jobs (digests, reminders, tip deadlines and escalation, bulletins,
outlet sends, inbox pruning) run in exactly one of them.

Each process tries the deployment's scheduler advisory lock (``SCHEDULER_LOCK``, a
session lock on a connection of its own) every ``retry`` seconds; the one that holds it
is the leader until its process or its connection dies, when the server frees the lock
and another process takes it at its next try — within ``retry`` (15 s) plus the
server's notice of the dead connection. The leader checks its connection every
``retry`` seconds and steps down when it has lost it. On SQLite there is one process per
file and it always leads.

Jobs that belong to one process (the album wait of a chat it is handling, the photo
answers on start) are not leader jobs: ``TrackedJobQueue`` asks ``leads`` only for the
names in ``LEADER_JOBS``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from storage.db import SCHEDULER_LOCK, Database

log = logging.getLogger("gridbot.leader")

LEADER_JOBS = frozenset(
    {"tip-deadlines", "daily-digests", "reminders", "weekly-bulletins", "prune-inbox"}
    | {"sweep-inbox"}
)
RETRY_SECONDS = 15.0


class Leadership:
    def __init__(self, db: Database, retry: float = RETRY_SECONDS) -> None:
        self.db = db
        self.retry = retry
        self.leading = db.dialect != "postgresql"
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self.db.dialect == "postgresql" and self._task is None:
            self._task = asyncio.create_task(self._run(), name="gridbot-leader")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self.db.dialect == "postgresql":
            self.leading = False

    def leads(self, job_name: str | None) -> bool:
        return self.leading or job_name not in LEADER_JOBS

    async def _run(self) -> None:
        while True:
            try:
                async with self.db.session_lock(SCHEDULER_LOCK, wait=False) as lock:
                    if lock:
                        self.leading = True
                        log.info("leader.taken")
                        while True:  # keep it; an error on its connection ends it
                            await asyncio.sleep(self.retry)
                            await lock.check()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the server went away: try again
                log.warning("leader.lost error=%s", type(exc).__name__)
            finally:
                if self.leading:
                    log.info("leader.released")
                self.leading = False
            await asyncio.sleep(self.retry)
