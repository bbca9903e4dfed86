"""A tip event's note is data (a ``tip.note.*`` key and its fields): the notes the bot
wrote as text before migration 14 become data, and any other text stays as written."""

from __future__ import annotations

from datetime import UTC, datetime

from storage import db as db_module
from storage import tips as tip_repo
from storage.db import Database
from storage.migrations import MIGRATIONS
from storage.tips import EventKind, TipState

T = "2026-11-23T02:00:00Z"
AT = datetime(2026, 11, 23, 2, tzinfo=UTC)  # T, as repositories take it
_OLD_NOTES = [
    ("received", None, "received", "import"),
    ("assigned", "received", "assigned", "WL-WH-CZ 24h"),
    ("assigned", "received", "assigned", "WL-WH-CZ import"),
    ("escalated", "assigned", "assigned", "WL-WH"),
    ("submitted", "assigned", "verifying", "valid: 井已封填"),
    ("returned", "verifying", "assigned", "照片不清楚"),
    ("closed", "assigned", "closed", "invalid: 无此事"),
    ("closed", "verifying", "closed", "approved"),
    ("closed", "assigned", "closed", "import"),
    ("reward_paid", None, None, "valid: 现金"),
    ("assigned", "received", "assigned", "其他说明"),
]


async def test_old_text_notes_become_data_and_other_text_stays(tmp_path, monkeypatch):
    before = tuple(m for m in MIGRATIONS if m.version < 14)
    monkeypatch.setattr(db_module, "MIGRATIONS", before)
    async with await Database.open(tmp_path / "old.sqlite3") as db:
        await db.migrate()
        async with db.transaction() as conn:
            units = [("WL-WH", "武侯街道", "/1/"), ("WL-WH-CZ", "崔庄社区", "/1/2/")]
            for code, name, path in units:
                await conn.execute(
                    "INSERT INTO org_unit (code, name, level, path, sort_order, created_at, "
                    "updated_at) VALUES (?, ?, 'street', ?, 0, ?, ?)",
                    (code, name, path, T, T),
                )
            await conn.execute(
                "INSERT INTO tip (number, received_at, unit_id, description, source, state, "
                "created_at) VALUES ('T-20261123-001', ?, 1, '私自打井', 'hotline', 'closed', ?)",
                (T, T),
            )
            for kind, from_state, to_state, note in _OLD_NOTES:
                await conn.execute(
                    "INSERT INTO tip_event (tip_id, at, kind, from_state, to_state, note) "
                    "VALUES (1, ?, ?, ?, ?, ?)",
                    (T, kind, from_state, to_state, note),
                )
        monkeypatch.setattr(db_module, "MIGRATIONS", MIGRATIONS)
        # Later migrations (0018 outlets, …) apply after it.
        assert (await db.migrate()).applied[0] == "0014_tip event notes"
        async with db.read() as conn:
            events = await tip_repo.events(conn, 1)
    assert [(e.note_key, e.note_fields, e.note) for e in events] == [
        ("imported", {}, None),
        ("assigned", {"unit": "崔庄社区", "hours": 24}, None),
        ("assigned_imported", {"unit": "崔庄社区"}, None),
        ("escalated", {"unit": "武侯街道"}, None),
        ("valid", {}, "井已封填"),
        (None, {}, "照片不清楚"),  # a reason someone typed
        ("invalid", {}, "无此事"),
        ("approved", {}, None),
        ("imported", {}, None),
        (None, {}, "valid: 现金"),  # a reward note someone typed
        (None, {}, "其他说明"),
    ]


async def test_a_note_is_stored_as_a_key_and_fields(tmp_path):
    async with await Database.open(tmp_path / "new.sqlite3") as db:
        await db.migrate()
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO org_unit (code, name, level, path, sort_order, created_at, "
                "updated_at) VALUES ('WL', '卧龙区', 'district', '/1/', 0, ?, ?)",
                (T, T),
            )
            await conn.execute(
                "INSERT INTO tip (number, received_at, unit_id, description, source, state, "
                "created_at) VALUES ('T-20261123-001', ?, 1, '私自打井', 'hotline', 'assigned', ?)",
                (T, T),
            )
            await tip_repo.add_event(
                conn,
                tip_id=1,
                at=AT,
                actor_id=None,
                kind=EventKind.ASSIGNED,
                from_state=TipState.RECEIVED,
                to_state=TipState.ASSIGNED,
                note_key="assigned",
                note_fields={"unit": "卧龙区", "hours": 2},
            )
            await tip_repo.add_event(
                conn,
                tip_id=1,
                at=AT,
                actor_id=None,
                kind=EventKind.RETURNED,
                from_state=TipState.VERIFYING,
                to_state=TipState.ASSIGNED,
                note="重拍",
            )
        async with db.read() as conn:
            first, second = await tip_repo.events(conn, 1)
    assert (first.note_key, first.note_fields, first.note) == (
        "assigned",
        {"unit": "卧龙区", "hours": 2},
        None,
    )
    assert (second.note_key, second.note_fields, second.note) == (None, {}, "重拍")
