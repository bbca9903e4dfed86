"""The PostgreSQL backend: its migrations in step with SQLite's, the transaction
semantics made explicit (the writer lock across processes, advisory locks), ``database.url``,
and ``gridbot db copy`` from a SQLite deployment (same tips table, export and check).

A throwaway PostgreSQL server is started for these tests (``tests/pgcluster.py``) unless
``GRIDBOT_TEST_DATABASE`` names one already."""

from __future__ import annotations

import asyncio
import csv
import re
import shutil
import sqlite3
import tempfile
from pathlib import Path

import pytest

from bot.config import load_config
from bot.core.access import Role
from bot.core.clock import SystemClock
from bot.services import Services
from storage.db import SCHEDULER_LOCK, Database
from storage.migrations import MIGRATIONS
from storage.migrations_pg import POSTGRES_MIGRATIONS
from tests import pgcluster
from tests.cli_helpers import gridbot
from tests.conftest import EXAMPLE_ORG, ON_POSTGRES, TEST_DATABASE, fresh_schema_url
from tests.test_ranking import submit
from tests.test_tips_cli import HEADER, _rows

pytestmark = pytest.mark.skipif(
    not ON_POSTGRES and not pgcluster.available(), reason="no PostgreSQL binaries"
)


@pytest.fixture(scope="session")
def pg_base(tmp_path_factory):
    if ON_POSTGRES:
        yield TEST_DATABASE
        return
    # not under pytest's tmp folder: as root the server runs as `postgres`, which
    # cannot enter root's private folders
    folder = Path(tempfile.mkdtemp(prefix="gridbot-pg-"))
    try:
        yield pgcluster.start(folder)
    finally:
        pgcluster.stop(folder)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def pg_url(pg_base, tmp_path) -> str:
    return fresh_schema_url(pg_base, tmp_path / "schema")


def _sqlite_schema(path: Path) -> dict[str, object]:
    conn = sqlite3.connect(path)
    try:
        schema: dict[str, object] = {}
        names = [
            r[0]
            for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            )
        ]
        for table in names:
            columns = {}
            for _, name, kind, notnull, default, pk in conn.execute(f"PRAGMA table_info({table})"):
                family = {"INTEGER": "integer", "REAL": "float", "TEXT": "text"}[kind]
                columns[name] = (family, bool(notnull or pk), default)
            keys = tuple(
                r[1]
                for r in sorted(conn.execute(f"PRAGMA table_info({table})"), key=lambda r: r[5])
                if r[5]
            )
            indexes = set()
            for _, index, unique, origin, partial in conn.execute(f"PRAGMA index_list({table})"):
                if origin == "pk":
                    continue
                cols = tuple(r[2] for r in conn.execute(f"PRAGMA index_info({index})"))
                indexes.add((cols, bool(unique), bool(partial)))
            schema[table] = {"columns": columns, "key": keys, "indexes": indexes}
        return schema
    finally:
        conn.close()


def _pg_schema(url: str) -> dict[str, object]:
    import psycopg

    with psycopg.connect(url) as conn:
        schema: dict[str, object] = {}
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables "
                "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
            )
        ]
        for table in tables:
            columns = {}
            for name, kind, nullable, default in conn.execute(
                "SELECT column_name, data_type, is_nullable, column_default "
                "FROM information_schema.columns WHERE table_schema = current_schema() "
                "AND table_name = %s",
                (table,),
            ):
                family = {"bigint": "integer", "double precision": "float", "text": "text"}[kind]
                if default is not None:
                    default = re.sub(r"::\w+( \w+)?$", "", default)
                    # a negative number is shown quoted ('-1'::bigint)
                    default = re.sub(r"^'(-?\d+)'$", r"\1", default)
                columns[name] = (family, nullable == "NO", default)
            keys = tuple(
                r[0]
                for r in conn.execute(
                    "SELECT a.attname FROM pg_index i JOIN pg_attribute a "
                    "ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) "
                    "WHERE i.indrelid = %s::regclass AND i.indisprimary "
                    "ORDER BY array_position(i.indkey::int2[], a.attnum)",
                    (table,),
                )
            )
            indexes = set()
            for cols, unique, partial in conn.execute(
                "SELECT array(SELECT a.attname FROM unnest(i.indkey) WITH ORDINALITY k(n, o) "
                "JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n "
                "ORDER BY k.o), i.indisunique, i.indpred IS NOT NULL "
                "FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT i.indisprimary",
                (table,),
            ):
                indexes.add((tuple(cols), unique, partial))
            schema[table] = {"columns": columns, "key": keys, "indexes": indexes}
        return schema


