"""The overall send limit is shared by chats in turns, not first come, first served."""

from __future__ import annotations

import asyncio

from bot.sending import RetryingRateLimiter


async def test_a_chat_with_many_sends_waiting_delays_another_chat_by_one_turn():
    # 5 sends per 50 ms (a burst of 5, then one every 10 ms): sends queue quickly.
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
    # The burst of 5 went at once; then the chats take turns, so 222's one send goes
    # with the next free place, not after the flood's other 35 (as with PTB's limiter).
    assert order.index(222) <= 7, order
    assert order.count(111) == 40
