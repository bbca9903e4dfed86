"""Done-marks of updates that finish together share one commit, and each caller returns
only once its own mark is committed."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

from bot.clock import FakeClock
from bot.inbox import Inbox
from storage.db import Database, fetch_all


async def _open(tmp_path, name: str) -> tuple[Database, Inbox, list[str]]:
    db = await Database.open(tmp_path / name)
    await db.migrate()
    inbox = Inbox(db, FakeClock())
    await inbox.receive([{"update_id": i} for i in range(1, 51)])
    outcomes: list[str] = []
    real = db.transaction

    @asynccontextmanager
    async def counted():
        try:
            async with real() as conn:
                yield conn
        except BaseException:
            outcomes.append("rolled back")
            raise
        outcomes.append("committed")

    db.transaction = counted  # type: ignore[method-assign]
    return db, inbox, outcomes


async def _done(db: Database) -> list[int]:
    async with db.read() as conn:
        rows = await fetch_all(conn, "SELECT update_id FROM inbox WHERE done_at IS NOT NULL")
    return sorted(row[0] for row in rows)


async def test_marks_waiting_for_the_write_lock_are_committed_together(tmp_path):
    db, inbox, outcomes = await _open(tmp_path, "together.sqlite3")
    async with db:
        async with db.transaction():  # another writer holds the lock meanwhile
            waiting = [asyncio.create_task(inbox.finish(i)) for i in range(1, 51)]
            await asyncio.sleep(0.05)
            assert not any(task.done() for task in waiting)  # nothing returns uncommitted
        await asyncio.gather(*waiting)
        assert outcomes == ["committed", "committed"]  # the other writer's, then one for 50
        assert await _done(db) == list(range(1, 51))

        await inbox.finish(1)  # again: nothing changes, a commit of its own
        assert outcomes[-1] == "committed" and len(outcomes) == 3


async def test_a_failed_commit_fails_every_mark_in_it_and_the_next_ones_still_commit(
    tmp_path, monkeypatch
):
    db, inbox, outcomes = await _open(tmp_path, "failed.sqlite3")
    async with db:
        from storage import inbox as inbox_repo

        real_done_many = inbox_repo.done_many

        async def broken(*args, **kwargs):
            raise OSError("disk full")

        monkeypatch.setattr(inbox_repo, "done_many", broken)
        results = await asyncio.gather(
            *(inbox.finish(i) for i in range(1, 4)), return_exceptions=True
        )
        assert [type(r) for r in results] == [OSError] * 3
        assert await _done(db) == []

        monkeypatch.setattr(inbox_repo, "done_many", real_done_many)
        await asyncio.gather(*(inbox.finish(i) for i in range(1, 4)))
        assert await _done(db) == [1, 2, 3]
        assert outcomes == ["rolled back", "committed"]
