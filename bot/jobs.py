"""The schedule: periodic work run on PTB's JobQueue through the same services.

The decisions are in the services and recorded in the database (a tip's escalation
level and time), so a job that runs twice, or late after a restart, does each step once.
"""

from __future__ import annotations

import logging

from telegram.ext import CallbackContext, Job, JobQueue

from bot.context import GridApplication
from bot.inflight import InFlight

log = logging.getLogger("gridbot.jobs")


async def tip_deadlines(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Escalate overdue tips and send the notices."""
    from handlers.tips import send_notices

    services = context.bot_data.services
    notices = await services.tips.escalate()
    if notices:
        sent = await send_notices(context, notices)
        log.info("tips.escalated notices=%s sent=%s", len(notices), sent)


async def daily_digests(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Send the daily digest to every bound group that is due one (each exactly once)."""
    from handlers.digests import send_daily_digests

    await send_daily_digests(context)


async def reminders(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Remind the workers who have submitted nothing today (each once a day)."""
    from handlers.digests import send_reminders

    await send_reminders(context)


async def weekly_bulletins(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Send the weekly bulletin to every bound group that is due one (each once)."""
    from handlers.bulletins import send_weekly_bulletins

    await send_weekly_bulletins(context)


async def photo_answers(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Answer the photos a stopped run received and never answered."""
    from handlers.reports import resume_photo_answers

    resumed = await resume_photo_answers(context)
    if resumed:
        log.info("reports.photo_answers_resumed count=%s", resumed)


async def prune_inbox(context: CallbackContext) -> None:  # type: ignore[type-arg]
    """Forget updates handled more than two days ago."""
    pruned = await context.bot_data.services.inbox.prune()
    if pruned:
        log.info("inbox.pruned", extra={"fields": {"count": pruned}})


class TrackedJobQueue(JobQueue):  # type: ignore[type-arg]
    """PTB's JobQueue, with every running job counted in ``running``, so a stop can give
    jobs a grace period and then cancel them (``bot.inflight``) instead of waiting for a
    send retried against a Telegram that cannot be reached."""

    def __init__(self) -> None:
        super().__init__()
        self.running = InFlight()

    @staticmethod
    async def job_callback(job_queue: JobQueue, job: Job) -> None:  # type: ignore[type-arg]
        running = getattr(job_queue, "running", None)
        if running is None:
            await job.run(job_queue.application)
            return
        with running.track():
            await job.run(job_queue.application)


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
    queue.run_once(photo_answers, when=0, name="photo-answers")
