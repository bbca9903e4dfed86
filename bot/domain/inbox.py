"""The durable inbox: no update is confirmed to Telegram before it is committed here.

python-telegram-bot confirms updates before its handlers run (the polling offset moves
as soon as updates are queued; its webhook answers 200 before handling), so a crash
would lose what was in flight. gridbot's own poller (``bot.runtime.polling``) and webhook
handler (``bot.runtime.webhook``) call ``receive`` first and confirm only after it returns;
the update processor (``bot.runtime.ordering``) calls ``finish`` after the handlers, still
inside the chat's turn, so a chat's next update never starts before the previous one
is marked done (a replay never runs an earlier update after a later one). On start,
``unfinished`` gives back whatever was received and not finished — a crash mid-report,
a kill — to be handled again.

Finishing is a transaction of its own after the handler, not part of the handler's
transactions: those commit before the reply is sent, and holding the one write lock
across network calls would serialise every chat. So an update whose effects committed
just before a crash is handled again; handlers are idempotent (drafts move by state,
a submitted draft answers with its number, a used button is stale), so the replay
changes nothing that was done. An update that cannot be stored at all (an unpaired
surrogate in its text, which SQLite cannot encode) is kept aside in a quarantine table,
ASCII-escaped, and logged; the updates behind it go on. An update that was still
unfinished at ``MAX_ATTEMPTS`` starts is dropped with an error in the log rather than
crash the bot forever.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import json
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from bot.core.clock import Clock
from storage import inbox as inbox_repo
from storage.db import VALUE_ERRORS, Connection, Database
from storage.inbox import Incoming

log = logging.getLogger("gridbot.inbox")

MAX_ATTEMPTS = 5
# Errors that say an update itself cannot be stored (text SQLite cannot encode, such as an
# unpaired surrogate; a number too large for it; a malformed update): it is quarantined.
# Anything else (a locked or full database) fails the batch, fetched again later.
UNSTORABLE = (
    ValueError,  # UnicodeEncodeError among them
    TypeError,
    KeyError,
    OverflowError,
    *VALUE_ERRORS,  # the database's (either backend)
)
# Telegram restarts update ids at random after a week without updates; handled rows are
# forgotten long before, so an old id can never shadow a new update.
KEEP_DONE = timedelta(days=2)
# With several processes (PostgreSQL): an update still unfinished this long after it was
# received was left by a process that died (or is stuck); the leader hands it to its own
# process (``stale``), and only such updates count a start (``unfinished``) — the ones
# other processes are handling right now are replayed without counting.
STALE_AFTER = timedelta(seconds=60)


@dataclass(frozen=True)
class Replay:
    update_id: int
    data: dict[str, Any]


def dedupe_key(data: dict[str, Any]) -> tuple[str | None, int | None]:
    """The (dedupe key, chat id) of an update's JSON."""
    for kind, prefix in (("message", "m"), ("edited_message", "e"), ("channel_post", "m")):
        message = data.get(kind)
        if isinstance(message, dict):
            chat = (message.get("chat") or {}).get("id")
            number = message.get("message_id")
            if chat is None or number is None:
                return None, chat
            key = f"{prefix}:{chat}:{number}"
            if prefix == "e":
                key += f":{message.get('edit_date')}"
            return key, chat
    query = data.get("callback_query")
    if isinstance(query, dict) and query.get("id"):
        chat = ((query.get("message") or {}).get("chat") or {}).get("id")
        return f"c:{query['id']}", chat if chat is not None else (query.get("from") or {}).get("id")
    member = data.get("my_chat_member")
    if isinstance(member, dict):
        return None, (member.get("chat") or {}).get("id")
    return None, None


def _incoming(data: dict[str, Any]) -> Incoming:
    """An update's row in the inbox; raises one of ``UNSTORABLE`` if it has none."""
    key, chat = dedupe_key(data)
    return Incoming(int(data["update_id"]), key, chat, json.dumps(data, ensure_ascii=False))


@dataclass
class _Batch:
    """Done-marks waiting to be committed together."""

    update_ids: list[int]
    committed: asyncio.Future[None]


