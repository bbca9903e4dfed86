"""The schedule: periodic work run on PTB's JobQueue (``bot.runtime.jobs``) through the same
services and the same handler helpers that send replies.

The decisions are in the services and recorded in the database (a tip's escalation
level and time), so a job that runs twice, or late after a restart, does each step once.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import CallbackContext

from bot.runtime.context import GridApplication
from handlers.bulletins import send_weekly_bulletins
from handlers.digests import send_daily_digests, send_reminders
from handlers.outlets import (
    send_outlet_alerts,
    send_outlet_bulletins,
    send_outlet_digests,
    send_outlet_plans,
)
from handlers.reports import resume_photo_answers
from handlers.tips import send_notices

log = logging.getLogger("gridbot.jobs")


async def tip_deadlines(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Escalate overdue tips and send the notices; alert the outlets that take it."""
    services = context.bot_data.services
    notices = await services.tips.escalate()
    if notices:
        sent = await send_notices(context, notices)
        log.info("tips.escalated notices=%s sent=%s", len(notices), sent)
    await send_outlet_alerts(context)


async def daily_digests(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Send the daily digest to every bound group and outlet that is due one (each exactly
    once)."""
    await send_daily_digests(context)
    await send_outlet_digests(context)
    await send_outlet_plans(context)


async def reminders(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Remind the workers who have submitted nothing today (each once a day)."""
    await send_reminders(context)


async def weekly_bulletins(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Send the weekly bulletin to every bound group and outlet that is due one (each
    once)."""
    await send_weekly_bulletins(context)
    await send_outlet_bulletins(context)


async def photo_answers(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Answer the photos a stopped run received and never answered."""
    resumed = await resume_photo_answers(context)
    if resumed:
        log.info("reports.photo_answers_resumed count=%s", resumed)


async def prune_inbox(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Forget updates handled more than two days ago."""
    pruned = await context.bot_data.services.inbox.prune()
    if pruned:
        log.info("inbox.pruned", extra={"fields": {"count": pruned}})


async def sweep_inbox(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """With several processes on one store: handle the updates a dead process left
    unfinished (each once per sweep history; its chat's turn skips one finished since)."""
    services = context.bot_data.services
    if context.bot_data.swept_updates is None:
        context.bot_data.swept_updates = set()
    swept = context.bot_data.swept_updates
    for replay in await services.inbox.stale(swept):
        swept.add(replay.update_id)
        log.warning("inbox.stale_taken_over", extra={"fields": {"update_id": replay.update_id}})
        await context.application.update_queue.put(
            Update.de_json(replay.data, context.application.bot)
        )
    if len(swept) > 10_000:
        swept.clear()


def schedule(application: GridApplication) -> None:
    """Register the periodic jobs (called from ``post_init``)."""
    queue = application.job_queue
    assert queue is not None
    services = application.bot_data.services
    every = services.config.tips.check_every_minutes * 60
    queue.run_repeating(tip_deadlines, interval=every, first=5, name="tip-deadlines")
    # Checked every minute and once right after start, so a digest missed while the bot
    # was down is caught up (or reported as skipped) at once.
    queue.run_repeating(daily_digests, interval=60, first=1, name="daily-digests")
    queue.run_repeating(reminders, interval=60, first=2, name="reminders")
    queue.run_repeating(weekly_bulletins, interval=60, first=3, name="weekly-bulletins")
    queue.run_repeating(prune_inbox, interval=3600, first=60, name="prune-inbox")
    if services.inbox.shared:
        queue.run_repeating(sweep_inbox, interval=30, first=30, name="sweep-inbox")
    queue.run_once(photo_answers, when=0, name="photo-answers")
