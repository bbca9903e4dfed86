"""Numbered, forward-only schema migrations.

Each migration runs in one transaction together with its row in ``schema_migration`` and
the new ``PRAGMA user_version``, so a crash leaves either all of it or none. Never edit a
migration that has shipped; add the next number.

Times are UTC text ``YYYY-MM-DDTHH:MM:SSZ``; they sort as they read.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]


_FOUNDATION = (
    """CREATE TABLE IF NOT EXISTS schema_migration (
        version    INTEGER PRIMARY KEY,
        name       TEXT NOT NULL,
        applied_at TEXT NOT NULL
    )""",
    # The grid tree. `path` is the chain of ids from the root, '/1/4/17/', so a subtree is
    # one index range scan: path >= '/1/4/' AND path < '/1/40' (see storage.units).
    """CREATE TABLE org_unit (
        id         INTEGER PRIMARY KEY,
        code       TEXT NOT NULL UNIQUE,
        name       TEXT NOT NULL,
        level      TEXT NOT NULL
                   CHECK (level IN ('city', 'district', 'street', 'community', 'grid')),
        parent_id  INTEGER REFERENCES org_unit (id),
        path       TEXT NOT NULL,
        sort_order INTEGER NOT NULL,
        active     INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        created_at TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
    "CREATE INDEX org_unit_parent ON org_unit (parent_id, sort_order)",
    "CREATE UNIQUE INDEX org_unit_path ON org_unit (path)",
    """CREATE TABLE invite (
        id          INTEGER PRIMARY KEY,
        token_hash  TEXT NOT NULL UNIQUE,
        unit_id     INTEGER NOT NULL REFERENCES org_unit (id),
        role        TEXT NOT NULL CHECK (role IN ('worker', 'lead', 'admin')),
        max_uses    INTEGER NOT NULL CHECK (max_uses >= 1),
        uses        INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0),
        expires_at  TEXT NOT NULL,
        created_by  INTEGER REFERENCES member (id),
        created_at  TEXT NOT NULL,
        CHECK (uses <= max_uses)
    )""",
    "CREATE INDEX invite_unit ON invite (unit_id)",
    """CREATE TABLE member (
        id          INTEGER PRIMARY KEY,
        telegram_id INTEGER NOT NULL UNIQUE,
        name        TEXT NOT NULL,
        unit_id     INTEGER NOT NULL REFERENCES org_unit (id),
        role        TEXT NOT NULL CHECK (role IN ('worker', 'lead', 'admin')),
        active      INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        username    TEXT,
        invite_id   INTEGER REFERENCES invite (id),
        joined_at   TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    )""",
    "CREATE INDEX member_unit ON member (unit_id, role)",
    # A person's choices that exist before and apart from membership (/lang).
    """CREATE TABLE user_setting (
        telegram_id INTEGER PRIMARY KEY,
        language    TEXT CHECK (language IN ('zh', 'en')),
        updated_at  TEXT NOT NULL
    )""",
    # Conversation state lives here, not in memory: someone who opened an invite link and
    # has not yet typed their name. A restart resumes it.
    """CREATE TABLE join_draft (
        telegram_id INTEGER PRIMARY KEY,
        invite_id   INTEGER NOT NULL REFERENCES invite (id),
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL
    )""",
    # Which command menu a chat was last given, so start-up only calls setMyCommands for
    # chats whose menu changed.
    """CREATE TABLE chat_commands (
        chat_id    INTEGER PRIMARY KEY,
        digest     TEXT NOT NULL,
        updated_at TEXT NOT NULL
    )""",
)

# Which multi-step conversation (a report draft, a tip draft…) a person's next plain
# message belongs to. Each flow keeps its own draft table; this row only routes.
_ACTIVE_FLOW = (
    """CREATE TABLE active_flow (
        telegram_id INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL,
        updated_at  TEXT NOT NULL
    )""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "foundation", _FOUNDATION),
    Migration(2, "active flow", _ACTIVE_FLOW),
)