class Inbox:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._batch: _Batch | None = None
        self._committing: set[asyncio.Task[None]] = set()

    async def receive(
        self,
        updates: list[dict[str, Any]],
        admit: Callable[[int, int | None], bool] | None = None,
    ) -> list[int]:
        """Commit updates (JSON as Telegram sent it); returns the ids that are new and to
        be handled, in order.

        A batch is stored in one statement (one hop to the database thread, whatever its
        size); only if that fails because an update in it cannot be stored are its updates
        stored one by one, and the ones that cannot be stored quarantined. ``admit`` (the
        update id, the chat id) is asked about each new update before the commit: one it
        refuses (its chat has too many queued) is stored already done, in the same
        commit, and not returned — it is never handled, nor replayed."""
        fresh: list[int] = []
        refused: list[int] = []
        now = self.clock.now()
        async with self.db.transaction() as conn:
            readable: list[tuple[dict[str, Any], Incoming]] = []
            for data in updates:
                try:
                    readable.append((data, _incoming(data)))
                except UNSTORABLE as exc:
                    await self._quarantine(conn, data, exc, now)
            for start in range(0, len(readable), inbox_repo.ADD_MANY_MAX):
                chunk = readable[start : start + inbox_repo.ADD_MANY_MAX]
                try:
                    # A failed statement leaves the rest of the transaction as it was.
                    added = await inbox_repo.add_many(conn, [i for _, i in chunk], now)
                except UNSTORABLE:
                    added = await self._add_one_by_one(conn, chunk, now)
                for _, incoming in chunk:
                    if incoming.update_id not in added:
                        continue
                    added.discard(incoming.update_id)  # an id twice in a batch: once
                    if admit is None or admit(incoming.update_id, incoming.chat_id):
                        fresh.append(incoming.update_id)
                    else:
                        refused.append(incoming.update_id)
            if refused:
                await inbox_repo.done_many(conn, refused, now)
        if len(fresh) + len(refused) < len(updates):
            count = len(updates) - len(fresh) - len(refused)
            log.info("inbox.duplicates", extra={"fields": {"count": count}})
        return fresh

    async def _add_one_by_one(
        self, conn: Connection, chunk: list[tuple[dict[str, Any], Incoming]], now: datetime
    ) -> set[int]:
        added: set[int] = set()
        for data, incoming in chunk:
            try:
                if await inbox_repo.add(conn, incoming, now):
                    added.add(incoming.update_id)
            except UNSTORABLE as exc:
                await self._quarantine(conn, data, exc, now)
        return added

    async def _quarantine(
        self, conn: Connection, data: dict[str, Any], exc: Exception, now: datetime
    ) -> None:
        """Keep an update that cannot be stored aside, so the ones behind it go on. If
        even that fails, the error stands and the batch is fetched again."""
        update_id = data.get("update_id") if isinstance(data, dict) else None
        update_id = update_id if isinstance(update_id, int) else None
        try:
            chat = dedupe_key(data)[1]
        except Exception:  # not even the chat can be read
            chat = None
        chat = chat if isinstance(chat, int) and abs(chat) < 2**63 else None
        try:
            raw = json.dumps(data, ensure_ascii=True, default=repr)
        except (TypeError, ValueError):
            raw = ascii(data)
        detail = f"{type(exc).__name__}: {exc}"[:300].encode("ascii", "backslashreplace")
        error = detail.decode("ascii")
        await inbox_repo.quarantine(conn, update_id, chat, raw, error, now)
        log.error(
            "inbox.quarantined",
            extra={"fields": {"update_id": update_id, "chat_id": chat, "error": error}},
        )

    async def finish(self, update_id: int) -> None:
        """Mark an update done; returns once that is committed.

        Marks are committed in groups: the first waiting mark starts a commit, and every
        mark that arrives while that commit waits for the write lock joins it — one
        transaction for the updates of many chats finishing together. Groups commit in
        the order they were started (the write lock is first come, first served).
        Inside a transaction the mark simply joins it (waiting for a group commit there
        would wait for the lock the caller holds)."""
        if self.db.in_transaction():
            async with self.db.transaction() as conn:
                await inbox_repo.done(conn, update_id, self.clock.now())
            return
        batch = self._batch
        if batch is None:
            batch = self._batch = _Batch([], asyncio.get_running_loop().create_future())
            # A context of its own: not inside whichever caller's read.
            task = asyncio.create_task(self._commit(batch), context=contextvars.Context())
            self._committing.add(task)
            task.add_done_callback(functools.partial(self._settle, batch))
        batch.update_ids.append(update_id)
        await asyncio.shield(batch.committed)

    async def _commit(self, batch: _Batch) -> None:
        async with self.db.transaction() as conn:
            # From here on, new marks go to the next group.
            if self._batch is batch:
                self._batch = None
            await inbox_repo.done_many(conn, batch.update_ids, self.clock.now())

    def _settle(self, batch: _Batch, task: asyncio.Task[None]) -> None:
        """Tell the group's callers how its commit ended — also when the task was
        cancelled before it began (stopping: the marks stay unfinished, replayed later)."""
        self._committing.discard(task)
        if self._batch is batch:
            self._batch = None
        if batch.committed.done():
            return
        if task.cancelled():
            batch.committed.cancel()
        elif (error := task.exception()) is not None:
            batch.committed.set_exception(error)
        else:
            batch.committed.set_result(None)

    @property
    def shared(self) -> bool:
        """Whether other processes handle updates from this inbox too (PostgreSQL)."""
        return self.db.shared

    @asynccontextmanager
    async def chat_turn(self, chat_id: int, update_id: int) -> AsyncIterator[list[Replay]]:
        """Across processes: hold the chat's lock and yield what is to be handled now, in
        order — the chat's updates not done yet up to ``update_id``, which is the last of
        them unless another process has handled it already (then it is missing and is
        not to be handled again). The earlier ones were committed by other processes (or
        left by a dead one) and not handled yet: they go first, so a chat's updates run in
        the order Telegram numbered them whichever process received each. The caller
        marks each one done (``finish``) before the block ends, while the lock is held.
        An update that is not in the inbox at all (never stored) is handled as it is."""
        async with self.db.chat_lock(chat_id):
            async with self.db.read() as conn:
                rows = await inbox_repo.chat_backlog(conn, chat_id, update_id)
                if (not rows or rows[-1].update_id != update_id) and await inbox_repo.is_done(
                    conn, update_id
                ) is None:
                    rows.append(inbox_repo.Pending(update_id, "null", 0))
            yield [Replay(row.update_id, json.loads(row.payload)) for row in rows]

    async def unfinished(self) -> list[Replay]:
        """What to handle again after a restart, oldest first; gives up on updates that
        have failed too often."""
        now = self.clock.now()
        replays: list[Replay] = []
        settled = now - STALE_AFTER
        async with self.db.transaction() as conn:
            for row in await inbox_repo.unfinished(conn):
                if self.shared and row.received_at is not None and row.received_at >= settled:
                    # maybe in the hands of another live process: replayed (its chat's
                    # turn skips it if that one finishes it first), not counted
                    replays.append(Replay(row.update_id, json.loads(row.payload)))
                    continue
                if row.attempts + 1 >= MAX_ATTEMPTS:
                    log.error(
                        "inbox.given_up",
                        extra={"fields": {"update_id": row.update_id, "starts": row.attempts}},
                    )
                    await inbox_repo.done(conn, row.update_id, now)
                    continue
                await inbox_repo.start(conn, row.update_id)
                replays.append(Replay(row.update_id, json.loads(row.payload)))
        if replays:
            log.info("inbox.replaying", extra={"fields": {"count": len(replays)}})
        return replays

    async def stale(self, seen: set[int]) -> list[Replay]:
        """With several processes: updates left unfinished ``STALE_AFTER`` after they came
        (their process died and has not come back), not in ``seen``; the leader's process
        handles them, each in its chat's turn."""
        if not self.shared:
            return []
        async with self.db.read() as conn:
            rows = await inbox_repo.unfinished(conn, self.clock.now() - STALE_AFTER)
        return [Replay(r.update_id, json.loads(r.payload)) for r in rows if r.update_id not in seen]

    async def prune(self) -> int:
        """Forget updates marked done more than ``KEEP_DONE`` ago; returns how many. Unfinished
        ones stay, to be replayed."""
        before = self.clock.now() - KEEP_DONE
        async with self.db.transaction() as conn:
            return await inbox_repo.prune(conn, before)
