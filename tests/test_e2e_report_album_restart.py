"""The bot stops inside the album wait: the photos are on the draft and their updates
are done, but "已收到照片 … 共 N 张" was still to come from a timer in memory. Started
again, the worker gets that answer once."""

from __future__ import annotations

import pytest

from bot.core.access import Role
from tests.conftest import sql_rows, start_app, stop_app
from tests.e2e_reports import start_at_photos
from tests.photos import photo

WORKER = 3001
GRID = "WL-WH-CZ-01"
WAIT = 2.0


@pytest.fixture
def tg_config() -> str:
    return f"[reports]\nalbum_wait_seconds = {WAIT}\n"


def _received(tg) -> list[str]:
    return [c.text for c in tg.server.calls_to("sendMessage", WORKER) if "已收到照片" in c.text]


async def _restart_inside_the_wait(tg, unfinished: tuple[int, ...] = ()) -> None:
    await tg.settled()
    assert _received(tg) == []  # still waiting for the rest of the album
    await stop_app(tg.app)
    for u in unfinished:
        sql_rows(tg.services.config, "UPDATE inbox SET done_at = NULL WHERE update_id = ?", (u,))
    tg.app = await start_app(tg.services.config, tg.server, tg.clock, keep_jobs=True)
    tg.services = tg.app.bot_data.services


async def _answered_once(tg, count: int) -> None:
    user = tg.server.user(WORKER)
    received = await user.next_reply("sendMessage", timeout=WAIT + 10)
    assert "已收到照片" in received.text and f"共 {count} 张" in received.text, received.text
    asked = await user.next_reply("sendMessage", timeout=5)
    assert f"已有 {count} 张照片" in asked.text
    await tg.settled()
    # No other album wait is pending, so no second answer can come.
    assert not [job.name for job in tg.app.job_queue.jobs() if job.name.startswith("report-photos")]
    assert len(_received(tg)) == 1


async def test_photos_received_before_a_restart_are_answered_once_after_it(tg):
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    user = tg.server.user(WORKER, "网格员甲")
    await start_at_photos(user, "WL-900", "已封停")
    await user.send_photo(photo(41), media_group_id="album-1")
    await user.send_photo(photo(42), media_group_id="album-1")
    await _restart_inside_the_wait(tg)
    await _answered_once(tg, 2)


async def test_a_photo_handled_again_after_the_restart_joins_the_same_answer(tg):
    await tg.add(WORKER, GRID, Role.WORKER, "网格员甲")
    user = tg.server.user(WORKER, "网格员甲")
    await start_at_photos(user, "WL-901", "已封停")
    await user.send_photo(photo(43), media_group_id="album-2")
    last = await user.send_photo(photo(44), media_group_id="album-2")
    await _restart_inside_the_wait(tg, unfinished=(last["update_id"],))
    await _answered_once(tg, 2)