async def test_migrations_are_in_step_with_sqlites(tmp_path, pg_url):
    assert [(m.version, m.name) for m in POSTGRES_MIGRATIONS] == [
        (m.version, m.name) for m in MIGRATIONS
    ]
    async with await Database.open(tmp_path / "s.sqlite3") as lite:
        await lite.migrate()
    async with await Database.open(pg_url) as pg:
        report = await pg.migrate()
        assert report.after == MIGRATIONS[-1].version
        assert (await pg.migrate()).applied == ()
    lite_schema, pg_schema = _sqlite_schema(tmp_path / "s.sqlite3"), _pg_schema(pg_url)
    assert sorted(pg_schema) == sorted(lite_schema)
    for table in lite_schema:
        assert pg_schema[table] == lite_schema[table], table


async def test_write_transactions_of_two_processes_run_one_at_a_time(pg_url):
    """What SQLite's single writer gives: a second database handle (another process)
    waits for the writer lock until the first transaction ends, and sees its commit."""
    first, second = await Database.open(pg_url), await Database.open(pg_url)
    try:
        await first.migrate()
        order: list[str] = []
        async with first.transaction() as conn:
            await conn.execute(
                "INSERT INTO user_setting (telegram_id, language, updated_at) VALUES (?, ?, ?)",
                (1, "zh", "2026-11-23T00:00:00Z"),
            )

            async def other() -> None:
                async with second.transaction() as conn2:
                    order.append("second")
                    rows = await conn2.fetch_all("SELECT count(*) FROM user_setting")
                    order.append(f"saw {rows[0][0]}")

            task = asyncio.create_task(other())
            await asyncio.sleep(0.3)
            assert order == []  # waiting for the writer lock
            order.append("first commits")
        await asyncio.wait_for(task, 10)
        assert order == ["first commits", "second", "saw 1"]
        # an advisory session lock is held by one at a time, and freed with its holder
        async with first.session_lock(SCHEDULER_LOCK, wait=False) as taken:
            assert taken
            async with second.session_lock(SCHEDULER_LOCK, wait=False) as also:
                assert not also
        async with second.session_lock(SCHEDULER_LOCK, wait=False) as taken:
            assert taken
    finally:
        await first.close()
        await second.close()


def test_database_url_setting(tmp_path):
    (tmp_path / "a.toml").write_text('[database]\nurl = "sqlite:///data/x.sqlite3"\n')
    config = load_config(tmp_path / "a.toml")
    assert config.database.target == tmp_path.resolve() / "data" / "x.sqlite3"
    (tmp_path / "b.toml").write_text('[database]\npath = "old.sqlite3"\n')
    config = load_config(tmp_path / "b.toml")
    assert config.database.target == tmp_path.resolve() / "old.sqlite3"
    assert config.database.url == f"sqlite:///{tmp_path.resolve() / 'old.sqlite3'}"
    (tmp_path / "c.toml").write_text('[database]\nurl = "postgresql://u:secret@db:5432/grid"\n')
    config = load_config(tmp_path / "c.toml")
    assert config.database.is_postgres and config.database.target.startswith("postgresql://")
    assert "secret" not in config.database.display
    (tmp_path / "d.toml").write_text('[database]\nurl = "mysql://x"\n')
    done = gridbot("db", "migrate", "--config", str(tmp_path / "d.toml"), cwd=tmp_path)
    assert done.returncode != 0 and "database.url" in done.stderr


