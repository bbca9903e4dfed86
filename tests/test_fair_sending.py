"""The overall send limit is shared by chats in turns, not first come, first served."""

from __future__ import annotations

import asyncio

from bot.runtime.sending import FairQueue, RetryingRateLimiter


async def test_a_chat_with_many_sends_waiting_does_not_hold_up_another_chats_send():
    # A burst of 5, then 5 sends per 50 ms in all (one chat half of that): the flood
    # queues at once.
    limiter = RetryingRateLimiter(overall_max_rate=5, overall_time_period=0.05)
    order: list[int] = []

    async def send(chat_id: int) -> bool:
        order.append(chat_id)
        return True

    async def request(chat_id: int) -> None:
        await limiter.process_request(
            send, (chat_id,), {}, "sendMessage", {"chat_id": chat_id}, None
        )

    flood = [asyncio.create_task(request(111)) for _ in range(40)]
    await asyncio.sleep(0)  # the flood's sends are all waiting for the limit
    other = asyncio.create_task(request(222))
    await asyncio.gather(*flood, other)
    # 222's one send goes with the next free place, not after the flood's other 35 or
    # so (as with PTB's limiter, first come, first served).
    assert order.index(222) <= 7, order
    assert order.count(111) == 40


async def test_chats_with_sends_waiting_take_turns():
    """Round robin: two chats each with 20 sends waiting, then a third chat's one send;
    the third goes after at most one send of each (no share limit here)."""
    fair = FairQueue(rate=4, period=0.02, chat_share=1.0)
    order: list[str] = []

    async def send(chat: str) -> None:
        await fair.turn(chat)
        order.append(chat)

    first = [asyncio.create_task(send(chat)) for _ in range(20) for chat in ("a", "b")]
    async with asyncio.timeout(5):
        while fair.waiting < 12:  # a queue first come, first served would make c wait out
            await asyncio.sleep(0.001)
    sent_before: list[int] = []

    async def late_send() -> None:
        sent_before.append(len(order))  # on a busy machine more than the burst may be out
        await send("c")

    late = asyncio.create_task(late_send())
    await asyncio.gather(*first, late)
    # 4 went at once (the burst); then a, b take turns and c joins the rotation: it waits
    # for one send of each, not for the sends queued before it. On a loaded machine sends
    # already given their turn may not have run yet when c joins (the rate refills every
    # 20 ms of real time), hence room for two more rotations; first come, first served
    # would put c behind the 12 or more sends queued when it came.
    assert order.index("c") <= sent_before[0] + 6, order
    assert order[:4] == ["a", "b", "a", "b"]
    assert order.count("a") == order.count("b") == 20
