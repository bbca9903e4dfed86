"""Shared fixtures: a config in tmp_path, services on a real SQLite file, the example org."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bot.botapi import BotApiServer
from bot.config import Config, load_config
from bot.core.access import Role
from bot.core.clock import FakeClock
from bot.formats.orgfile import UnitRow, read_org_file
from bot.services import Services
from storage.members import Member

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE_ORG = ROOT / "examples" / "org.toml"
# A made-up token with the real shape (bot id, colon, 35+ characters), so the redaction
# that looks for that shape is exercised. Joined at run time so that no token-shaped
# literal sits in the repository for secret scanners to flag.
TEST_TOKEN = ":".join(("123456789", "AAtest-TOKEN-never-logged_XYZ0123456789"))


def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto`` (addopts): two workers per core. An end-to-end test spends about a third
    of its time waiting on its own event loop (polling, the album wait, the test server),
    so two workers a core keep the cores busy: 94 s against 137 s for one a core on two
    cores (README, Tests)."""
    return 2 * (os.cpu_count() or 1)


@functools.cache
def _example_rows() -> tuple[UnitRow, ...]:
    return tuple(read_org_file(EXAMPLE_ORG))


def example_rows() -> list[UnitRow]:
    """The example city's rows (frozen), read from examples/org.toml once per run."""
    return list(_example_rows())


# The backend the suite runs on: unset (or "sqlite") for SQLite files in tmp_path, or a
# PostgreSQL URL (.ci/run starts a throwaway server and sets it): every config the tests
# write then names a schema of its own in that database (README, Tests).
TEST_DATABASE = os.environ.get("GRIDBOT_TEST_DATABASE", "sqlite")
ON_POSTGRES = TEST_DATABASE.startswith(("postgresql://", "postgres://"))
# A test of the SQLite file itself (its bytes, its online backup, a dump of it).
sqlite_only = pytest.mark.skipif(ON_POSTGRES, reason="about the SQLite file itself")


def fresh_schema_url(base: str, folder: Path) -> str:
    """A new, empty schema in the PostgreSQL database ``base``; its URL."""
    import hashlib

    import psycopg

    name = "t_" + hashlib.sha256(str(folder.resolve()).encode()).hexdigest()[:20]
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")
        conn.execute(f"CREATE SCHEMA {name}")
    joiner = "&" if "?" in base else "?"
    return f"{base}{joiner}options=-csearch_path%3D{name}"


def write_config(folder: Path, extra: str = "") -> Path:
    """A minimal config in ``folder``; ``extra`` is appended TOML. On PostgreSQL
    (``GRIDBOT_TEST_DATABASE``) the database is a fresh schema of its own."""
    path = folder / "config.toml"
    database = '[database]\npath = "gridbot.sqlite3"\n'
    if ON_POSTGRES and not (folder / ".pg-url").exists():
        (folder / ".pg-url").write_text(fresh_schema_url(TEST_DATABASE, folder))
    if ON_POSTGRES:
        database += f'url = "{(folder / ".pg-url").read_text()}"\n'
    path.write_text(database + '[evidence]\npath = "evidence"\n' + extra, encoding="utf-8")
    return path


def sql_rows(config: Config, sql: str, parameters: Any = ()) -> list[Any]:
    """Run one statement on the test's database (either backend), committed; its rows."""
    target = config.database.target
    if isinstance(target, str):
        from storage.postgres import connect_sync

        with connect_sync(target) as conn:
            cursor = conn.execute(sql, parameters)
            return list(cursor.fetchall()) if cursor.description else []
    with sqlite3.connect(target) as conn:
        return list(conn.execute(sql, parameters).fetchall())


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    return write_config(tmp_path)


