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

_REPORTS = (
    # A photo file in the evidence folder, known by the SHA-256 of its bytes (the file's
    # name). `phash` is a 64-bit difference hash as 16 hex digits, for near-duplicates;
    # `taken_at` and the GPS position come from EXIF (photos sent as files keep it).
    """CREATE TABLE evidence (
        sha256     TEXT PRIMARY KEY CHECK (length(sha256) = 64),
        size       INTEGER NOT NULL,
        format     TEXT NOT NULL,
        width      INTEGER NOT NULL,
        height     INTEGER NOT NULL,
        phash      TEXT NOT NULL,
        taken_at   TEXT,
        gps_lat    REAL,
        gps_lon    REAL,
        created_at TEXT NOT NULL
    )""",
    # The object inspected. `code_key` (case-folded, spaces collapsed) is unique within a
    # category; `status` and `last_report_id` follow the latest report.
    """CREATE TABLE site (
        id             INTEGER PRIMARY KEY,
        category       TEXT NOT NULL,
        code           TEXT NOT NULL,
        code_key       TEXT NOT NULL,
        unit_id        INTEGER NOT NULL REFERENCES org_unit (id),
        status         TEXT,
        last_report_id INTEGER,
        report_count   INTEGER NOT NULL DEFAULT 0,
        created_by     INTEGER REFERENCES member (id),
        created_at     TEXT NOT NULL,
        updated_at     TEXT NOT NULL,
        UNIQUE (category, code_key)
    )""",
    "CREATE INDEX site_unit ON site (unit_id, category)",
    # One submission, immutable. `draft_id` is the draft it came from (draft ids are never
    # reused), so submitting one draft twice makes one report.
    """CREATE TABLE report (
        id         INTEGER PRIMARY KEY,
        draft_id   INTEGER NOT NULL UNIQUE,
        site_id    INTEGER NOT NULL REFERENCES site (id),
        category   TEXT NOT NULL,
        status     TEXT NOT NULL,
        unit_id    INTEGER NOT NULL REFERENCES org_unit (id),
        member_id  INTEGER NOT NULL REFERENCES member (id),
        latitude   REAL,
        longitude  REAL,
        note       TEXT,
        recheck    INTEGER NOT NULL CHECK (recheck IN (0, 1)),
        flagged    INTEGER NOT NULL DEFAULT 0 CHECK (flagged IN (0, 1)),
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX report_site ON report (site_id, id)",
    "CREATE INDEX report_member ON report (member_id, id)",
    "CREATE INDEX report_unit_time ON report (unit_id, created_at)",
    "CREATE INDEX report_time ON report (created_at)",
    """CREATE TABLE report_photo (
        report_id      INTEGER NOT NULL REFERENCES report (id),
        position       INTEGER NOT NULL,
        sha256         TEXT NOT NULL REFERENCES evidence (sha256),
        file_id        TEXT NOT NULL,
        file_unique_id TEXT NOT NULL,
        as_file        INTEGER NOT NULL CHECK (as_file IN (0, 1)),
        PRIMARY KEY (report_id, position)
    )""",
    "CREATE INDEX report_photo_sha ON report_photo (sha256)",
    "CREATE INDEX report_photo_unique ON report_photo (file_unique_id)",
    # Why a report needs a second look: kind 'duplicate_photo' | 'similar_photo' |
    # 'location'; `detail` names the earlier report or the distance.
    """CREATE TABLE report_flag (
        report_id INTEGER NOT NULL REFERENCES report (id),
        kind      TEXT NOT NULL
                  CHECK (kind IN ('duplicate_photo', 'similar_photo', 'location')),
        detail    TEXT NOT NULL DEFAULT '',
        PRIMARY KEY (report_id, kind, detail)
    )""",
    # The report being put together, one per person. AUTOINCREMENT: an id is never
    # reused, so a button of a dropped draft can never act on a new one.
    """CREATE TABLE report_draft (
        id            INTEGER PRIMARY KEY AUTOINCREMENT,
        telegram_id   INTEGER NOT NULL UNIQUE,
        member_id     INTEGER NOT NULL REFERENCES member (id),
        category      TEXT,
        site_id       INTEGER REFERENCES site (id),
        new_site      TEXT,
        site_query    TEXT,
        status        TEXT,
        photos_done   INTEGER NOT NULL DEFAULT 0,
        location_done INTEGER NOT NULL DEFAULT 0,
        latitude      REAL,
        longitude     REAL,
        note_done     INTEGER NOT NULL DEFAULT 0,
        note          TEXT,
        created_at    TEXT NOT NULL,
        updated_at    TEXT NOT NULL,
        expires_at    TEXT NOT NULL
    )""",
    # Photos of a draft, keyed by the message that brought them (a repeated update adds
    # nothing). The file is already in the evidence folder.
    """CREATE TABLE draft_photo (
        draft_id       INTEGER NOT NULL REFERENCES report_draft (id) ON DELETE CASCADE,
        message_id     INTEGER NOT NULL,
        sha256         TEXT NOT NULL REFERENCES evidence (sha256),
        file_id        TEXT NOT NULL,
        file_unique_id TEXT NOT NULL,
        as_file        INTEGER NOT NULL CHECK (as_file IN (0, 1)),
        added_at       TEXT NOT NULL,
        PRIMARY KEY (draft_id, message_id)
    )""",
    # Per-day aggregates, kept in the same transaction as each report, so rankings read
    # a few rows per unit and day instead of scanning the report history. `day` is the
    # local date (locale.timezone) of the report; `unit_id` is the report's unit.
    """CREATE TABLE unit_day (
        unit_id INTEGER NOT NULL REFERENCES org_unit (id),
        day     TEXT NOT NULL,
        reports INTEGER NOT NULL DEFAULT 0,
        flagged INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, unit_id)
    ) WITHOUT ROWID""",
    """CREATE TABLE member_day (
        member_id INTEGER NOT NULL REFERENCES member (id),
        day       TEXT NOT NULL,
        reports   INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (day, member_id)
    ) WITHOUT ROWID""",
    # 工作动态: free text with the campaign's counters.
    """CREATE TABLE status_update (
        id         INTEGER PRIMARY KEY,
        draft_id   INTEGER NOT NULL UNIQUE,
        member_id  INTEGER NOT NULL REFERENCES member (id),
        unit_id    INTEGER NOT NULL REFERENCES org_unit (id),
        body       TEXT NOT NULL,
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX status_update_unit_time ON status_update (unit_id, created_at)",
    "CREATE INDEX status_update_member ON status_update (member_id, id)",
    """CREATE TABLE status_update_counter (
        update_id INTEGER NOT NULL REFERENCES status_update (id),
        counter   TEXT NOT NULL,
        value     INTEGER NOT NULL CHECK (value >= 0),
        PRIMARY KEY (update_id, counter)
    )""",
    """CREATE TABLE update_draft (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        telegram_id INTEGER NOT NULL UNIQUE,
        member_id   INTEGER NOT NULL REFERENCES member (id),
        body        TEXT,
        counters    TEXT NOT NULL DEFAULT '{}',
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL
    )""",
)

