"""Outlets (WeCom, DingTalk, Feishu group robots) in the scheduled jobs: the same jobs that
send the digests and bulletins to Telegram groups deliver to the outlets too
(``bot.outlets.hub``); an outlet that starts failing (a bad signature, an unknown
webhook) is told to the admins over its unit in Telegram, once, and a send skipped as too
late likewise."""

from __future__ import annotations

import logging
from typing import Any

from telegram.error import TelegramError

from bot.outlets.hub import OutletHub, Report
from bot.services import Services

log = logging.getLogger("gridbot.outlets")


def _hub(context: Any) -> OutletHub | None:
    hub = getattr(context.bot_data, "outlets", None)
    return hub if hub is not None and hub.services.config.outlets else None


async def _tell(bot: Any, services: Services, unit_code: str, key: str, **fields: Any) -> None:
    for admin in await services.outlets.admins_over(unit_code):
        caller = await services.members.caller(admin.telegram_id, None)
        platform = services.catalogue.text(caller.language, f"outlet.platform.{fields['kind']}")
        body = services.catalogue.text(caller.language, key, platform=platform, **fields)
        try:
            await bot.send_message(admin.telegram_id, body)
        except TelegramError as exc:
            log.warning("outlet.notice_failed admin=%s error=%r", admin.telegram_id, exc)


async def _told(context: Any, report: Report) -> int:
    services: Services = context.bot_data.services
    for outlet, answer in report.failing:
        await _tell(
            context.bot,
            services,
            outlet.unit,
            "outlet.failing_notice",
            name=outlet.name,
            kind=outlet.kind,
            answer=answer,
        )
    for due in report.skipped:
        await _tell(
            context.bot,
            services,
            due.outlet.unit,
            "outlet.skipped_notice",
            name=due.outlet.name,
            kind=due.outlet.kind,
            day=due.keys[0],
            hours=services.config.schedule.catch_up_hours,
        )
    return report.sent


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
