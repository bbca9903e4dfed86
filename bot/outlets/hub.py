"""Deliveries to outlets, driven by the same scheduled jobs as the Telegram groups
(``handlers.jobs``): claim what is due (``bot.domain.outlets``), render it for the
platform (``bot.formats.robots``), send each part through the robot's limiter, record
each delivered part at once, and say which outlets started failing so the caller can
tell their admins in Telegram (once).

Answers: over the rate → wait a minute and try again (DingTalk blocks a robot for ten
minutes, so up to eleven times); no connection or a 5xx → back off 2, 4 … 32 s and try
again; a timeout after the request went out → recorded as failed, never resent (it may
have arrived); a bad signature or an unknown webhook → the outlet is failing, the others
go on; any other refusal → this send failed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from bot.config import OutletConfig
from bot.core.periods import Period
from bot.domain.bulletin import Bulletin, workbook
from bot.domain.digest import chart_caption
from bot.domain.outlets import (
    DAILY,
    OVERDUE,
    PLANS,
    WEEKLY,
    OutletDue,
    OutletPlan,
    bulletin_tables,
    digest_table,
    overdue_table,
    plan_table,
)
from bot.domain.plans import PlanProgress
from bot.domain.ranking import Ranking
from bot.formats.briefdoc import docx_bytes, pdf_bytes
from bot.formats.chart import score_chart
from bot.formats.robots import Table, dingtalk_markdown, feishu_cards, wecom_markdown
from bot.outlets.limiter import RobotLimiter
from bot.outlets.robots import (
    WECOM_IMAGE_BYTES,
    Answer,
    DingTalk,
    Feishu,
    Message,
    Robot,
    Verdict,
    WeCom,
    robot_for,
    secrets_of,
)
from bot.services import Services

log = logging.getLogger("gridbot.outlets")

# The messages of one claimed send for one robot.
Builder = Callable[[OutletDue, Robot], Awaitable[list[Message]]]

RATE_WAIT_SECONDS = 60.0
PER_SECOND = {"feishu": 5}  # Feishu also allows at most 5 a second
RATE_TRIES = 11
BACKOFF_SECONDS = (2.0, 4.0, 8.0, 16.0, 32.0)
# httpx logs every request's address at INFO: the address holds the robot's key.
_HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.http11", "httpcore.proxy")


class MaskSecrets(logging.Filter):
    """Replaces the outlets' keys and secrets in a record by ``***`` (attached to the HTTP
    client's loggers and to gridbot's, whatever level they are set to)."""

    def __init__(self, secrets: list[str]) -> None:
        super().__init__()
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, ()
        return True


@dataclass
class Report:
    """What a delivery run did: sends completed, outlets that started failing (name,
    platform answer), sends skipped as too late."""

    sent: int = 0
    failing: list[tuple[OutletConfig, str]] = field(default_factory=list)
    skipped: list[OutletDue] = field(default_factory=list)


class OutletHub:
    """The HTTP client, the robots' limiters and the deliveries; one per application."""

    def __init__(self, services: Services, client: httpx.AsyncClient | None = None) -> None:
        self.services = services
        self.clock = services.clock
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(15.0, connect=10.0))
        self._limiters: dict[str, RobotLimiter] = {}
        secrets = [s for outlet in services.config.outlets for s in secrets_of(outlet)]
        self.mask = MaskSecrets(secrets)
        for name in (*_HTTP_LOGGERS, "gridbot.outlets"):
            logging.getLogger(name).addFilter(self.mask)

    async def close(self) -> None:
        for name in (*_HTTP_LOGGERS, "gridbot.outlets"):
            logging.getLogger(name).removeFilter(self.mask)
        await self.client.aclose()

    def text(self, key: str, **fields: Any) -> str:
        catalogue = self.services.catalogue
        return catalogue.text(catalogue.default, key, **fields)

    def robot(self, outlet: OutletConfig) -> Robot:
        return robot_for(outlet, self.client, self.clock)

    def limiter(self, outlet: OutletConfig) -> RobotLimiter:
        """One limiter a robot: outlets that share a webhook share it."""
        key = hashlib.sha256(outlet.webhook_url().encode()).hexdigest()
        if key not in self._limiters:
            per_second = PER_SECOND.get(outlet.kind)
            self._limiters[key] = RobotLimiter(self.clock, outlet.per_minute, per_second)
        return self._limiters[key]

    # ------------------------------------------------------------------ messages

    def table_messages(self, robot: Robot, table: Table) -> list[Message]:
        if isinstance(robot, WeCom):
            return [WeCom.markdown(part) for part in wecom_markdown(table)]
        if isinstance(robot, DingTalk):
            return [DingTalk.markdown(title, text) for title, text in dingtalk_markdown(table)]
        assert isinstance(robot, Feishu)  # a card: the title in its header, the rows below
        return [Feishu.card(body) for body in feishu_cards(table)]

    # ------------------------------------------------------------------ sending

    async def post(self, robot: Robot, message: Message) -> Answer:
        """One message through the robot's limiter, waited out when over the rate, retried
        with back-off when it did not arrive."""
        limiter = self.limiter(robot.outlet)
        rate_tries = 0
        backoff = iter(BACKOFF_SECONDS)
        while True:
            await limiter.acquire()
            answer = await robot.deliver(message)
            if answer.verdict is Verdict.RATE_LIMITED and rate_tries < RATE_TRIES:
                rate_tries += 1
                log.warning(
                    "outlet.rate_limited outlet=%s answer=%s", robot.outlet.name, answer.describe()
                )
                await self.clock.sleep(RATE_WAIT_SECONDS)
                continue
            if answer.verdict is Verdict.RETRY:
                wait = next(backoff, None)
                if wait is not None:
                    log.warning(
                        "outlet.retry outlet=%s in=%ss answer=%s",
                        robot.outlet.name,
                        wait,
                        answer.describe(),
                    )
                    await self.clock.sleep(wait)
                    continue
            return answer

    async def send(self, due: OutletDue, messages: list[Message], report: Report) -> None:
        """The parts of one claimed send not yet delivered, each recorded once it is."""
        outlets = self.services.outlets
        robot = self.robot(due.outlet)
        done = due.parts_sent
        for message in messages[due.parts_sent :]:
            answer = await self.post(robot, message)
            if answer.ok:
                done += 1
                await outlets.progress(due, done)
                continue
            detail = answer.describe()
            log.error(
                "outlet.failed outlet=%s kind=%s period=%s part=%s answer=%s",
                due.outlet.name,
                due.kind,
                due.keys[0],
                done + 1,
                detail,
            )
            if answer.verdict is Verdict.BROKEN:
                if await outlets.mark_failing(due.outlet.name, detail):
                    report.failing.append((due.outlet, detail))
                if done == 0:
                    await outlets.give_back(due, detail)
                    return
            await outlets.finish(due, "failed", detail)
            return
        await outlets.finish(due, "sent")
        report.sent += 1
        log.info(
            "outlet.sent outlet=%s kind=%s period=%s parts=%s",
            due.outlet.name,
            due.kind,
            due.keys[0] if len(due.keys) == 1 else f"{len(due.keys)} items",
            len(messages),
        )

    async def _run(self, plan: OutletPlan, messages_for: Builder) -> Report:
        report = Report(skipped=list(plan.skipped))
        for due in plan.skipped:
            log.warning(
                "outlet.skipped outlet=%s kind=%s period=%s", due.outlet.name, due.kind, due.keys[0]
            )
        by_robot: dict[str, list[OutletDue]] = {}
        for due in plan.send:
            by_robot.setdefault(due.outlet.webhook_url(), []).append(due)

        async def one_robot(dues: list[OutletDue]) -> None:
            for due in dues:
                if due.outlet.name in {o.name for o, _ in report.failing}:
                    await self.services.outlets.give_back(due, "outlet failing")
                    continue
                robot = self.robot(due.outlet)
                await self.send(due, await messages_for(due, robot), report)

        # Robots are independent: one waiting out its limit does not hold up another.
        await asyncio.gather(*(one_robot(dues) for dues in by_robot.values()))
        return report

    # ------------------------------------------------------------------ the kinds
    #
    # A kind is a plan (``OutletService.plan(kind)``: what is due, claimed) and a builder
    # here: given the plan, the messages of one claimed send for one robot.

    async def deliver(self, kind: str) -> Report:
        """Claim what ``kind`` has due for the outlets, render it for each platform, send."""
        plan = await self.services.outlets.plan(kind)
        builder = {
            DAILY: self._daily_messages,
            WEEKLY: self._weekly_messages,
            OVERDUE: self._overdue_messages,
            PLANS: self._plans_messages,
        }[kind]
        return await self._run(plan, await builder(plan))

    async def deliver_daily(self) -> Report:
        """The daily digest to every outlet that takes it and is due one."""
        return await self.deliver(DAILY)

    async def deliver_weekly(self) -> Report:
        """The weekly bulletin: its tables everywhere, its workbook where files are taken."""
        return await self.deliver(WEEKLY)

    async def deliver_weekly_for(self, period: Period, within: str) -> Report:
        """The weekly bulletin of ``period`` to the outlets under the unit at path
        ``within`` that have not had it (an admin's 发布)."""
        plan = await self.services.outlets.plan_weekly_for(period, within)
        return await self._run(plan, await self._weekly_messages(plan))

    async def deliver_overdue(self) -> Report:
        """An alert of the tips newly overdue under each outlet's unit."""
        return await self.deliver(OVERDUE)

    async def deliver_plans(self) -> Report:
        """The day's plan progress to the outlets whose unit has open plans."""
        return await self.deliver(PLANS)

    async def _daily_messages(self, plan: OutletPlan) -> Builder:
        rankings: dict[tuple[Any, str], Ranking] = {}
        charts: dict[tuple[Any, str], bytes] = {}
        for due in plan.send:
            assert due.period is not None
            key = (due.period, due.outlet.unit)
            if key not in rankings:
                found = await self.services.ranking.rank_many([due.outlet.unit], due.period)
                rankings[key] = found[due.outlet.unit]

        async def messages(due: OutletDue, robot: Robot) -> list[Message]:
            key = (due.period, due.outlet.unit)
            ranking = rankings[key]
            out = self.table_messages(robot, digest_table(ranking, self.text))
            if isinstance(robot, WeCom):  # the chart, where the platform takes images
                if key not in charts:
                    caption = chart_caption(ranking, self.text)
                    charts[key] = await asyncio.to_thread(
                        score_chart, ranking, caption, self.text("digest.column.score")
                    )
                if len(charts[key]) <= WECOM_IMAGE_BYTES:
                    out.append(WeCom.image(charts[key]))
            return out

        return messages

    async def _weekly_messages(self, plan: OutletPlan) -> Builder:
        built: dict[tuple[Any, str], Bulletin] = {}
        for due in plan.send:
            assert due.period is not None
            key = (due.period, due.outlet.unit)
            if key not in built:
                found = await self.services.bulletins.build_many([due.outlet.unit], due.period.last)
                built[key] = found[due.outlet.unit]

        documents: dict[tuple[Any, str], list[Message]] = {}

        async def document_files(due: OutletDue) -> list[Message]:
            """The 简报 as PDF and DOCX, numbered (第N期) as it is published, rendered
            once per unit and period."""
            assert due.period is not None
            key = (due.period, due.outlet.unit)
            if key not in documents:
                briefs = self.services.briefs
                await briefs.publish(due.outlet.unit, due.period)
                edition = await briefs.edition(due.outlet.unit, due.period.last)
                document = briefs.document(edition, self.text)
                pdf, docx = await asyncio.gather(
                    asyncio.to_thread(pdf_bytes, document), asyncio.to_thread(docx_bytes, document)
                )
                fields = {"number": edition.number, "unit": edition.unit.code}
                fields["last"] = due.period.last.isoformat()
                documents[key] = [
                    Message(file_name=self.text("brief.pdf_name", **fields), file_data=pdf),
                    Message(file_name=self.text("brief.docx_name", **fields), file_data=docx),
                ]
            return documents[key]

        async def messages(due: OutletDue, robot: Robot) -> list[Message]:
            bulletin = built[(due.period, due.outlet.unit)]
            with_file = isinstance(robot, WeCom)  # WeCom's media upload; a note elsewhere
            out: list[Message] = []
            for table in bulletin_tables(bulletin, self.text, with_file):
                out += self.table_messages(robot, table)
            if with_file:
                out += await document_files(due)
                name = self.text(
                    "bulletin.file_name",
                    unit=bulletin.ranking.parent.code,
                    first=bulletin.period.first.isoformat(),
                    last=bulletin.period.last.isoformat(),
                )
                out.append(Message(file_name=name, file_data=workbook(bulletin, self.text)))
            return out

        return messages

    async def _plans_messages(self, plan: OutletPlan) -> Builder:
        """One table a plan, read once for all the outlets' units as the Telegram digest
        reads its plan sections (``PlanService.progress_many``, as of now)."""
        zone = self.services.config.locale.zone
        codes = sorted({due.outlet.unit for due in plan.send})
        found: dict[str, list[PlanProgress]] = (
            await self.services.plans.progress_many(codes) if codes else {}
        )

        async def messages(due: OutletDue, robot: Robot) -> list[Message]:
            assert due.period is not None
            day = due.period.first.isoformat()
            out: list[Message] = []
            for progress in found.get(due.outlet.unit, []):
                out += self.table_messages(robot, plan_table(progress, self.text, zone, day))
            return out

        return messages

    async def _overdue_messages(self, plan: OutletPlan) -> Builder:
        zone = self.services.config.locale.zone

        async def messages(due: OutletDue, robot: Robot) -> list[Message]:
            return self.table_messages(robot, overdue_table(due, self.text, zone))

        return messages

    async def test(self, name: str) -> Answer | None:
        """``gridbot outlets test NAME``: a short message; a success clears a failing state.
        None when no outlet has that name."""
        outlet = self.services.outlets.named(name)
        if outlet is None:
            return None
        unit = await self.services.outlets.unit_name(outlet.unit) or outlet.unit
        robot = self.robot(outlet)
        body = self.text("outlet.test_message", name=outlet.name, unit=unit)
        await self.limiter(outlet).acquire()
        answer = await robot.deliver(robot.text(body))  # once: the operator sees the answer
        if answer.ok:
            await self.services.outlets.clear_failing(name)
        log.info("outlet.test outlet=%s answer=%s", name, answer.describe())
        return answer