_TIPS = (
    # 举报线索. `unit_id` is where the tip is about (or the receiving unit, when only an
    # address is known); the life cycle is received → assigned (→ verifying) → closed.
    """CREATE TABLE tip (
        id               INTEGER PRIMARY KEY,
        number           TEXT NOT NULL UNIQUE,
        received_at      TEXT NOT NULL,
        unit_id          INTEGER NOT NULL REFERENCES org_unit (id),
        address          TEXT,
        description      TEXT NOT NULL,
        source           TEXT NOT NULL CHECK (source IN ('hotline', 'online', 'visit', 'other')),
        contact          TEXT,
        state            TEXT NOT NULL
                         CHECK (state IN ('received', 'assigned', 'verifying', 'closed')),
        assigned_unit_id INTEGER REFERENCES org_unit (id),
        assigned_by      INTEGER REFERENCES member (id),
        assigned_at      TEXT,
        deadline         TEXT,
        acknowledged_at  TEXT,
        acknowledged_by  INTEGER REFERENCES member (id),
        closed_at        TEXT,
        closed_by        INTEGER REFERENCES member (id),
        valid            INTEGER CHECK (valid IN (0, 1)),
        result           TEXT,
        returns          INTEGER NOT NULL DEFAULT 0,
        escalation_level INTEGER NOT NULL DEFAULT 0,
        escalated_at     TEXT,
        created_by       INTEGER REFERENCES member (id),
        created_at       TEXT NOT NULL
    )""",
    "CREATE INDEX tip_received ON tip (received_at)",
    "CREATE INDEX tip_open_deadline ON tip (state, deadline)",
    "CREATE INDEX tip_assigned_unit ON tip (assigned_unit_id, state)",
    "CREATE INDEX tip_unit ON tip (unit_id)",
    # Every step of a tip, never changed or deleted: who, when, from, to, note.
    """CREATE TABLE tip_event (
        id         INTEGER PRIMARY KEY,
        tip_id     INTEGER NOT NULL REFERENCES tip (id),
        at         TEXT NOT NULL,
        actor_id   INTEGER REFERENCES member (id),
        kind       TEXT NOT NULL,
        from_state TEXT,
        to_state   TEXT,
        note       TEXT
    )""",
    "CREATE INDEX tip_event_tip ON tip_event (tip_id, id)",
    """CREATE TABLE tip_photo (
        tip_id         INTEGER NOT NULL REFERENCES tip (id),
        event_id       INTEGER REFERENCES tip_event (id),
        position       INTEGER NOT NULL,
        sha256         TEXT NOT NULL REFERENCES evidence (sha256),
        file_id        TEXT NOT NULL,
        file_unique_id TEXT NOT NULL,
        PRIMARY KEY (tip_id, event_id, position)
    )""",
    # A tip being received or closed, one per person; `data` is the answers so far.
    """CREATE TABLE tip_draft (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        telegram_id INTEGER NOT NULL UNIQUE,
        kind        TEXT NOT NULL CHECK (kind IN ('receive', 'close', 'return')),
        tip_id      INTEGER REFERENCES tip (id),
        data        TEXT NOT NULL DEFAULT '{}',
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL
    )""",
    """CREATE TABLE tip_draft_photo (
        draft_id       INTEGER NOT NULL REFERENCES tip_draft (id) ON DELETE CASCADE,
        message_id     INTEGER NOT NULL,
        sha256         TEXT NOT NULL REFERENCES evidence (sha256),
        file_id        TEXT NOT NULL,
        file_unique_id TEXT NOT NULL,
        PRIMARY KEY (draft_id, message_id)
    )""",
    # 有奖举报: a tip closed as valid earns its tipster a reward, settled by an admin.
    """CREATE TABLE reward (
        tip_id     INTEGER PRIMARY KEY REFERENCES tip (id),
        state      TEXT NOT NULL CHECK (state IN ('pending', 'paid', 'declined')),
        created_at TEXT NOT NULL,
        settled_by INTEGER REFERENCES member (id),
        settled_at TEXT,
        note       TEXT
    )""",
)