@pytest.fixture
def config(config_path: Path) -> Config:
    return load_config(config_path)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def services(config: Config, clock: FakeClock) -> AsyncIterator[Services]:
    opened = await Services.open(config, clock=clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def city(services: Services) -> Services:
    """Services with the example city imported."""
    await services.org.import_rows(example_rows(), str(EXAMPLE_ORG))
    return services


async def add_member(
    services: Services, telegram_id: int, unit: str, role: Role, name: str
) -> Member:
    return await services.members.add_by_operator(telegram_id, unit, role, name)


@dataclass
class Harness:
    """The real gridbot Application polling the test server in this process."""

    server: BotApiServer
    app: Any
    services: Services
    clock: FakeClock

    async def add(self, telegram_id: int, unit: str, role: Role, name: str) -> Member:
        return await add_member(self.services, telegram_id, unit, role, name)

    async def settled(self, timeout: float = 5.0) -> None:
        """Wait until every update the bot received is handled (marked done)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            async with (
                self.services.db.read() as conn,
                conn.execute("SELECT count(*) FROM inbox WHERE done_at IS NULL") as cur,
            ):
                if (await cur.fetchone())[0] == 0 and not self.server.pending_updates:
                    return
            assert loop.time() < deadline, "updates still unfinished"
            await asyncio.sleep(0.01)

    async def restart(self, unfinished: tuple[int, ...] = ()) -> None:
        """Stop the bot and start it again on the same database, as after a crash that
        came just before the updates ``unfinished`` were marked done."""
        await stop_app(self.app)
        for update_id in unfinished:
            sql_rows(
                self.services.config,
                "UPDATE inbox SET done_at = NULL WHERE update_id = ?",
                (update_id,),
            )
        self.app = await start_app(self.services.config, self.server, self.clock)
        self.services = self.app.bot_data.services


@pytest.fixture
def tg_config() -> str:
    """Extra TOML for the ``tg`` harness's config; override in a test module to change it.
    Photos of an album are answered 0.2 s after the last one (1.5 s by default); 0.6 s on
    PostgreSQL, where every statement is a round trip to the server and a loaded test
    machine can handle two photos of one album more than 0.2 s apart."""
    wait = 0.6 if ON_POSTGRES else 0.2
    return f"[reports]\nalbum_wait_seconds = {wait}\n"


async def start_app(
    config: Config, server: BotApiServer, clock: FakeClock, keep_jobs: bool = False
):
    """The real Application polling ``server`` in this process, started as run_polling
    would. Without ``keep_jobs`` the periodic jobs are removed: tests run them on the
    FakeClock themselves, never behind the test's back."""
    from telegram.request import HTTPXRequest

    from bot.app import build_application
    from bot.runtime.lifecycle import poller

    transport = server.transport()
    app = build_application(
        config,
        clock=clock,
        request=HTTPXRequest(httpx_kwargs={"transport": transport}),
        get_updates_request=HTTPXRequest(httpx_kwargs={"transport": transport}, read_timeout=5),
    )
    await app.initialize()
    await app.post_init(app)
    if not keep_jobs:
        for job in app.job_queue.jobs():
            job.schedule_removal()
    await app.start()
    app.bot_data.poller = poller(
        app,
        config.model_copy(
            update={"telegram": config.telegram.model_copy(update={"poll_timeout": 1})}
        ),
    )
    await app.bot_data.poller.start()
    return app


async def stop_app(app: Any) -> None:
    from bot.runtime.lifecycle import finish

    await app.bot_data.poller.stop()
    await finish(app)


@pytest.fixture
async def tg(tmp_path: Path, clock: FakeClock, tg_config: str) -> AsyncIterator[Harness]:
    server = BotApiServer(TEST_TOKEN)
    config = load_config(write_config(tmp_path, f'[telegram]\ntoken = "{TEST_TOKEN}"\n{tg_config}'))
    app = await start_app(config, server, clock)
    services: Services = app.bot_data.services
    await services.org.import_rows(example_rows(), str(EXAMPLE_ORG))
    harness = Harness(server, app, services, clock)
    try:
        yield harness
    finally:
        await stop_app(harness.app)  # the latest, if the test restarted the bot
    assert not server.unknown_calls, [c.method for c in server.unknown_calls]
