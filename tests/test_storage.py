"""Storage on a real SQLite file: pragmas, migrations, transactions, subtree ranges."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from storage.db import Database
from storage.migrations import MIGRATIONS
from storage.units import subtree_bounds


async def test_pragmas_and_migrations(tmp_path):
    async with await Database.open(tmp_path / "a.sqlite3", busy_timeout_ms=1234) as db:
        report = await db.migrate()
        assert report.before == 0 and report.after == MIGRATIONS[-1].version
        assert report.applied == tuple(f"{m.version:04d}_{m.name}" for m in MIGRATIONS)
        async with db.transaction() as conn:
            for pragma, expected in [
                ("journal_mode", "wal"),
                ("foreign_keys", 1),
                ("synchronous", 2),
                ("busy_timeout", 1234),
            ]:
                async with conn.execute(f"PRAGMA {pragma}") as cur:
                    assert (await cur.fetchone())[0] == expected, pragma
            async with conn.execute("SELECT version, name FROM schema_migration") as cur:
                assert [tuple(r) for r in await cur.fetchall()] == [
                    (m.version, m.name) for m in MIGRATIONS
                ]
        again = await db.migrate()
        assert again.applied == () and again.before == again.after


async def test_a_failing_migration_leaves_nothing_behind(tmp_path, monkeypatch):
    from storage import db as db_module
    from storage.migrations import Migration

    broken = (*MIGRATIONS, Migration(99, "broken", ("CREATE TABLE half (x)", "NOT SQL")))
    monkeypatch.setattr(db_module, "MIGRATIONS", broken)
    async with await Database.open(tmp_path / "b.sqlite3") as db:
        with pytest.raises(sqlite3.OperationalError):
            await db.migrate()
        assert await db.schema_version() == MIGRATIONS[-1].version
        async with (
            db.read() as conn,
            conn.execute("SELECT count(*) FROM sqlite_master WHERE name = 'half'") as cur,
        ):
            assert (await cur.fetchone())[0] == 0


async def test_refuses_a_database_from_the_future(tmp_path):
    async with await Database.open(tmp_path / "c.sqlite3") as db:
        await db.migrate()
        async with db.transaction() as conn:
            await conn.execute("PRAGMA user_version=999")
        with pytest.raises(RuntimeError, match="newer than this gridbot"):
            await db.migrate()


async def _count(db: Database) -> int:
    async with db.read() as conn, conn.execute("SELECT count(*) FROM user_setting") as cur:
        return (await cur.fetchone())[0]


async def test_transactions_commit_roll_back_and_nest_as_savepoints(tmp_path):
    async with await Database.open(tmp_path / "d.sqlite3") as db:
        await db.migrate()
        insert = (
            "INSERT INTO user_setting (telegram_id, language, updated_at) VALUES (?, 'zh', 'x')"
        )
        async with db.transaction() as conn:
            await conn.execute(insert, (1,))
        assert await _count(db) == 1

        with pytest.raises(ZeroDivisionError):
            async with db.transaction() as conn:
                await conn.execute(insert, (2,))
                raise ZeroDivisionError
        assert await _count(db) == 1

        async with db.transaction() as conn:
            await conn.execute(insert, (3,))
            with pytest.raises(ValueError):
                async with db.transaction() as inner:
                    await inner.execute(insert, (4,))
                    raise ValueError
            async with db.transaction() as inner:
                await inner.execute(insert, (5,))
        async with (
            db.read() as conn,
            conn.execute("SELECT telegram_id FROM user_setting ORDER BY 1") as cur,
        ):
            assert [r[0] for r in await cur.fetchall()] == [1, 3, 5]


async def test_concurrent_transactions_do_not_interleave(tmp_path):
    async with await Database.open(tmp_path / "e.sqlite3") as db:
        await db.migrate()

        async def bump(i: int) -> None:
            async with db.transaction() as conn:
                async with conn.execute("SELECT count(*) FROM user_setting") as cur:
                    seen = (await cur.fetchone())[0]
                await asyncio.sleep(0)  # let the others try to run inside this transaction
                await conn.execute(
                    "INSERT INTO user_setting (telegram_id, language, updated_at) "
                    "VALUES (?, 'zh', ?)",
                    (i, str(seen)),
                )

        await asyncio.gather(*(bump(i) for i in range(20)))
        async with (
            db.read() as conn,
            conn.execute(
                "SELECT updated_at FROM user_setting ORDER BY CAST(updated_at AS INTEGER)"
            ) as cur,
        ):
            assert [r[0] for r in await cur.fetchall()] == [str(i) for i in range(20)]


async def test_reader_sees_only_committed_rows(tmp_path):
    async with await Database.open(tmp_path / "f.sqlite3") as db:
        await db.migrate()
        started, release = asyncio.Event(), asyncio.Event()

        async def writer() -> None:
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO user_setting (telegram_id, language, updated_at) "
                    "VALUES (1, 'en', 'x')"
                )
                started.set()
                await release.wait()

        task = asyncio.create_task(writer())
        await started.wait()
        assert await _count(db) == 0
        release.set()
        await task
        assert await _count(db) == 1


def test_subtree_bounds_do_not_leak_into_sibling_ids():
    low, high = subtree_bounds("/1/2/")
    assert low <= "/1/2/" < high
    assert low <= "/1/2/37/" < high
    assert not (low <= "/1/20/" < high)
    assert not (low <= "/1/3/" < high)


async def test_subtree_query_uses_the_path_index(tmp_path):
    async with await Database.open(tmp_path / "g.sqlite3") as db:
        await db.migrate()
        async with (
            db.read() as conn,
            conn.execute(
                "EXPLAIN QUERY PLAN SELECT id FROM org_unit WHERE path >= ? AND path < ?",
                ("/1/", "/10"),
            ) as cur,
        ):
            plan = " ".join(str(tuple(r)) for r in await cur.fetchall())
        assert "org_unit_path" in plan


async def test_a_read_sees_the_last_commit_while_another_task_has_a_read_open(tmp_path):
    """Found by bench/load.py: with one shared read connection, a statement left open by
    one task pinned the snapshot for every other task's reads, so a handler did not see
    the step its previous update had just committed."""
    async with await Database.open(tmp_path / "read.sqlite3") as db:
        async with db.transaction() as conn:
            await conn.execute("CREATE TABLE t (x INTEGER)")
            await conn.executemany("INSERT INTO t VALUES (?)", [(1,), (2,)])
        opened, release = asyncio.Event(), asyncio.Event()

        async def slow_reader() -> None:
            async with db.read() as conn, conn.execute("SELECT x FROM t") as cursor:
                await cursor.fetchone()  # the statement stays open: one more row to go
                opened.set()
                await release.wait()

        holder = asyncio.create_task(slow_reader())
        await opened.wait()
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (3)")
        async with db.read() as conn, conn.execute("SELECT count(*) FROM t") as cursor:
            assert (await cursor.fetchone())[0] == 3
        release.set()
        await holder


async def test_tip_numbers_go_on_increasing_past_999_in_a_day(tmp_path):
    """As text, MAX(number) took T-…-999 over T-…-1000, so the 1,001st tip of a day got a
    number that already existed and could not be saved."""
    from storage import tips as tip_repo

    async with await Database.open(tmp_path / "tips.sqlite3") as db:
        await db.migrate()
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO org_unit (id, code, name, level, parent_id, path, sort_order, "
                "created_at, updated_at) VALUES (1, 'NY', '南阳市', 'city', NULL, '/1/', 0, "
                "'x', 'x')"
            )
            # another day and an imported number of the same day that is not a sequence
            seeds = ["T-20261122-5000", "T-20261123-IMPORTED-7"]
            assert await tip_repo.next_number(conn, "20261123") == "T-20261123-001"
            for i in range(1, 1001):
                seeds.append(f"T-20261123-{i:03d}")
            await conn.executemany(
                "INSERT INTO tip (number, received_at, unit_id, description, source, state, "
                "created_at) VALUES (?, 'x', 1, 'd', 'hotline', 'received', 'x')",
                [(n,) for n in seeds],
            )
            number = await tip_repo.next_number(conn, "20261123")
            assert number == "T-20261123-1001"
            await tip_repo.insert(
                conn,
                number=number,
                received_at="x",
                unit_id=1,
                description="d",
                source="hotline",
                state="received",
                created_at="x",
            )
            assert await tip_repo.next_number(conn, "20261123") == "T-20261123-1002"
            assert await tip_repo.next_number(conn, "20261124") == "T-20261124-001"


async def test_a_transaction_cancelled_while_waiting_to_begin_leaves_the_writer_clean(tmp_path):
    """aiosqlite runs a BEGIN in the connection's thread even when the task awaiting it is
    cancelled; the BEGIN then began a transaction nobody ended, and every later write
    failed with "cannot start a transaction within a transaction"."""
    path = tmp_path / "cancel.sqlite3"
    async with await Database.open(path, busy_timeout_ms=60_000) as db:
        await db.migrate()
        holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        holder.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        entered = asyncio.Event()

        async def write() -> None:
            async with db.transaction() as conn:
                entered.set()
                await conn.execute(
                    "INSERT INTO user_setting (telegram_id, language, updated_at) "
                    "VALUES (1, 'zh', 'x')"
                )

        task = asyncio.create_task(write())
        await asyncio.sleep(0.3)  # real time: the BEGIN is waiting in SQLite's busy handler
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 2)
        assert not entered.is_set()
        holder.execute("COMMIT")

        # The writer gives the lock back without waiting for a next write of its own …
        def take_the_lock() -> None:
            holder.execute("PRAGMA busy_timeout=5000")
            holder.execute("BEGIN IMMEDIATE")
            holder.execute("ROLLBACK")

        await asyncio.wait_for(asyncio.to_thread(take_the_lock), 10)
        holder.close()
        # … and the next write succeeds.
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO user_setting (telegram_id, language, updated_at) VALUES (2, 'zh', 'x')"
            )
        assert await _count(db) == 1


def test_stored_times_are_utc_text_that_reads_back_as_aware_datetimes():
    from datetime import UTC, datetime, timedelta, timezone

    from storage.times import from_text, to_text

    shanghai = timezone(timedelta(hours=8))
    moment = datetime(2026, 11, 23, 7, 30, 15, 999_999, tzinfo=shanghai)
    assert to_text(moment) == "2026-11-22T23:30:15Z"  # UTC, whole seconds
    back = from_text("2026-11-22T23:30:15Z")
    assert back == moment.replace(microsecond=0) and back.tzinfo is UTC
    with pytest.raises(ValueError):
        to_text(datetime(2026, 11, 23))  # naive
    for text in ("2026-11-22 23:30:15Z", "2026-11-22T23:30:15", "2026-11-22T23:30:15+08:00"):
        with pytest.raises(ValueError):
            from_text(text)


async def test_repositories_take_and_return_aware_datetimes(city):
    from datetime import UTC, datetime

    from storage import chats, members

    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    async with city.db.transaction() as conn:
        unit = await conn.execute_fetchall("SELECT id FROM org_unit WHERE code = 'WL'")
        await members.insert(
            conn,
            telegram_id=42,
            name="甲",
            unit_id=unit[0][0],
            role="worker",
            username=None,
            invite_id=None,
            now=now,
        )
    async with city.db.read() as conn:
        member = await members.by_telegram_id(conn, 42)
    assert member is not None and member.joined_at == now and member.joined_at.tzinfo is UTC
    async with city.db.transaction() as conn:
        await chats.set_active_flow(conn, 42, "report", now)
    assert (await city.members.caller(42, None)).flow == "report"


def test_migration_numbers_only_grow():
    """A database at version N skips every migration numbered N or lower, so a migration
    merged late must take a number after every one that has shipped, never fill a gap."""
    versions = [m.version for m in MIGRATIONS]
    assert versions == sorted(set(versions)), versions