# A group chat bound to a unit: it receives digests ranking that unit's children. The
# surrogate id stays when Telegram moves the group to a new chat id (a supergroup).
_GROUPS = (
    """CREATE TABLE group_chat (
        id           INTEGER PRIMARY KEY,
        chat_id      INTEGER NOT NULL UNIQUE,
        unit_id      INTEGER NOT NULL REFERENCES org_unit (id),
        title        TEXT NOT NULL,
        bound_by     INTEGER REFERENCES member (id),
        bound_at     TEXT NOT NULL,
        active       INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
        ended_at     TEXT,
        ended_reason TEXT CHECK (ended_reason IN ('unbound', 'removed', 'gone'))
    )""",
    "CREATE INDEX group_chat_unit ON group_chat (unit_id, active)",
)

# Every scheduled send to a group, claimed before it is sent: (group, kind, period) is
# unique, so a digest is never sent twice, and a missed one is found on start.
_DIGESTS = (
    """CREATE TABLE digest_send (
        id       INTEGER PRIMARY KEY,
        group_id INTEGER NOT NULL REFERENCES group_chat (id),
        kind     TEXT NOT NULL CHECK (kind IN ('daily', 'weekly')),
        period   TEXT NOT NULL,
        state    TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'skipped', 'failed')),
        due_at   TEXT NOT NULL,
        done_at  TEXT,
        detail   TEXT,
        UNIQUE (group_id, kind, period)
    )""",
    # One reminder per worker and day, claimed before it is sent.
    """CREATE TABLE reminder_sent (
        member_id INTEGER NOT NULL REFERENCES member (id),
        day       TEXT NOT NULL,
        sent_at   TEXT NOT NULL,
        PRIMARY KEY (day, member_id)
    ) WITHOUT ROWID""",
)

