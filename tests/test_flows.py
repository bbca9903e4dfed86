"""Routing plain messages to the conversation a person is in."""

from __future__ import annotations

from datetime import UTC, datetime

from bot.domain.members import Caller
from handlers import flows
from storage import chats


async def test_active_flow_row_routes_and_only_its_owner_ends_it(services):
    async with services.db.transaction() as conn:
        await chats.set_active_flow(conn, 7, "report", datetime(2026, 1, 1, tzinfo=UTC))
        await chats.set_active_flow(conn, 7, "tip", datetime(2026, 1, 1, 0, 1, tzinfo=UTC))
        await chats.end_active_flow(conn, 7, "report")  # not the active one: no effect
    assert (await services.members.caller(7, None)).flow == "tip"
    async with services.db.transaction() as conn:
        await chats.end_active_flow(conn, 7, "tip")
    assert (await services.members.caller(7, None)).flow is None


async def test_dispatch_prefers_the_active_flow_then_asks_starters(monkeypatch):
    seen: list[str] = []

    async def active(update, context, caller):
        seen.append("active")
        return caller.telegram_id == 1

    async def start(update, context, caller):
        seen.append("starter")
        return True

    monkeypatch.setattr(flows, "_FLOWS", {})
    monkeypatch.setattr(flows, "_STARTERS", [])
    flows.flow("demo")(active)
    flows.starter(start)
    assert await flows.dispatch(None, None, Caller(1, None, "zh", "demo"))  # type: ignore[arg-type]
    assert seen == ["active"]
    seen.clear()
    assert await flows.dispatch(None, None, Caller(2, None, "zh", "demo"))  # type: ignore[arg-type]
    assert seen == ["active", "starter"]
    seen.clear()
    assert await flows.dispatch(None, None, Caller(3, None, "zh", None))  # type: ignore[arg-type]
    assert seen == ["starter"]
