"""Routing plain private messages to the conversation a person is in.

A multi-step flow (a report draft, a tip draft…) keeps its state in its own draft table
and marks itself active in ``active_flow`` (see ``storage.chats``) whenever it starts or
moves on. A private message that is not a command goes to the active flow's message
handler; if there is none, or it does not take the message, each *starter* is asked in
turn (a photo with no draft starts a report). Handlers return True when they took the
message. Areas register with ``flow(kind)`` and ``starter`` at import time; ``kind`` is a
``bot.domain.flows.Flow`` (whose value is what ``active_flow`` stores). The steps inside a
flow are its table in the domain (``REPORT_FLOW``…), asked through the area's ``ASKERS``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update

from bot.domain.members import Caller
from bot.runtime.context import GridContext

FlowHandler = Callable[[Update, GridContext, Caller], Awaitable[bool]]

_FLOWS: dict[str, FlowHandler] = {}
_STARTERS: list[FlowHandler] = []


def flow(kind: str) -> Callable[[FlowHandler], FlowHandler]:
    """Register the message handler of the flow ``kind``."""

    def register(handler: FlowHandler) -> FlowHandler:
        if kind in _FLOWS:
            raise ValueError(f"flow {kind!r} registered twice")
        _FLOWS[kind] = handler
        return handler

    return register


def starter(handler: FlowHandler) -> FlowHandler:
    """Register a handler asked when no active flow took a message."""
    _STARTERS.append(handler)
    return handler


async def dispatch(update: Update, context: GridContext, caller: Caller) -> bool:
    """Give the message to the active flow, else to the starters; True if one took it."""
    handler = _FLOWS.get(caller.flow or "")
    if handler is not None and await handler(update, context, caller):
        return True
    for start in _STARTERS:
        if await start(update, context, caller):
            return True
    return False


_CANCELLERS: dict[str, FlowHandler] = {}


def canceller(kind: str) -> Callable[[FlowHandler], FlowHandler]:
    """Register what /cancel does while the flow ``kind`` is active (True: dropped)."""

    def register(handler: FlowHandler) -> FlowHandler:
        if kind in _CANCELLERS:
            raise ValueError(f"canceller for {kind!r} registered twice")
        _CANCELLERS[kind] = handler
        return handler

    return register


async def cancel(update: Update, context: GridContext, caller: Caller) -> None:
    """/cancel: drop the draft of the conversation the member is in."""
    from handlers.common import reply

    handler = _CANCELLERS.get(caller.flow or "")
    if handler is not None and await handler(update, context, caller):
        await reply(update, context, caller, f"cancel.done.{caller.flow}")
        return
    await reply(update, context, caller, "cancel.nothing")