# Who did what, where from: one row per admin or lead action (and operator commands),
# written in the same transaction as the action itself. Never changed or deleted.
# `unit_id` is the unit the action concerns, for scope; `chat_id` is the chat the
# command came from (NULL from the shell or a job); `source` is 'chat', 'cli' or 'job'.
_AUDIT = (
    """CREATE TABLE audit (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        at          TEXT NOT NULL,
        source      TEXT NOT NULL CHECK (source IN ('chat', 'cli', 'job')),
        actor_id    INTEGER REFERENCES member (id),
        actor_name  TEXT NOT NULL,
        telegram_id INTEGER,
        chat_id     INTEGER,
        action      TEXT NOT NULL,
        target      TEXT NOT NULL,
        unit_id     INTEGER REFERENCES org_unit (id),
        detail      TEXT
    )""",
    "CREATE INDEX audit_at ON audit (at)",
    "CREATE INDEX audit_unit ON audit (unit_id, id)",
)

# The durable inbox: every update Telegram delivers, committed before Telegram is told
# it arrived (the next getUpdates offset, or the webhook's 200), then marked done once
# handled. `dedupe` catches the same message arriving again under another update id
# (a new id sequence, a switch between webhook and polling): 'm:<chat>:<message>' for a
# message, 'e:<chat>:<message>:<edit date>' for an edit, 'c:<query id>' for a button.
_INBOX = (
    """CREATE TABLE inbox (
        update_id   INTEGER PRIMARY KEY,
        dedupe      TEXT UNIQUE,
        chat_id     INTEGER,
        payload     TEXT NOT NULL,
        received_at TEXT NOT NULL,
        attempts    INTEGER NOT NULL DEFAULT 0,
        done_at     TEXT
    )""",
    "CREATE INDEX inbox_pending ON inbox (update_id) WHERE done_at IS NULL",
    "CREATE INDEX inbox_done ON inbox (done_at) WHERE done_at IS NOT NULL",
)

# A digest an admin asked for with /digest: one row per request, apart from
# `digest_send`, so it never counts as (or blocks) the scheduled send of that period.
_DIGEST_REQUESTS = (
    """CREATE TABLE digest_request (
        id           INTEGER PRIMARY KEY,
        group_id     INTEGER NOT NULL REFERENCES group_chat (id),
        period       TEXT NOT NULL,
        requested_by INTEGER REFERENCES member (id),
        requested_at TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'failed')),
        done_at      TEXT,
        detail       TEXT
    )""",
    "CREATE INDEX digest_request_group ON digest_request (group_id, id)",
)

# Updates that could not be stored in the inbox (text SQLite cannot encode, such as an
# unpaired surrogate; values it refuses): kept here as ASCII-escaped JSON (or the Python
# repr when not even that works), with the error, so the updates behind them go on.
_INBOX_QUARANTINE = (
    """CREATE TABLE inbox_quarantine (
        id          INTEGER PRIMARY KEY,
        update_id   INTEGER,
        chat_id     INTEGER,
        raw         TEXT NOT NULL,
        error       TEXT NOT NULL,
        received_at TEXT NOT NULL
    )""",
)

# Photos a report draft received and has not answered yet ("已收到照片 … 共 N 张" comes
# after the album wait, from memory): set with the photo, cleared by the answer, so
# photos a restart caught inside the wait are answered on start.
_DRAFT_PHOTO_ANSWER = (
    "ALTER TABLE report_draft ADD COLUMN photos_unanswered INTEGER NOT NULL DEFAULT 0 "
    "CHECK (photos_unanswered IN (0, 1))",
)

