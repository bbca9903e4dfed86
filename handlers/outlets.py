"""Outlets (WeCom, DingTalk, Feishu group robots) in the scheduled jobs: the same jobs that
send the digests and bulletins to Telegram groups deliver to the outlets too
(``bot.outlets.hub``); an outlet that starts failing (a bad signature, an unknown
webhook) is told to the admins over its unit in Telegram, once, and a send skipped as too
late likewise."""

from __future__ import annotations

from typing import Any

from bot.outlets.hub import OutletHub, Report
from handlers.grouppost import tell_outlet_report


def _hub(context: Any) -> OutletHub | None:
    hub = getattr(context.bot_data, "outlets", None)
    return hub if hub is not None and hub.services.config.outlets else None


async def _told(context: Any, report: Report) -> int:
    return await tell_outlet_report(context.bot, context.bot_data.services, report)


async def send_outlet_digests(context: Any) -> int:
    """The daily digest to the outlets (after the Telegram groups)."""
    hub = _hub(context)
    return await _told(context, await hub.deliver_daily()) if hub else 0


async def send_outlet_bulletins(context: Any) -> int:
    """The weekly bulletin to the outlets."""
    hub = _hub(context)
    return await _told(context, await hub.deliver_weekly()) if hub else 0


async def send_outlet_alerts(context: Any) -> int:
    """Overdue alerts to the outlets (with the tip deadline checks)."""
    hub = _hub(context)
    return await _told(context, await hub.deliver_overdue()) if hub else 0


async def send_outlet_plans(context: Any) -> int:
    """The day's plan progress to the outlets whose unit has open plans (after the
    digests, at the same time)."""
    hub = _hub(context)
    return await _told(context, await hub.deliver_plans()) if hub else 0
