"""Done-marks of updates that finish together share one commit, and each caller returns
only once its own mark is committed."""

from __future__ import annotations

import asyncio
from contextlib import asynccontextmanager

import pytest

from bot.core.clock import FakeClock
from bot.domain.inbox import Inbox
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
        holding, release = asyncio.Event(), asyncio.Event()

        async def other_writer() -> None:
            async with db.transaction():  # holds the write lock meanwhile
                holding.set()
                await release.wait()

        writer = asyncio.create_task(other_writer())
        await holding.wait()
        waiting = [asyncio.create_task(inbox.finish(i)) for i in range(1, 51)]
        await asyncio.sleep(0.05)
        assert not any(task.done() for task in waiting)  # nothing returns uncommitted
        release.set()
        await asyncio.gather(writer, *waiting)
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


async def test_a_mark_inside_a_transaction_joins_it_instead_of_waiting_for_the_lock(tmp_path):
    db, inbox, outcomes = await _open(tmp_path, "inside.sqlite3")
    async with db:
        async with asyncio.timeout(5), db.transaction():
            await inbox.finish(7)
        assert outcomes == ["committed", "committed"]  # the savepoint's, then the outer one's
        assert await _done(db) == [7]


async def test_a_group_whose_commit_is_cancelled_before_it_starts_does_not_block_the_next(
    tmp_path,
):
    db, inbox, _ = await _open(tmp_path, "cancelled.sqlite3")
    async with db:
        waiting = asyncio.create_task(inbox.finish(1))
        await asyncio.sleep(0)  # finish has started its group's commit task, not yet run
        for task in list(inbox._committing):
            task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(waiting, 5)
        await asyncio.wait_for(inbox.finish(2), 5)
        assert await _done(db) == [2]


async def test_a_batch_is_stored_in_one_statement_and_refused_updates_are_stored_done(tmp_path):
    """Intake's cost per update: one statement for the batch (it was one per update), and
    an update its chat has no room for (``admit`` says no) is committed done with it, in
    the same commit — never handled, nor replayed."""
    db = await Database.open(tmp_path / "batch.sqlite3")
    await db.migrate()
    inbox = Inbox(db, FakeClock())
    async with db:
        statements: list[str] = []
        await db._writer.set_trace_callback(statements.append)
        asked: list[tuple[int, int | None]] = []

        def admit(update_id: int, chat_id: int | None) -> bool:
            asked.append((update_id, chat_id))
            return update_id % 2 == 0

        updates = [
            {"update_id": i, "message": {"message_id": i, "chat": {"id": 7}, "text": "x"}}
            for i in range(1, 51)
        ]
        handle = await inbox.receive(updates, admit)
        await db._writer.set_trace_callback(None)
        inserts = [s for s in statements if s.startswith("INSERT INTO inbox")]
        assert len(inserts) == 1
        assert [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT")] == [
            "BEGIN IMMEDIATE",
            "COMMIT",
        ]
        assert handle == list(range(2, 51, 2))
        assert asked == [(i, 7) for i in range(1, 51)]
        assert await _done(db) == list(range(1, 51, 2))
        assert [r.update_id for r in await inbox.unfinished()] == list(range(2, 51, 2))
        # Fetched again (the offset had not moved): nothing is new, nobody is asked.
        asked.clear()
        assert await inbox.receive(updates, admit) == [] and asked == []
