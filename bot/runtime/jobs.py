"""PTB's JobQueue, counted: a stop gives running jobs a grace period, then cancels them.

What runs on it is scheduled by ``handlers.jobs``.
"""

from __future__ import annotations

from telegram.ext import Job, JobQueue

from bot.runtime.inflight import InFlight


class TrackedJobQueue(JobQueue):  # type: ignore[type-arg]
    """PTB's JobQueue, with every running job counted in ``running``, so a stop can give
    jobs a grace period and then cancel them (``bot.runtime.inflight``) instead of waiting for a
    send retried against a Telegram that cannot be reached."""

    def __init__(self) -> None:
        super().__init__()
        self.running = InFlight()

    @staticmethod
    async def job_callback(job_queue: JobQueue, job: Job) -> None:  # type: ignore[type-arg]
        application = job_queue.application
        leader = getattr(getattr(application, "bot_data", None), "leader", None)
        if leader is not None and not leader.leads(job.name):
            return  # another process of the deployment runs the scheduled work
        running = getattr(job_queue, "running", None)
        if running is None:
            await job.run(job_queue.application)
            return
        with running.track():
            await job.run(job_queue.application)
