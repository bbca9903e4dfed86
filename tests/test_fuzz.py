"""Property-based fuzzing of the real bot: random sequences of updates from random people.

One real PTB ``Application`` (the ``tg`` fixture) polls the in-process Bot API test
server for the whole run; hypothesis draws sequences of 50–100 actions (texts, commands
with garbage arguments, real, forged and random button presses, odd Unicode, huge texts,
photos, albums, documents of every kind, stickers, voice, locations, contacts, edits,
the bot added to and removed from groups) from a city admin, a district admin, a street
lead, two workers in different districts and two strangers. State accumulates across
examples, as it would in production. ``test_fuzz`` (marked ``slow``: run by .ci/run and
``pytest -m slow``) plays 125 examples, at least 10,000 updates; ``test_fuzz_smoke``
plays the first two of the same sequence in the quick run. After every example:

* nothing went unhandled: no log record at ERROR or above (the error handler logs every
  exception a handler raises), no call to an unknown method, no call the test server
  refused with a 400 (parameters the bot built that Telegram would reject);
* nothing leaked: nobody receives a site code, report number, tip number or member name
  of a district they are not in (strangers receive none at all), unless they typed it;
* the database is consistent: ``integrity_check``, ``foreign_key_check`` and cheap domain
  invariants (1–10 photos per report, every photo's evidence file on disk, counters).

Hypothesis runs in a worker thread (``@given`` is synchronous); each example is played on
the test's event loop with ``run_coroutine_threadsafe``, so the bot keeps running there.
It is derandomized (same sequence on every run) and does not shrink: with state carried
from one example to the next, a shrunk example would not reproduce anyway; the failing
example is printed in full instead.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.botapi import ApiCall, TestUser
from bot.botapi.records import SHOWING_METHODS
from bot.botapi.updates import callback_query_json
from bot.core.access import Role
from bot.core.policy import COMMANDS
from handlers import callbacks
from tests.photos import jpeg, photo, png

# The full run (``slow``, in .ci/run): at least 10,000 updates.
EXAMPLES = int(os.environ.get("GRIDBOT_FUZZ_EXAMPLES", "125"))
MIN_ACTIONS, MAX_ACTIONS = 50, 100
MIN_UPDATES = int(os.environ.get("GRIDBOT_FUZZ_MIN_UPDATES", "10000"))
# The smoke run in the quick test run: the first examples of the same sequence.
SMOKE_EXAMPLES = 2
SETTLE_TIMEOUT = 30.0

# --------------------------------------------------------------------------- the cast


@dataclass(frozen=True)
class Persona:
    telegram_id: int
    first_name: str
    language: str | None
    unit: str | None = None  # None: not a member
    role: Role | None = None
    name: str | None = None  # the member's name in the bot

    @property
    def district(self) -> str | None:
        return self.unit.split("-", 1)[0] if self.unit else None


CAST = (
    Persona(1001, "市管", "zh-hans", "NY", Role.ADMIN, "南阳市管理员"),
    Persona(1002, "区管", "zh-hans", "WL", Role.ADMIN, "卧龙区管理员丁"),
    Persona(2001, "Lead", "en", "WL-WH", Role.LEAD, "武侯负责人戊"),
    Persona(3001, "崔庄", None, "WL-WH-CZ-01", Role.WORKER, "崔庄网格员己"),
    Persona(3002, "新华", "zh-hans", "WC-XH-XH-01", Role.WORKER, "新华网格员庚"),
    Persona(5001, "路人", "zh-hans"),
    Persona(5002, "Ёжик\u202e👾", "ar"),
)
GROUPS = ((-1001001, "卧龙区工作群"), (-4002, "fuzz group ‮"))

#: Site names that only people of one district type: a report on one makes it a secret
#: of that district. The other district types prefixes (a search must not find them).
MARKERS = {
    "WL": ("卧龙秘点A1", "卧龙秘点B2", "WLSECRET-7"),
    "WC": ("宛城秘点C3", "宛城秘点D4", "WCSECRET-9"),
}
PREFIXES = ("卧龙秘", "宛城秘", "秘点", "SECRET", "WLSEC", "WCSEC")

UNIT_CODES = (
    "NY",
    "WL",
    "WL-WH",
    "WL-WH-CZ",
    "WL-WH-CZ-01",
    "WL-QY-GN-02",
    "WC",
    "WC-XH",
    "WC-XH-XH-01",
    "wl-wh",
    "XX-404",
    "a" * 32,
    "-WL",
)

ODD = (
    "\u202eRTL override\u202c",
    "مرحبا بالعالم",
    "עברית",
    "\u200b",
    "\u200d\u200c\u2060",
    "\ufeff",
    "👨‍👩‍👧‍👦",
    "🏳️‍🌈",
    "e\u0301\u0301\u0301",
    "ﷺ",
    "\x00",
    "\x1b[31m",
    "😀" * 10,
    "<b>bold</b>",
    "<a href='x'>",
    "&amp;&lt;",
    "_*[]()~`>#+-=|{}.!",
    "\\",
    "%s %d {0} {name} {{",
    "'; DROP TABLE report;--",
    "\n\n\n",
    "  \t ",
    "ℌ𝔢𝔩𝔩𝔬",
    "İı",
    "ß",
    "1e309",
    "NaN",
    "-0",
    "13800000000",
    "T-20261123-001",
    "R-000001",
    "@gridbot_test_bot",
    "/report",
)

# --------------------------------------------------------------------------- payloads


@functools.cache
def photo_bytes(seed: int) -> bytes:
    return photo(seed)


@functools.cache
def png_bytes(seed: int) -> bytes:
    return png(seed)


@functools.cache
def tiny_jpeg() -> bytes:
    return jpeg(Image.new("RGB", (1, 1), (200, 30, 30)))


@functools.cache
def huge_file() -> bytes:
    return b"\xff\xd8\xff" + bytes(20 * 1024 * 1024 + 10)


DOCUMENTS: dict[str, tuple[Any, str, str]] = {
    "jpeg": (lambda: photo_bytes(40), "site.jpg", "image/jpeg"),
    "png": (lambda: png_bytes(41), "scan.png", "image/png"),
    "tiny": (tiny_jpeg, "1x1.jpg", "image/jpeg"),
    "pdf": (
        lambda: b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj<<>>endobj\n%%EOF",
        "a.pdf",
        "application/pdf",
    ),
    "zip": (lambda: b"PK\x03\x04" + bytes(60), "archive.zip", "application/zip"),
    "empty": (lambda: b"", "empty.jpg", "image/jpeg"),
    "fake_image": (lambda: b"GIF89a but not really", "x.gif", "image/gif"),
    "wrong_mime": (lambda: photo_bytes(42), "photo.txt", "text/plain"),
    "no_ext": (lambda: b"\x00\x01\x02", "README", "application/octet-stream"),
    "odd_name": (lambda: photo_bytes(43), "‮gpj.exe\u200b照片.jpeg", "image/jpeg"),
    "huge": (huge_file, "huge.jpg", "image/jpeg"),
    "svg": (lambda: b"<svg xmlns='http://www.w3.org/2000/svg'/>", "x.svg", "image/svg+xml"),
    "webp": (lambda: b"RIFF\x00\x00\x00\x00WEBPVP8 ", "s.webp", "image/webp"),
}

# --------------------------------------------------------------------------- strategies


def _nonblank(value: str) -> str:
    return value if value.strip() else value + "?"


small_text = st.text(max_size=40).map(_nonblank)
odd_text = st.lists(st.sampled_from(ODD), min_size=1, max_size=4).map("".join).map(_nonblank)
marker_text = st.sampled_from([m for ms in MARKERS.values() for m in ms] + list(PREFIXES))
huge_text = st.tuples(
    st.sampled_from(["a", "字", "😀", "\u200b", "e\u0301", "<b>", "{x}", "R-000001 "]),
    st.integers(4000, 4200),
).map(lambda t: (t[0] * t[1])[: t[1]])
near_limit = st.integers(4090, 4100).map(lambda n: "网" * n)

TEXT = st.one_of(
    small_text,
    small_text,
    odd_text,
    marker_text,
    marker_text,
    st.sampled_from(UNIT_CODES),
    st.integers(-(2**70), 2**70).map(str),
    huge_text,
    near_limit,
)

INT_FIELD = st.one_of(
    st.integers(0, 40).map(str),
    st.integers(0, 40).map(str),
    st.integers(-(2**64), 2**64).map(str),
    st.sampled_from(["", "007", "1e3", "0x1F", " 1", "１２", "²", "9007199254740993", "-0"]),
)
UNIT_FIELD = st.one_of(st.sampled_from(UNIT_CODES), st.text(max_size=8))

#: Fields of every button kind in handlers.callbacks, in declaration order, with random values.
BUTTON_FIELDS: dict[str, list[st.SearchStrategy[str]]] = {
    "mp": [UNIT_FIELD, INT_FIELD],
    "r": [INT_FIELD, st.sampled_from([*map(str, callbacks.ReportAction), "rm", "OK"]), INT_FIELD],
    "rp": [INT_FIELD],
    "mr": [INT_FIELD],
    "rr": [UNIT_FIELD, st.sampled_from(["today", "week", "all", "year", ""]), INT_FIELD],
    "td": [INT_FIELD, st.sampled_from([*map(str, callbacks.TipDraftAction), "zz"]), INT_FIELD],
    "ta": [INT_FIELD, st.sampled_from(["ack", "pass", "back", "close"])],
    "mv": [INT_FIELD, st.sampled_from(["ok", "cx", "x"])],
    "iv": [INT_FIELD, INT_FIELD],
    "ip": [INT_FIELD],
    "bf": [
        UNIT_FIELD,
        st.one_of(st.integers(20000101, 99991231).map(str), INT_FIELD),
        st.sampled_from(["pub", "cx", "x"]),
    ],
    "tq": [INT_FIELD],
    "pz": [INT_FIELD],
    "pd": [INT_FIELD, st.sampled_from([*map(str, callbacks.PlanDraftAction), "zz"]), INT_FIELD],
    "bp": [
        UNIT_FIELD,
        st.one_of(st.integers(20000101, 99991231).map(str), INT_FIELD),
        INT_FIELD,
        st.sampled_from(["pub", "cx", "x"]),
    ],
    "bi": [
        UNIT_FIELD,
        st.one_of(st.integers(20000101, 99991231).map(str), INT_FIELD),
        INT_FIELD,
        INT_FIELD,
        st.sampled_from([*map(str, callbacks.BriefItemAction), "x"]),
    ],
}


@st.composite
def well_formed_payload(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(sorted(BUTTON_FIELDS)))
    values = [draw(strategy) for strategy in BUTTON_FIELDS[kind]]
    shape = draw(st.integers(0, 9))
    if shape == 0 and values:
        values.pop()  # a field short
    elif shape == 1:
        values.append(draw(INT_FIELD))  # a field too many
    version = draw(st.sampled_from(["1"] * 8 + ["0", "2"]))
    return _cut(callbacks.SEPARATOR.join([version, kind, *values]))


def _cut(data: str, limit: int = callbacks.MAX_BYTES) -> str:
    """Telegram never hands over more than 64 bytes of callback data."""
    raw = data.encode()
    return raw[:limit].decode(errors="ignore") if len(raw) > limit else data


RANDOM_PAYLOAD = st.one_of(
    st.text(max_size=64).map(_cut),
    st.binary(max_size=64).map(lambda b: _cut(b.decode("latin-1"))),
    st.sampled_from(["", ":", "1:", "1::", "1:r", "1:r:", "💣", "1:r:1:ok:0\x00"]),
)

COMMAND_NAMES = [spec.name for spec in COMMANDS]
COMMAND = st.tuples(
    st.one_of(
        st.sampled_from(COMMAND_NAMES),
        st.sampled_from(COMMAND_NAMES),
        st.sampled_from(COMMAND_NAMES).map(str.upper),
        st.from_regex(r"[a-z_]{1,32}", fullmatch=True),
        st.sampled_from(["start@gridbot_test_bot", "help@other_bot", "ünïcode", "x" * 40]),
    ),
    st.lists(
        st.one_of(
            st.sampled_from(UNIT_CODES),
            st.sampled_from([str(p.telegram_id) for p in CAST]),
            st.sampled_from(["worker", "lead", "admin", "网格员", "zh", "en", "all", "week"]),
            INT_FIELD,
            st.sampled_from(["T-20261123-001", "T-20261123-002", "R-000001", "2026-11-23"]),
            small_text,
            odd_text,
        ),
        max_size=4,
    ),
).map(lambda t: "/" + t[0] + "".join(" " + arg for arg in t[1]))

#: -1 is the example's protagonist (a flow needs several steps by one person in a row).
#: Commands given arguments that exist in the database when they are played.
LIVE_COMMANDS = (
    "tip",
    "assign",
    "close",
    "reward",
    "site",
    "members",
    "invite",
    "disable",
    "enable",
    "bindgroup",
    "unbindgroup",
    "export",
    "reports",
)
#: How a drive begins: where it is, or a command starting a flow (/close: the latest tip).
DRIVE_STARTS = (None, None, "/report", "/tip", "/tip", "/update", "/close")
#: The button actions that move a flow forward (what someone finishing it would press).
FORWARD = {
    "r": {"cat", "site", "new", "st", "pd", "ns", "ok"},
    "td": {"src", "down", "here", "pd", "nc", "ok", "cpd", "yes", "no"},
    "ta": {"ack", "pass", "back"},
    "bf": {"pub"},
    "rp": set(),
}

WHO = st.one_of(st.just(-1), st.just(-1), st.just(-1), st.integers(0, len(CAST) - 1))
#: Members lead most examples: strangers only ever hear how to join.
PROTAGONIST = st.sampled_from([0, 1, 2, 2, 3, 3, 3, 4, 4, 5, 6])
#: Mostly the private chat; sometimes one of the groups.
WHERE = st.one_of(*[st.just(None)] * 9, st.integers(0, len(GROUPS) - 1))
#: An index into what exists when the action is played, counted from the latest.
PICK = st.one_of(st.integers(0, 1), st.integers(0, 1), st.integers(0, 5), st.integers(0, 2**16))
SETTLE = st.integers(0, 3).map(bool)  # mostly wait for the bot before the next action


def action(kind: str, **fields: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"kind": st.just(kind), "who": WHO, "where": WHERE, "settle": SETTLE, **fields}
    )


ACTIONS = st.one_of(
    action("text", text=TEXT),
    action("text", text=TEXT),
    action("command", text=COMMAND),
    action("command", text=COMMAND),
    action("command", text=COMMAND),
    *[action("press_real", message=PICK, button=PICK)] * 5,
    action("press_forged", message=PICK, data=well_formed_payload()),
    action("press_forged", message=PICK, data=RANDOM_PAYLOAD),
    action(
        "press_made_up",
        message_id=st.integers(1, 2**31),
        data=st.one_of(well_formed_payload(), RANDOM_PAYLOAD),
    ),
    action(
        "photo",
        seeds=st.lists(st.integers(0, 15), min_size=1, max_size=4),
        caption=st.one_of(st.none(), TEXT),
    ),
    action("document", doc=st.sampled_from(sorted(DOCUMENTS)), caption=st.one_of(st.none(), TEXT)),
    action(
        "location",
        lat=st.one_of(st.floats(-90, 90), st.floats(-1e6, 1e6), st.sampled_from([0.0, 33.0])),
        lon=st.one_of(st.floats(-180, 180), st.floats(-1e6, 1e6), st.sampled_from([0.0, 112.5])),
    ),
    action("sticker", emoji=st.sampled_from(["👍", "🏳️‍🌈", "", "\u200b"])),
    action("voice"),
    action(
        "contact",
        phone=st.one_of(st.sampled_from(["+8613800000000", "110"]), small_text),
        own=st.booleans(),
    ),
    action("edit", message=PICK, text=TEXT),
    action(
        "membership",
        group=st.integers(0, len(GROUPS) - 1),
        change=st.sampled_from(["add", "add", "promote", "remove", "leave"]),
    ),
    action("clock", hours=st.one_of(st.integers(0, 2), st.just(25))),
    *[
        action(
            "drive",
            start=st.sampled_from(DRIVE_STARTS),
            moves=st.lists(st.integers(0, 11), min_size=4, max_size=12),
        )
    ]
    * 2,
    *[
        action(
            "command_live",
            name=st.sampled_from(LIVE_COMMANDS),
            pick=PICK,
            tail=st.one_of(
                st.just([]),
                st.lists(st.one_of(st.sampled_from(UNIT_CODES), INT_FIELD, small_text), max_size=2),
            ),
        )
    ]
    * 2,
)

# --------------------------------------------------------------------------- the run


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []
        self.guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self.guard:
            self.records.append(record)


@dataclass
class Run:
    tg: Any
    people: list[TestUser]
    in_groups: dict[tuple[int, int], TestUser]
    sent: dict[int, list[str]] = field(default_factory=dict)  # what each person typed
    updates: int = 0
    examples: int = 0
    checked_calls: int = 0

    @property
    def server(self):
        return self.tg.server

    def sender(self, who: int, where: int | None) -> TestUser:
        if where is None:
            return self.people[who]
        return self.in_groups[(who, where)]

    def typed(self, who: int, *values: Any) -> None:
        self.sent.setdefault(CAST[who].telegram_id, []).extend(str(v) for v in values)


async def play(run: Run, step: dict[str, Any], protagonist: int) -> int:
    """Push the updates of one action; returns how many."""
    server = run.server
    kind, who = step["kind"], step["who"]
    if who < 0:
        who = protagonist
    where = step["where"]
    if where is not None and GROUPS[where][0] in server.gone:
        where = None  # the bot is not in that group: nothing written there reaches it
    user = run.sender(who, where)
    if kind in ("text", "command"):
        run.typed(who, step["text"])
        await user.send_text(step["text"])
        return 1
    if kind == "press_real":
        offered = [
            (message, data)
            for message in bot_messages(run, user.chat_id)
            for _, data in buttons(message)
            if data is not None
        ]
        if not offered:
            await user.send_text("/start")
            return 1
        latest = offered[-1 - step["message"] % len(offered)][0]
        choices = [data for message, data in offered if message is latest]
        message, data = latest, choices[step["button"] % len(choices)]
        run.typed(who, data)
        await user.press(message, data, strict=False)
        return 1
    if kind == "press_forged":
        messages = bot_messages(run, user.chat_id)
        run.typed(who, step["data"])
        if not messages:
            return await press_made_up(user, 10**6 + step["message"], step["data"])
        await user.press(messages[-1 - step["message"] % len(messages)], step["data"], strict=False)
        return 1
    if kind == "press_made_up":
        run.typed(who, step["data"])
        return await press_made_up(user, step["message_id"], step["data"])
    if kind == "photo":
        seeds = step["seeds"]
        album = f"album-{server.new_id()}" if len(seeds) > 1 else None
        if step["caption"] is not None:
            run.typed(who, step["caption"])
        for index, seed in enumerate(seeds):
            caption = step["caption"] if index == 0 else None
            await user.send_photo(photo_bytes(seed), caption=caption, media_group_id=album)
        return len(seeds)
    if kind == "document":
        make, name, mime = DOCUMENTS[step["doc"]]
        if step["caption"] is not None:
            run.typed(who, step["caption"])
        await user.send_document(make(), name, mime, caption=step["caption"])
        return 1
    if kind == "location":
        await user.send_location(step["lat"], step["lon"])
        return 1
    if kind == "sticker":
        await user.send_sticker(step["emoji"])
        return 1
    if kind == "voice":
        await user.send_voice()
        return 1
    if kind == "contact":
        run.typed(who, step["phone"])
        await user.send_contact(step["phone"], own=step["own"])
        return 1
    if kind == "edit":
        own = [
            m
            for m in server.messages(user.chat_id)
            if m.get("from", {}).get("id") == user.id and "text" in m
        ]
        if not own:
            run.typed(who, step["text"])
            await user.send_text(step["text"])
            return 1
        run.typed(who, step["text"])
        await user.send_edited_text(own[-1 - step["message"] % len(own)], step["text"])
        return 1
    if kind == "membership":
        if step["change"] in ("remove", "leave"):
            # Replies to what was sent before are on their way: a reply racing the
            # removal gets 403, which is the error handler's job, not a finding.
            await settle(run)
        membership(run, who, GROUPS[step["group"]][0], step["change"])
        return 1
    if kind == "drive":
        sent = 0
        if step["start"]:
            command = step["start"]
            if command == "/close":
                tips = await rows(run, "SELECT number FROM tip ORDER BY id DESC LIMIT 1")
                command += f" {tips[0][0]}" if tips else ""
            run.typed(who, command)
            await user.send_text(command)
            sent = 1
        return sent + await drive(run, who, user, step["moves"])
    if kind == "command_live":
        present = [i for i, (chat_id, _) in enumerate(GROUPS) if chat_id not in server.gone]
        if step["name"] in ("bindgroup", "unbindgroup") and present:
            user = run.sender(who, present[step["pick"] % len(present)])
        command = await live_command(run, step)
        run.typed(who, command)
        await user.send_text(command)
        return 1
    if kind == "clock":
        run.tg.clock.advance(timedelta(hours=step["hours"]))
        return 0
    raise AssertionError(f"unknown action {kind}")


async def drive(run: Run, who: int, user: TestUser, moves: list[int]) -> int:
    """Someone finishing whatever flow they are in: wait for the bot, then press a button
    that moves it forward, answer a reply keyboard, or send what a step may want (a
    photo, a place, some text); ``moves`` picks among those."""
    sent = 0
    for move in moves:
        await settle(run)
        # The latest question with buttons ("press a button above" has none of its own).
        messages = [m for m in bot_messages(run, user.chat_id)[-3:] if buttons(m)]
        latest = messages[-1] if messages else {}
        forward = [
            data
            for _, data in buttons(latest)
            if data
            and (button := callbacks.decode(data)) is not None
            and getattr(button, "act", "") in FORWARD.get(button.KIND, {""})
        ]
        keyboard = run.server.keyboard(user.chat_id) or []
        keys = [key for row in keyboard for key in row]
        if move < 6 and forward:
            data = forward[move % len(forward)]
            run.typed(who, data)
            await user.press(latest, data)
        elif move < 8 and keys:
            key = keys[move % len(keys)]
            if key.get("request_location"):
                await user.send_location(33.0 + move / 1000, 112.5)
            elif key.get("request_contact"):
                await user.send_contact("+8613800000000")
            else:
                run.typed(who, key["text"])
                await user.send_text(key["text"])
        elif move in (8, 9):
            await user.send_photo(photo_bytes(16 + len(run.server.calls) % 50))
        elif move == 10:
            await user.send_location(32.99, 112.52)
        else:
            district = CAST[who].district or "WL"
            markers = MARKERS.get(district, MARKERS["WL"])
            text = markers[move % len(markers)] if district != "NY" else "南阳市巡查点"
            run.typed(who, text)
            await user.send_text(text)
        sent += 1
    return sent


async def live_command(run: Run, step: dict[str, Any]) -> str:
    """A command whose first argument exists: a tip number, a site, a member, a unit."""
    name, pick = step["name"], step["pick"]
    tips = [number for (number,) in await rows(run, "SELECT number FROM tip ORDER BY id")]
    sites = [code for (code,) in await rows(run, "SELECT code FROM site ORDER BY id")]
    units = [code for (code,) in await rows(run, "SELECT code FROM org_unit ORDER BY id")]
    people = [str(p.telegram_id) for p in CAST]
    first = {
        "tip": tips,
        "assign": tips,
        "close": tips,
        "reward": tips,
        "site": sites,
        "disable": people,
        "enable": people,
    }.get(name, units)
    args = [first[-1 - pick % len(first)]] if first else []
    if name == "assign":
        args.append(units[pick % len(units)])
        args.append(str(pick % 100))
    elif name == "reward":
        args.append(["paid", "declined", "x"][pick % 3])
    elif name == "invite":
        args.append(["worker", "lead", "admin", "网格员"][pick % 4])
    elif name == "export":
        args = [["reports", "tips", "members", "updates"][pick % 4]]
    tail = step["tail"] if name not in ("bindgroup", "unbindgroup", "tip", "close") else []
    return " ".join([f"/{name}", *args, *tail])


def bot_messages(run: Run, chat_id: int) -> list[dict[str, Any]]:
    bot_id = run.server.bot["id"]
    return [m for m in run.server.messages(chat_id) if m.get("from", {}).get("id") == bot_id]


def buttons(message: dict[str, Any]) -> list[tuple[str, str | None]]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(b.get("text", ""), b.get("callback_data")) for row in rows for b in row]


async def press_made_up(user: TestUser, message_id: int, data: str) -> int:
    """A press on a message the bot never sent (or that is long gone)."""
    server = user.server
    message = {
        "message_id": message_id,
        "date": server.now(),
        "chat": user.chat,
        "from": server.bot,
        "text": "?",
    }
    query_id = str(4000000000000000000 + server.new_id())
    user.queries.add(query_id)
    server.open_queries.add(query_id)
    chat_instance = str(abs(user.chat_id * 31 + server.bot["id"]))
    user.cursor = server.mark()
    server.push(
        "callback_query",
        callback_query_json(query_id, user.user, message, data, chat_instance),
        chat_id=user.chat_id,
    )
    return 1


def membership(run: Run, who: int, chat_id: int, change: str) -> None:
    """The bot added to, removed from, or promoted in a group (a my_chat_member update)."""
    server = run.server
    by = CAST[who].telegram_id
    if change in ("remove", "leave"):
        server.remove_bot(chat_id, by, kicked=change == "remove")
        return
    was_gone = chat_id in server.gone
    server.gone.pop(chat_id, None)
    bot = server.bot
    old = {"user": bot, "status": "left" if was_gone else "member"}
    new: dict[str, Any] = {"user": bot, "status": "member"}
    if change == "promote":
        new = {
            "user": bot,
            "status": "administrator",
            "can_be_edited": False,
            "is_anonymous": False,
            "can_manage_chat": True,
            "can_delete_messages": True,
            "can_manage_video_chats": False,
            "can_restrict_members": False,
            "can_promote_members": False,
            "can_change_info": False,
            "can_invite_users": True,
            "can_post_stories": False,
            "can_edit_stories": False,
            "can_delete_stories": False,
        }
    server.push(
        "my_chat_member",
        {
            "chat": server.chats[chat_id],
            "from": server.users[by],
            "date": server.now(),
            "old_chat_member": old,
            "new_chat_member": new,
        },
        chat_id=chat_id,
    )


async def settle(run: Run, timeout: float = SETTLE_TIMEOUT) -> None:
    """Wait until the bot is idle: every update fetched and handled, no job due or
    running, the next long poll waiting, and no new call for two looks in a row."""
    app, server = run.tg.app, run.server
    tasks = app._Application__create_task_tasks  # PTB's own set of running handler tasks
    executor = app.job_queue.scheduler._lookup_executor("default")
    deadline = time.monotonic() + timeout
    quiet, seen = 0, -1
    while True:
        busy = (
            bool(server.pending_updates)
            or not app.update_queue.empty()
            or not server.polling
            or bool(tasks)
            or bool(app.job_queue.jobs())
            or bool(executor._pending_futures)
        )
        quiet = quiet + 1 if not busy and len(server.calls) == seen else 0
        if quiet >= 2:
            return
        seen = len(server.calls)
        if time.monotonic() > deadline:
            raise AssertionError(f"the bot did not settle in {timeout}s\n{server.describe()}")
        await asyncio.sleep(0.002)


# --------------------------------------------------------------------------- properties


def shown_texts(call: ApiCall) -> list[str]:
    """Everything a call shows: text or caption, album captions, button labels."""
    texts = [call.text, *(label for label, _ in call.buttons)]
    media = call.params.get("media")
    if isinstance(media, list):
        texts.extend(str(item.get("caption") or "") for item in media if isinstance(item, dict))
    return texts


async def secrets(run: Run) -> list[tuple[str, set[str]]]:
    """(token, the districts it belongs to) for what this run created, plus member names."""
    found: list[tuple[str, set[str]]] = []
    db = run.tg.services.db
    queries = (
        "SELECT s.code, u.code FROM site s JOIN org_unit u ON u.id = s.unit_id",
        "SELECT r.id, u.code FROM report r JOIN org_unit u ON u.id = r.unit_id",
        "SELECT t.number, u.code, a.code FROM tip t JOIN org_unit u ON u.id = t.unit_id "
        "LEFT JOIN org_unit a ON a.id = t.assigned_unit_id",
    )
    async with db.read() as conn:
        for sql in queries:
            async with conn.execute(sql) as cursor:
                for token, *units in await cursor.fetchall():
                    if isinstance(token, int):  # a report's id: its number
                        token = f"R-{token:06d}"
                    if sql.startswith("SELECT s.code") and not any(
                        token == m for ms in MARKERS.values() for m in ms
                    ):
                        continue  # random site names may be any short string
                    found.append((token, {u.split("-", 1)[0] for u in units if u}))
    for person in CAST:
        if person.name and person.district != "NY":
            found.append((person.name, {person.district or ""}))
    return found


async def check_no_leaks(run: Run) -> None:
    """Nobody is shown a secret of a district they are not in, unless they typed it."""
    tokens = await secrets(run)
    calls = run.server.calls[run.checked_calls :]
    for index, person in enumerate(CAST):
        if person.district == "NY":
            continue  # the city admin sees everything
        queries = set(run.people[index].queries)
        for (who, _), sender in run.in_groups.items():
            if who == index:
                queries |= sender.queries
        typed = run.sent.get(person.telegram_id, [])
        for call in calls:
            if not call.ok:
                continue
            private = call.method in SHOWING_METHODS and call.chat_id == person.telegram_id
            answer = (
                call.method == "answerCallbackQuery"
                and str(call.params.get("callback_query_id")) in queries
            )
            if not (private or answer):
                continue
            for shown in shown_texts(call):
                for token, districts in tokens:
                    if token not in shown or person.district in districts:
                        continue
                    if any(token in value for value in typed):
                        continue
                    raise AssertionError(
                        f"{person.first_name} ({person.unit or 'not a member'}) was shown "
                        f"{token!r} of {sorted(districts)}: {call.summary()}\n{shown[:500]!r}"
                    )


async def rows(run: Run, sql: str) -> list[tuple[Any, ...]]:
    async with run.tg.services.db.read() as conn, conn.execute(sql) as cursor:
        return [tuple(row) for row in await cursor.fetchall()]


async def check_database(run: Run) -> None:
    if run.tg.services.db.dialect == "sqlite":  # PostgreSQL enforces keys on every write
        assert await rows(run, "PRAGMA integrity_check") == [("ok",)]
        assert await rows(run, "PRAGMA foreign_key_check") == []
    invariants = {
        "a report without 1–10 photos": (
            "SELECT r.id, COUNT(p.report_id) FROM report r "
            "LEFT JOIN report_photo p ON p.report_id = r.id "
            "GROUP BY r.id HAVING COUNT(p.report_id) NOT BETWEEN 1 AND 10"
        ),
        "report photo positions with gaps": (
            "SELECT report_id FROM report_photo GROUP BY report_id "
            "HAVING MIN(position) < 0 OR COUNT(DISTINCT position) != COUNT(*)"
        ),
        "a draft with more than 10 photos": (
            "SELECT draft_id FROM draft_photo GROUP BY draft_id HAVING COUNT(*) > 10"
        ),
        "a site whose report_count is off": (
            "SELECT s.id FROM site s WHERE s.report_count != "
            "(SELECT COUNT(*) FROM report r WHERE r.site_id = s.id)"
        ),
        "a site whose last report is not its latest": (
            "SELECT s.id FROM site s WHERE s.report_count > 0 "
            "AND s.last_report_id IS DISTINCT FROM "
            "(SELECT MAX(r.id) FROM report r WHERE r.site_id = s.id)"
        ),
        "a report in another unit than its site": (
            "SELECT r.id FROM report r JOIN site s ON s.id = r.site_id WHERE s.unit_id != r.unit_id"
        ),
        "daily counters that do not add up": (
            "SELECT 1 WHERE (SELECT COUNT(*) FROM report) != "
            "(SELECT COALESCE(SUM(reports), 0) FROM unit_day) OR (SELECT COUNT(*) FROM report)"
            " != (SELECT COALESCE(SUM(reports), 0) FROM member_day)"
        ),
        "a closed tip without its closing": (
            "SELECT id FROM tip WHERE state = 'closed' AND (closed_at IS NULL OR valid IS NULL)"
        ),
        "an assigned tip without a unit": (
            "SELECT id FROM tip WHERE state IN ('assigned', 'verifying') "
            "AND assigned_unit_id IS NULL"
        ),
        "a reward for a tip not closed as valid": (
            "SELECT w.tip_id FROM reward w JOIN tip t ON t.id = w.tip_id "
            "WHERE t.state != 'closed' OR t.valid != 1"
        ),
    }
    for what, sql in invariants.items():
        found = await rows(run, sql)
        assert not found, f"{what}: {found[:5]}"
    files = run.tg.services.reports.files
    hashes = await rows(
        run,
        "SELECT sha256 FROM report_photo UNION SELECT sha256 FROM draft_photo "
        "UNION SELECT sha256 FROM tip_photo UNION SELECT sha256 FROM tip_draft_photo",
    )
    missing = [sha for (sha,) in hashes if not files.exists(sha)]
    assert not missing, f"evidence files missing: {missing[:5]}"


def check_calls(run: Run, errors: ErrorLog) -> None:
    server = run.server
    assert not server.unknown_calls, [c.method for c in server.unknown_calls]
    refused = [
        call
        for call in server.calls[run.checked_calls :]
        if call.status == 400 or (call.status == 403 and call.chat_id not in server.gone)
    ]
    assert not refused, "calls Telegram would refuse:\n" + "\n".join(
        f"{c.summary()} {c.description}" for c in refused[:10]
    )
    with errors.guard:
        records, errors.records[:] = list(errors.records), []
    assert not records, "errors logged:\n" + "\n".join(
        f"{r.name}: {r.getMessage()}\n{logging.Formatter().formatException(r.exc_info)}"
        if r.exc_info
        else f"{r.name}: {r.getMessage()}"
        for r in records[:5]
    )


async def play_example(
    run: Run, protagonist: int, steps: list[dict[str, Any]], errors: ErrorLog
) -> None:
    for index, step in enumerate(steps):
        try:
            run.updates += await play(run, step, protagonist)
            if step["settle"]:
                await settle(run)
        except Exception as exc:
            exc.add_note(f"at step {index} of example {run.examples}: {step!r:.300}")
            raise
    await settle(run)
    run.examples += 1
    check_calls(run, errors)
    await check_no_leaks(run)
    await check_database(run)
    run.checked_calls = len(run.server.calls)


# --------------------------------------------------------------------------- the test


@pytest.fixture
def tg_config() -> str:
    """Photos are answered as soon as the bot is idle (no album wait to sit through)."""
    return "[reports]\nalbum_wait_seconds = 0\n"


def test_every_button_kind_is_fuzzed():
    assert set(BUTTON_FIELDS) == set(callbacks._KINDS)


async def test_fuzz_smoke(tg):
    """The first few examples of the full run, so the quick run sees the fuzzer work."""
    await fuzz_run(tg, SMOKE_EXAMPLES, SMOKE_EXAMPLES * MIN_ACTIONS)


@pytest.mark.slow
async def test_fuzz(tg):
    await fuzz_run(tg, EXAMPLES, MIN_UPDATES)


async def fuzz_run(tg, examples: int, min_updates: int) -> None:
    """Play ``examples`` examples on the bot, checking each; at least ``min_updates`` in all."""
    # No flood limits in the test: they only slow the run down (PTB's AIORateLimiter
    # would hold group replies to 20 a minute).
    limiter = tg.app.bot.rate_limiter
    limiter.fair = None  # the overall limit, shared fairly between chats (bot.runtime.sending)
    limiter._group_max_rate = 0
    for person in CAST:
        if person.unit:
            await tg.add(person.telegram_id, person.unit, person.role, person.name)
    people = [
        tg.server.user(p.telegram_id, first_name=p.first_name, language_code=p.language)
        for p in CAST
    ]
    chats = [tg.server.group(chat_id, title) for chat_id, title in GROUPS]
    in_groups = {
        (who, where): people[who].in_chat(chat)
        for who in range(len(CAST))
        for where, chat in enumerate(chats)
    }
    run = Run(tg, people, in_groups)
    errors = ErrorLog()
    logging.getLogger().addHandler(errors)
    loop = asyncio.get_running_loop()
    started = time.monotonic()

    @settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=(Phase.explicit, Phase.generate),
        suppress_health_check=list(HealthCheck),
        print_blob=False,
        report_multiple_bugs=False,
    )
    @given(PROTAGONIST, st.lists(ACTIONS, min_size=MIN_ACTIONS, max_size=MAX_ACTIONS))
    def fuzz(protagonist: int, steps: list[dict[str, Any]]) -> None:
        example = play_example(run, protagonist, steps, errors)
        future = asyncio.run_coroutine_threadsafe(example, loop)
        future.result(timeout=600)

    try:
        await asyncio.to_thread(fuzz)
    finally:
        logging.getLogger().removeHandler(errors)
    elapsed = time.monotonic() - started
    print(f"fuzz: {run.updates} updates in {run.examples} examples, {elapsed:.0f}s")
    if os.environ.get("GRIDBOT_FUZZ_STATS"):
        import collections

        print(collections.Counter(c.method for c in tg.server.calls))
        for table in (
            "report",
            "site",
            "tip",
            "report_draft",
            "draft_photo",
            "tip_draft",
            "member",
            "group_chat",
            "reward",
            "status_update",
            "invite",
            "audit",
        ):
            print(table, await rows(run, f"SELECT COUNT(*) FROM {table}"))
        print(await rows(run, "SELECT state, COUNT(*) FROM tip GROUP BY state"))
        texts = collections.Counter(
            c.text.split("\n")[0][:40] for c in tg.server.calls if c.method == "sendMessage"
        )
        for line, n in texts.most_common(300):
            print(n, repr(line))
        answers = collections.Counter(
            str(c.params.get("text"))[:40]
            for c in tg.server.calls
            if c.method == "answerCallbackQuery"
        )
        print(answers.most_common(30))
    assert run.updates >= min_updates, (run.updates, run.examples)
