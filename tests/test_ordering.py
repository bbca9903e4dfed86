"""Updates of one chat run in order; different chats run side by side."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update, User

from bot.runtime.ordering import ChatOrderedUpdateProcessor


def _update(update_id: int, chat_id: int) -> Update:
    user = User(chat_id, "u", False)
    chat = Chat(chat_id, "private")
    message = Message(update_id, None, chat, from_user=user, text="x")  # type: ignore[arg-type]
    return Update(update_id, message=message)


async def test_one_chat_in_order_many_chats_at_once():
    processor = ChatOrderedUpdateProcessor(64)
    log: list[tuple[str, int, int]] = []
    running: dict[int, int] = {}
    overlap_seen = asyncio.Event()

    async def work(update_id: int, chat_id: int, delay: float) -> None:
        running[chat_id] = running.get(chat_id, 0) + 1
        assert running[chat_id] == 1, "two updates of one chat ran at once"
        if len([c for c, n in running.items() if n]) > 1:
            overlap_seen.set()
        log.append(("start", chat_id, update_id))
        await asyncio.sleep(delay)
        log.append(("end", chat_id, update_id))
        running[chat_id] -= 1

    plan = [(1, 111, 0.05), (2, 111, 0.0), (3, 222, 0.0), (4, 111, 0.01), (5, 222, 0.02)]
    await asyncio.gather(
        *(processor.process_update(_update(u, c), work(u, c, d)) for u, c, d in plan)
    )
    for chat in (111, 222):
        starts = [u for kind, c, u in log if kind == "start" and c == chat]
        assert starts == sorted(starts)
    assert overlap_seen.is_set()
    assert not processor._chats  # released once idle


async def test_an_update_is_marked_done_before_the_next_one_of_its_chat_starts():
    """Otherwise a crash could leave an earlier update unfinished behind a later one
    that was marked done, and the replay would run the earlier one last."""
    processor = ChatOrderedUpdateProcessor(64)
    finished: list[int] = []
    seen: dict[int, list[int]] = {}

    class Inbox:
        async def finish(self, update_id: int) -> None:
            await asyncio.sleep(0.02)  # a commit takes a moment
            finished.append(update_id)

    processor.inbox = lambda: Inbox()

    async def work(update_id: int) -> None:
        seen[update_id] = list(finished)

    await asyncio.gather(*(processor.process_update(_update(u, 111), work(u)) for u in (1, 2, 3)))
    assert seen == {1: [], 2: [1], 3: [1, 2]}
    assert finished == [1, 2, 3]


async def test_a_chat_waiting_for_its_turn_holds_no_slot():
    """One chat's queue must not fill the slots all chats share: with two slots and one
    chat's first update stuck, its nine others wait for their turn, while another chat's
    updates run — each chat still in its own order."""
    processor = ChatOrderedUpdateProcessor(2)
    started: dict[int, list[int]] = {111: [], 222: []}
    release = asyncio.Event()
    other_done = asyncio.Event()

    async def work(update_id: int, chat_id: int) -> None:
        started[chat_id].append(update_id)
        if update_id == 1:
            await release.wait()
        if chat_id == 222 and len(started[222]) == 3:
            other_done.set()

    flood = [(u, 111) for u in range(1, 11)]
    other = [(u, 222) for u in range(11, 14)]
    tasks = [
        asyncio.create_task(processor.process_update(_update(u, c), work(u, c)))
        for u, c in flood + other
    ]
    await asyncio.wait_for(other_done.wait(), 2)  # the original code waits forever here
    assert started == {111: [1], 222: [11, 12, 13]}
    release.set()
    await asyncio.gather(*tasks)
    assert started[111] == list(range(1, 11))
    assert not processor._chats


async def test_past_the_cap_a_chat_is_told_once_and_the_rest_is_dropped_but_marked_done(
    caplog,
):
    processor = ChatOrderedUpdateProcessor(64, max_queued_per_chat=3)
    ran: list[int] = []
    finished: list[int] = []
    told: list[tuple[int, int]] = []
    release = asyncio.Event()

    class Inbox:
        async def finish(self, update_id: int) -> None:
            finished.append(update_id)

    async def tell(update: Update, queued: int) -> None:
        told.append((update.update_id, queued))

    processor.inbox = lambda: Inbox()
    processor.on_dropped = tell

    async def work(update_id: int) -> None:
        ran.append(update_id)
        if update_id == 1:
            await release.wait()

    with caplog.at_level("INFO", logger="gridbot.updates"):
        tasks = [
            asyncio.create_task(processor.process_update(_update(u, 111), work(u)))
            for u in range(1, 11)
        ]
        await asyncio.sleep(0.05)
        # 1 runs, 2 and 3 wait their turn; 4–10 are dropped, the chat told at the first.
        assert told == [(4, 3)]
        assert sorted(finished) == list(range(4, 11))
        release.set()
        await asyncio.gather(*tasks)
    assert ran == [1, 2, 3]
    assert finished[-3:] == [1, 2, 3]
    dropped = [r for r in caplog.records if r.getMessage() == "update.dropped"]
    assert [r.fields["update_id"] for r in dropped] == list(range(4, 11))
    assert not processor._chats

    # Once the queue has emptied, the chat is served again (and told again if it floods).
    await processor.process_update(_update(11, 111), work(11))
    assert ran[-1] == 11


async def test_updates_taken_in_at_intake_count_once_and_past_the_cap_are_refused(caplog):
    """``admit`` counts an update into its chat's queue before it is parsed; one past the
    cap is refused there, logged and the chat told once (a flood's dropped updates are
    never parsed nor run); ``release`` takes an admission back."""
    processor = ChatOrderedUpdateProcessor(64, max_queued_per_chat=2)
    told: list[tuple[int, int]] = []
    parsed: list[int] = []

    async def tell(update: Update, queued: int) -> None:
        told.append((update.update_id, queued))

    def parse(update_id: int) -> Update:
        parsed.append(update_id)
        return _update(update_id, 111)

    processor.on_dropped = tell
    assert processor.admit(1, 111) and processor.admit(2, 111)
    assert not processor.admit(3, 111) and not processor.admit(4, 111)
    assert processor.admit(5, 222)  # another chat has room
    with caplog.at_level("INFO", logger="gridbot.updates"):
        for update_id in (3, 4):
            processor.dropped(
                {"update_id": update_id, "message": {"chat": {"id": 111}, "text": "x"}},
                111,
                lambda u=update_id: parse(u),
            )
        await asyncio.sleep(0)
    assert told == [(3, 2)] and parsed == [3]  # told once; only that one parsed
    dropped = [r.fields for r in caplog.records if r.getMessage() == "update.dropped"]
    assert [(f["update_id"], f["chat_id"], f["kind"], f["queued"]) for f in dropped] == [
        (3, 111, "text", 2),
        (4, 111, "text", 2),
    ]

    # An admitted update is not counted again when it runs; a released one frees its place.
    ran: list[int] = []

    async def work(update_id: int) -> None:
        ran.append(update_id)

    processor.release(5)
    await processor.process_update(_update(1, 111), work(1))
    assert processor.admit(6, 111)  # 2 and 6 queued: full again
    assert not processor.admit(7, 111)
    await processor.process_update(_update(2, 111), work(2))
    await processor.process_update(_update(6, 111), work(6))
    assert ran == [1, 2, 6]
    assert not processor._chats and not processor._admitted
