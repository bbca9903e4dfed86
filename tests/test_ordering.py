"""Updates of one chat run in order; different chats run side by side."""

from __future__ import annotations

import asyncio

from telegram import Chat, Message, Update, User

from bot.ordering import ChatOrderedUpdateProcessor


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
    assert not processor._locks  # released once idle


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