# The members told of a tip (assigned, returned, overdue): they may read it later,
# wherever they are by then.
_TIP_READERS = (
    """CREATE TABLE tip_notified (
        tip_id    INTEGER NOT NULL REFERENCES tip (id),
        member_id INTEGER NOT NULL REFERENCES member (id),
        PRIMARY KEY (tip_id, member_id)
    ) WITHOUT ROWID""",
)

# An invite remembers the unit its maker was in when they made it (the link stops working
# once its maker is moved, demoted or disabled) and can be revoked.
_INVITE_MAKERS = (
    "ALTER TABLE invite ADD COLUMN maker_unit_id INTEGER REFERENCES org_unit (id)",
    "ALTER TABLE invite ADD COLUMN revoked_at TEXT",
    "ALTER TABLE invite ADD COLUMN revoked_by INTEGER REFERENCES member (id)",
    """UPDATE invite SET maker_unit_id =
        (SELECT m.unit_id FROM member m WHERE m.id = invite.created_by)
        WHERE created_by IS NOT NULL""",
    # Members disabled before this migration: their links stop now, for good.
    """UPDATE invite SET revoked_at = strftime('%Y-%m-%dT%H:%M:%SZ', 'now')
        WHERE revoked_at IS NULL AND created_by IN (SELECT id FROM member WHERE active = 0)""",
)

# A tip event's note is data, rendered in the reader's language: a catalogue key
# (``tip.note.*``) and its fields as JSON; ``note`` keeps only what a person typed (a
# result, a reason). The notes the bot wrote as text before are turned into data; any
# other text stays as it is and is shown as written.
_TIP_EVENT_NOTES = (
    "ALTER TABLE tip_event ADD COLUMN note_key TEXT",
    "ALTER TABLE tip_event ADD COLUMN note_fields TEXT",
    """UPDATE tip_event SET note_key = 'valid', note = substr(note, 8)
        WHERE kind IN ('closed', 'submitted') AND substr(note, 1, 7) = 'valid: '""",
    """UPDATE tip_event SET note_key = 'invalid', note = substr(note, 10)
        WHERE kind IN ('closed', 'submitted') AND substr(note, 1, 9) = 'invalid: '""",
    """UPDATE tip_event SET note_key = 'approved', note = NULL
        WHERE kind = 'closed' AND note = 'approved'""",
    "UPDATE tip_event SET note_key = 'imported', note = NULL WHERE note = 'import'",
    """UPDATE tip_event SET note_key = 'assigned_imported', note_fields = json_object(
            'unit', coalesce((SELECT u.name FROM org_unit u
                WHERE u.code = substr(tip_event.note, 1, length(tip_event.note) - 7)),
                substr(note, 1, length(note) - 7))),
        note = NULL
        WHERE kind = 'assigned' AND note LIKE '% import'""",
    """UPDATE tip_event SET note_key = 'assigned', note_fields = json_object(
            'unit', coalesce((SELECT u.name FROM org_unit u
                WHERE u.code = substr(tip_event.note, 1, instr(tip_event.note, ' ') - 1)),
                substr(note, 1, instr(note, ' ') - 1)),
            'hours', CAST(substr(note, instr(note, ' ') + 1) AS INTEGER)),
        note = NULL
        WHERE kind = 'assigned' AND note GLOB '* [0-9]*h'""",
    """UPDATE tip_event SET note_key = 'escalated', note_fields = json_object(
            'unit', coalesce((SELECT u.name FROM org_unit u WHERE u.code = tip_event.note),
                note)),
        note = NULL
        WHERE kind = 'escalated' AND note IS NOT NULL""",
)