def _config(folder: Path, database: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "config.toml"
    evidence = (folder.parent / "evidence").as_posix()
    path.write_text(f'[database]\n{database}\n[evidence]\npath = "{evidence}"\n', encoding="utf-8")
    return path


async def test_db_copy_gives_a_deployment_that_prints_the_same(tmp_path, pg_url):
    lite = _config(tmp_path / "lite", 'path = "gridbot.sqlite3"')
    for args in (("db", "migrate"), ("org", "import", str(EXAMPLE_ORG))):
        assert gridbot(*args, "--config", str(lite), cwd=tmp_path).returncode == 0
    rows = _rows(count=25)
    with (tmp_path / "tips.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, HEADER.split(","), extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    done = gridbot("tips", "import", "tips.csv", "--config", str(lite), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    services = await Services.open(load_config(lite), clock=SystemClock())
    try:
        member = await services.members.add_by_operator(
            3001, "WL-WH-CZ-01", Role.WORKER, "网格员甲"
        )
        for seed in range(4):
            await submit(services, member, f"井-{seed}", seed=seed)
    finally:
        await services.close()

    copied = gridbot("db", "copy", "--to", pg_url, "--config", str(lite), cwd=tmp_path)
    assert copied.returncode == 0, copied.stderr
    assert "verified" in copied.stdout and "MISMATCH" not in copied.stdout
    assert re.search(r"report\s+4 rows", copied.stdout)
    # not into a database that has rows
    again = gridbot("db", "copy", "--to", pg_url, "--config", str(lite), cwd=tmp_path)
    assert again.returncode != 0 and "not empty" in again.stderr

    pg = _config(tmp_path / "pg", f'url = "{pg_url}"')
    for args in (
        ("tips", "table", "--from", "2026-11-01", "--to", "2026-11-30"),
        ("export", "reports", "--format", "csv", "--out", "OUT"),
        ("check",),
    ):
        outputs = []
        for config in (lite, pg):
            out = config.parent / "export.csv"
            done = gridbot(
                *[str(out) if a == "OUT" else a for a in args],
                "--config",
                str(config),
                cwd=tmp_path,
            )
            assert done.returncode == 0, (args, done.stderr)
            text = done.stdout.replace(str(out), "OUT")
            if args[0] == "check":  # the first line names the database
                text = text.split("\n", 1)[1]
            outputs.append((text, out.read_bytes() if args[0] == "export" else b""))
        assert outputs[0] == outputs[1], args
    # a backup of the PostgreSQL deployment: pg_dump's file and the evidence it needs
    backed = gridbot("backup", str(tmp_path / "backups"), "--config", str(pg), cwd=tmp_path)
    assert backed.returncode == 0, backed.stderr
    dumps = list((tmp_path / "backups").glob("gridbot-*.pgdump"))
    assert len(dumps) == 1 and dumps[0].read_bytes()[:5] == b"PGDMP"
    assert "evidence: 4 files, 4 copied" in backed.stdout
    # the PostgreSQL deployment goes on: new ids follow the copied ones
    services = await Services.open(load_config(pg), clock=SystemClock())
    try:
        member = await services.members.add_by_operator(
            3002, "WL-WH-CZ-01", Role.WORKER, "网格员乙"
        )
        assert member.id == 2
        await submit(services, member, "井-new", seed=99)
        async with services.db.read() as conn:
            rows = await conn.fetch_all("SELECT max(id), count(*) FROM report")
        assert tuple(rows[0]) == (5, 5)
    finally:
        await services.close()


async def test_one_leader_runs_the_schedule_and_another_takes_over(pg_url, tmp_path):
    from bot.runtime.leader import Leadership

    first, second = await Database.open(pg_url), await Database.open(pg_url)
    a, b = Leadership(first, retry=0.1), Leadership(second, retry=0.1)
    try:
        a.start()
        for _ in range(100):
            if a.leading:
                break
            await asyncio.sleep(0.05)
        b.start()
        await asyncio.sleep(0.5)
        assert a.leading and not b.leading
        assert not b.leads("daily-digests") and b.leads("report-photos:3001")
        await first.close()  # the leader's process dies: its connections drop
        await a.stop()
        for _ in range(100):
            if b.leading:
                break
            await asyncio.sleep(0.05)
        assert b.leading and b.leads("daily-digests")
    finally:
        await b.stop()
        await second.close()
    async with await Database.open(tmp_path / "one.sqlite3") as lite:
        assert Leadership(lite).leads("daily-digests")  # one process per SQLite file


async def test_outgoing_limits_hold_across_processes(pg_url, tmp_path):
    """Two processes (two database handles) share the deployment's send budget: what one
    has used, the other waits for — overall (per second) and per group (20 a minute)."""
    from bot.domain.send_rate import SharedRate
    from storage import send_rate

    first, second = await Database.open(pg_url), await Database.open(pg_url)
    try:
        await first.migrate()
        waited: list[float] = []

        async def sleep(seconds: float) -> None:
            waited.append(seconds)
            await asyncio.sleep(seconds)

        a = SharedRate(first, per_second=3, sleep=sleep)
        b = SharedRate(second, per_second=3, sleep=sleep)
        assert a.active and b.active
        for _ in range(3):  # the first process uses this second's budget
            await a.turn(3001)
        assert waited == []
        await b.turn(3002)  # the second one waits for the next token
        assert len(waited) >= 1 and 0 < waited[0] <= 1 / 3 + 0.01
        # a group's 20 a minute, taken by both in turn: the 21st waits about 3 s
        async with first.read() as one, second.read() as two:
            for n in range(20):
                taken = await send_rate.take((one, two)[n % 2], "g:-100123", 20, 20 / 60)
                assert taken == (1, 0.0)
            taken, wait = await send_rate.take(one, "g:-100123", 20, 20 / 60)
            assert taken == 0 and 2.5 < wait <= 3.0
            assert await send_rate.take(two, "g:-100456", 20, 20 / 60) == (1, 0.0)
            # several at once (a lease): as many as there are whole ones, at most
            assert await send_rate.take(one, "all-x", 3, 3, wanted=5) == (3, 0.0)
            assert (await send_rate.take(two, "all-x", 3, 3, wanted=5))[0] == 0
    finally:
        await first.close()
        await second.close()
    async with await Database.open(tmp_path / "one.sqlite3") as lite:
        assert not SharedRate(lite, per_second=30).active  # one process: its own limits


async def test_updates_a_dead_process_left_are_taken_over(pg_url):
    """With several processes, a start replays every unfinished update but counts a start
    only for those left a while ago (the others may be in a live process's hands), and
    the leader's sweep hands over what a dead process left behind."""
    from datetime import UTC, datetime, timedelta

    from bot.core.clock import FakeClock
    from bot.domain.inbox import MAX_ATTEMPTS, STALE_AFTER, Inbox

    clock = FakeClock(datetime(2026, 12, 3, 1, 0, tzinfo=UTC))
    async with await Database.open(pg_url) as db:
        await db.migrate()
        inbox = Inbox(db, clock)
        assert inbox.shared
        message = {"message_id": 1, "chat": {"id": 7, "type": "private"}, "text": "hi"}
        assert await inbox.receive([{"update_id": 10, "message": message}]) == [10]
        assert await inbox.stale(set()) == []  # just received: someone is on it
        for _ in range(MAX_ATTEMPTS + 1):  # restarts of other processes meanwhile
            assert [r.update_id for r in await inbox.unfinished()] == [10]
        async with db.read() as conn:
            attempts = (await conn.fetch_all("SELECT attempts FROM inbox"))[0][0]
        assert attempts == 0  # never counted: it may be in another process's hands
        clock.advance(STALE_AFTER + timedelta(seconds=1))
        assert [r.update_id for r in await inbox.stale(set())] == [10]
        assert await inbox.stale({10}) == []  # taken over once
        assert [r.update_id for r in await inbox.unfinished()] == [10]
        async with db.read() as conn:
            assert (await conn.fetch_all("SELECT attempts FROM inbox"))[0][0] == 1