# The site registry (台账) and inspection plans (检查任务). A site gains a name, an
# address, coordinates and tags (`site_tag`, one row per tag, and `tags` as written, for
# display); `registered` is 1 for a site imported from a list, 0 for one a worker created.
# A plan lists the sites it covers in `plan_site` (joined when the plan is made, or when a
# site comes to match it), each with the round it was last done in; `plan_tally` counts,
# per plan, unit and round (-1: never), the sites last done in that round — kept by the
# submit transaction — so progress reads a few rows per unit, never the reports.
_SITES_AND_PLANS = (
    "ALTER TABLE site ADD COLUMN name TEXT",
    "ALTER TABLE site ADD COLUMN address TEXT",
    "ALTER TABLE site ADD COLUMN latitude REAL",
    "ALTER TABLE site ADD COLUMN longitude REAL",
    "ALTER TABLE site ADD COLUMN tags TEXT NOT NULL DEFAULT ''",
    "ALTER TABLE site ADD COLUMN registered INTEGER NOT NULL DEFAULT 0 "
    "CHECK (registered IN (0, 1))",
    """CREATE TABLE site_tag (
        tag     TEXT NOT NULL,
        site_id INTEGER NOT NULL REFERENCES site (id),
        PRIMARY KEY (tag, site_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX site_tag_site ON site_tag (site_id)",
    """CREATE TABLE plan (
        id          INTEGER PRIMARY KEY,
        name        TEXT NOT NULL,
        category    TEXT NOT NULL,
        unit_id     INTEGER NOT NULL REFERENCES org_unit (id),
        tag         TEXT,
        deadline    TEXT,
        cycle_days  INTEGER CHECK (cycle_days IS NULL OR cycle_days >= 1),
        weekly      INTEGER NOT NULL DEFAULT 0 CHECK (weekly IN (0, 1)),
        done_rule   TEXT NOT NULL CHECK (done_rule IN ('any', 'done')),
        start_day   TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('open', 'closed')),
        created_by  INTEGER REFERENCES member (id),
        created_at  TEXT NOT NULL,
        closed_by   INTEGER REFERENCES member (id),
        closed_at   TEXT,
        CHECK ((deadline IS NULL) <> (cycle_days IS NULL))
    )""",
    "CREATE INDEX plan_state ON plan (state, id)",
    """CREATE TABLE plan_site (
        plan_id      INTEGER NOT NULL REFERENCES plan (id),
        site_id      INTEGER NOT NULL REFERENCES site (id),
        unit_id      INTEGER NOT NULL REFERENCES org_unit (id),
        last_round   INTEGER NOT NULL DEFAULT -1,
        last_done_at TEXT,
        on_time      INTEGER NOT NULL DEFAULT 0 CHECK (on_time IN (0, 1)),
        PRIMARY KEY (plan_id, site_id)
    ) WITHOUT ROWID""",
    "CREATE INDEX plan_site_unit ON plan_site (unit_id, plan_id, last_round)",
    "CREATE INDEX plan_site_site ON plan_site (site_id)",
    """CREATE TABLE plan_tally (
        plan_id INTEGER NOT NULL REFERENCES plan (id),
        unit_id INTEGER NOT NULL REFERENCES org_unit (id),
        round   INTEGER NOT NULL,
        sites   INTEGER NOT NULL DEFAULT 0,
        on_time INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (plan_id, unit_id, round)
    ) WITHOUT ROWID""",
    # A plan being drafted with /plan, one per person; `data` is the answers so far.
    """CREATE TABLE plan_draft (
        id          INTEGER PRIMARY KEY AUTOINCREMENT,
        telegram_id INTEGER NOT NULL UNIQUE,
        member_id   INTEGER NOT NULL REFERENCES member (id),
        data        TEXT NOT NULL DEFAULT '{}',
        created_at  TEXT NOT NULL,
        expires_at  TEXT NOT NULL
    )""",
)

# Tips handled as 12345 and 数字城管 handle cases: an urgency and the limit it gave,
# 不予受理 with a reason, duplicates linked to their original, extensions (延期) asked
# and granted, parking (挂账) with a reason and a target day, the reminder before the
# deadline, and the call-back (回访) after closure. Rework (返工) is ``returns``.
_TIP_CASE_PRACTICE = (
    """ALTER TABLE tip ADD COLUMN urgency TEXT NOT NULL DEFAULT 'normal'
        CHECK (urgency IN ('normal', 'urgent', 'emergency'))""",
    "ALTER TABLE tip ADD COLUMN declined TEXT CHECK (declined IN ('remit', 'info', 'duplicate'))",
    "ALTER TABLE tip ADD COLUMN duplicate_of INTEGER REFERENCES tip (id)",
    "ALTER TABLE tip ADD COLUMN extensions INTEGER NOT NULL DEFAULT 0",
    "ALTER TABLE tip ADD COLUMN extension_asked TEXT",  # the deadline asked for, pending
    "ALTER TABLE tip ADD COLUMN extension_reason TEXT",
    "ALTER TABLE tip ADD COLUMN extension_by INTEGER REFERENCES member (id)",
    "ALTER TABLE tip ADD COLUMN parked_until TEXT",  # a local day YYYY-MM-DD while parked
    "ALTER TABLE tip ADD COLUMN parked_reason TEXT",
    "ALTER TABLE tip ADD COLUMN reminded_at TEXT",
    """ALTER TABLE tip ADD COLUMN satisfaction TEXT
        CHECK (satisfaction IN ('satisfied', 'basic', 'dissatisfied'))""",
    "CREATE INDEX tip_duplicate_of ON tip (duplicate_of)",
    # Two more sources: 网格员巡查发现 (patrol) and 部门交办 (department). SQLite cannot
    # alter a CHECK constraint; widening it in the stored schema is the documented way
    # (sqlite.org/lang_altertable.html, "other kinds of table schema changes"), and it
    # keeps every column other migrations add to ``tip``. RESET reloads the schema.
    "PRAGMA writable_schema = ON",
    """UPDATE sqlite_schema SET sql = replace(sql,
        'CHECK (source IN (''hotline'', ''online'', ''visit'', ''other''))',
        'CHECK (source IN (''hotline'', ''online'', ''visit'', ''other'', ''patrol'', '
            || '''department''))')
        WHERE type = 'table' AND name = 'tip'""",
    "PRAGMA writable_schema = RESET",
    "CREATE INDEX tip_event_kind_at ON tip_event (kind, at)",
    # The unit KPIs of a period read the tips due or closed in it.
    "CREATE INDEX tip_deadline ON tip (deadline)",
    "CREATE INDEX tip_closed_at ON tip (closed_at)",
)

# The 简报 as a numbered document: one issue row per issuing unit and period (its 第N期
# once published; ``revision`` counts previews, so a button of an older preview is known),
# and the items units offer for it (a status update with a title, or written directly),
# with the order and the include/drop the admin chose in the preview.
_BULLETIN_ISSUES = (
    """CREATE TABLE bulletin_issue (
        id           INTEGER PRIMARY KEY,
        unit_id      INTEGER NOT NULL REFERENCES org_unit (id),
        first_day    TEXT NOT NULL,
        last_day     TEXT NOT NULL,
        number       INTEGER,
        revision     INTEGER NOT NULL DEFAULT 0,
        published_at TEXT,
        published_by INTEGER REFERENCES member (id),
        UNIQUE (unit_id, first_day),
        UNIQUE (unit_id, number)
    )""",
    """CREATE TABLE bulletin_item (
        id         INTEGER PRIMARY KEY,
        unit_id    INTEGER NOT NULL REFERENCES org_unit (id),
        member_id  INTEGER NOT NULL REFERENCES member (id),
        update_id  INTEGER UNIQUE REFERENCES status_update (id),
        title      TEXT NOT NULL,
        body       TEXT NOT NULL,
        day        TEXT NOT NULL,
        position   INTEGER NOT NULL DEFAULT 0,
        dropped    INTEGER NOT NULL DEFAULT 0 CHECK (dropped IN (0, 1)),
        created_at TEXT NOT NULL
    )""",
    "CREATE INDEX bulletin_item_day ON bulletin_item (day, position, id)",
    """CREATE TABLE bulletin_item_photo (
        item_id  INTEGER NOT NULL REFERENCES bulletin_item (id),
        position INTEGER NOT NULL,
        sha256   TEXT NOT NULL REFERENCES evidence (sha256),
        PRIMARY KEY (item_id, position)
    ) WITHOUT ROWID""",
)

# Outlets (issue 19): group robots of WeCom, DingTalk and Feishu named in the config.
# `outlet` remembers each one (since when it is known, whether it is failing, a digest of
# its address and secret so that a changed config clears the failing state); every send
# to one is claimed per (outlet, kind, period) like a Telegram digest, with the parts
# already delivered, so a retry or a restart never sends a part twice.
_OUTLETS = (
    """CREATE TABLE outlet (
        name           TEXT PRIMARY KEY,
        first_seen     TEXT NOT NULL,
        fingerprint    TEXT NOT NULL,
        failing_since  TEXT,
        failing_reason TEXT
    )""",
    """CREATE TABLE outlet_send (
        id         INTEGER PRIMARY KEY,
        outlet     TEXT NOT NULL,
        kind       TEXT NOT NULL,
        period     TEXT NOT NULL,
        state      TEXT NOT NULL CHECK (state IN ('sending', 'sent', 'failed', 'skipped')),
        due_at     TEXT NOT NULL,
        parts_sent INTEGER NOT NULL DEFAULT 0,
        done_at    TEXT,
        detail     TEXT,
        UNIQUE (outlet, kind, period)
    )""",
    "CREATE INDEX outlet_send_state ON outlet_send (state, kind, due_at)",
)

# Tips located (issue 17, duplicates within a distance): the site a tip names (its
# coordinates locate the tip) or a location the receiver shared, and the Telegram id of a
# tipster who was given as a shared contact (a member earns no reward).
_TIP_PLACES = (
    "ALTER TABLE tip ADD COLUMN site_id INTEGER REFERENCES site (id)",
    "ALTER TABLE tip ADD COLUMN latitude REAL",
    "ALTER TABLE tip ADD COLUMN longitude REAL",
    "ALTER TABLE tip ADD COLUMN tipster_id INTEGER",
    "CREATE INDEX tip_site ON tip (site_id)",
    # Duplicate candidates near a place: a latitude range on tips and on sites.
    "CREATE INDEX tip_latitude ON tip (latitude) WHERE latitude IS NOT NULL",
    "CREATE INDEX site_latitude ON site (latitude) WHERE latitude IS NOT NULL",
)

# Outgoing rate limits shared by several processes on one store (PostgreSQL; issue 20):
# one token bucket per lane ('all': the overall messages a second; 'g:<chat id>': one
# group's messages a minute), refilled by the time since ``at`` (seconds, the database
# server's clock); ``taken`` is how many tokens the last taker got. A single process on
# SQLite keeps its limits in memory and leaves the table empty; it is here too so that
# both backends have the same schema.
_SEND_RATE = (
    """CREATE TABLE send_rate (
        lane   TEXT PRIMARY KEY,
        tokens REAL NOT NULL,
        at     REAL NOT NULL,
        taken  REAL NOT NULL DEFAULT 0
    )""",
)

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "foundation", _FOUNDATION),
    Migration(2, "active flow", _ACTIVE_FLOW),
    Migration(3, "reports", _REPORTS),
    Migration(4, "tips", _TIPS),
    Migration(5, "groups", _GROUPS),
    Migration(6, "digests", _DIGESTS),
    Migration(7, "audit", _AUDIT),
    Migration(8, "inbox", _INBOX),
    Migration(9, "digest requests", _DIGEST_REQUESTS),
    Migration(10, "inbox quarantine", _INBOX_QUARANTINE),
    Migration(11, "draft photo answers", _DRAFT_PHOTO_ANSWER),
    Migration(12, "tip readers", _TIP_READERS),
    Migration(13, "invite makers", _INVITE_MAKERS),
    Migration(14, "tip event notes", _TIP_EVENT_NOTES),
    Migration(18, "outlets", _OUTLETS),
    Migration(19, "sites and plans", _SITES_AND_PLANS),
    Migration(20, "tip case practice", _TIP_CASE_PRACTICE),
    Migration(21, "bulletin issues and items", _BULLETIN_ISSUES),
    Migration(22, "tip places and tipsters", _TIP_PLACES),
    Migration(23, "send rate", _SEND_RATE),
)
