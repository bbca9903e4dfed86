"""The report flow as a service: a draft moved on one step at a time, then submitted.

Telegram-free: the handlers pass plain values (a member, a message id, photo bytes) and
get plain values back. Every step runs in one transaction against the draft row, so a
restart resumes where the worker was, and a step that arrives twice changes nothing the
second time. A draft's id is never reused; every button carries it, so a button of a
dropped, expired or someone else's draft is recognised as stale.

The steps, their order, their checks of typed text and what 修改 back to each clears are
one table, ``REPORT_FLOW`` (see ``bot.domain.flows``); the draft's step is the first one
it has not answered.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from bot.config import CategoryConfig, Config
from bot.core import arguments, geo, periods
from bot.core.clock import Clock
from bot.core.codes import typed_code
from bot.core.errors import Refused
from bot.domain.evidence import EvidenceStore
from bot.domain.flows import Flow, FlowTable, StepSpec
from bot.domain.photo_index import PhotoIndex
from bot.domain.plans import PlanService
from storage import chats as chat_repo
from storage import daily as daily_repo
from storage import evidence as evidence_repo
from storage import report_drafts as draft_repo
from storage import reports as report_repo
from storage import sites as site_repo
from storage import units as unit_repo
from storage.db import Connection, Database
from storage.evidence import EvidenceFiles
from storage.members import Member
from storage.report_drafts import Draft
from storage.reports import Flag, Photo
from storage.sites import Site

FLOW = Flow.REPORT
# What a report may be flagged for (report.flag_name.<kind>).
PHOTO_FLAGS = ("duplicate_photo", "similar_photo")  # report.check.<kind>[_elsewhere]
FLAGS = (*PHOTO_FLAGS, "location")
SITE_MIN, SITE_MAX = 1, 60
NOTE_MAX = 500
# The Bot API lets a bot download files up to 20 MB.
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class IncomingPhoto:
    data: bytes
    file_id: str
    file_unique_id: str
    as_file: bool


@dataclass(frozen=True)
class PhotoCheck:
    """A photo of a draft that an earlier report already used (or nearly)."""

    position: int
    kind: str  # 'duplicate_photo' | 'similar_photo'
    report_id: int
    visible: bool = True  # the earlier report is in the member's scope: name its number

    @property
    def report_number(self) -> str:
        """The earlier report's number as people quote it (R-000123); name it only when
        ``visible``."""
        return report_repo.number_of(self.report_id)


@dataclass(frozen=True)
class DraftView:
    """Everything a prompt or the summary card shows."""

    draft: Draft
    step: ReportStep
    category: CategoryConfig | None
    site: Site | None
    recent_sites: list[Site] = field(default_factory=list)
    checks: list[PhotoCheck] = field(default_factory=list)
    max_photos: int = 10

    @property
    def site_label(self) -> str | None:
        """The chosen site's code, or the code typed for a new site; None before the site step."""
        return self.site.code if self.site else self.draft.new_site


@dataclass(frozen=True)
class Opened:
    view: DraftView
    resumed: bool
    expired: bool


@dataclass(frozen=True)
class PhotoAdded:
    view: DraftView
    added: bool
    started: bool
    expired: bool


@dataclass(frozen=True)
class SiteSearch:
    text: str
    matches: list[Site]


@dataclass(frozen=True)
class Submitted:
    report_id: int
    flags: list[Flag]
    recheck: bool
    already: bool

    @property
    def number(self) -> str:
        """The report's number as people quote it (R-000123)."""
        return report_repo.number_of(self.report_id)


class ReportStep(StrEnum):
    """The questions of a report draft, in the order ``REPORT_FLOW`` asks them."""

    CATEGORY = "category"
    SITE = "site"
    STATUS = "status"
    PHOTOS = "photos"
    LOCATION = "location"
    NOTE = "note"
    SUMMARY = "summary"


def site_text(text: str) -> str:
    """A site code or address as typed: normalised, and of an allowed length."""
    text = typed_code(text)
    if not SITE_MIN <= len(text) <= SITE_MAX:
        raise Refused("report.site_length", min=SITE_MIN, max=SITE_MAX)
    return text


def note_text(text: str) -> str | None:
    """A note as typed: trimmed, at most ``NOTE_MAX`` long; None when empty."""
    text = text.strip()
    if len(text) > NOTE_MAX:
        raise Refused("report.note_too_long", max=NOTE_MAX)
    return text or None


def _step(
    step: ReportStep,
    done: Callable[[Draft], bool] | None,
    clears: dict[str, object] | None = None,
    parse: Callable[[str], object] | None = None,
) -> StepSpec[ReportStep]:
    """A report step with its catalogue keys named after it."""
    return StepSpec(
        step,
        prompt=f"report.ask.{step}",
        expect=f"report.expect.{step}",
        done=done,
        parse=parse,
        clears=clears,
        label=f"report.step.{step}" if clears is not None else None,
    )


# The report flow. ``clears`` is what 修改 back to a step resets (a new category
# invalidates site and status); 修改 offers the steps in this order.
REPORT_FLOW = FlowTable(
    Flow.REPORT,
    ReportStep,
    (
        _step(
            ReportStep.CATEGORY,
            lambda d: d.category is not None,
            {"category": None, "site_id": None, "new_site": None, "status": None},
        ),
        _step(
            ReportStep.SITE,
            lambda d: d.site_id is not None or d.new_site is not None,
            {"site_id": None, "new_site": None},
            site_text,
        ),
        _step(ReportStep.STATUS, lambda d: d.status is not None, {"status": None}),
        _step(ReportStep.PHOTOS, lambda d: d.photos_done, {"photos_done": False}),
        _step(
            ReportStep.LOCATION,
            lambda d: d.location_done,
            {"location_done": False, "latitude": None, "longitude": None},
        ),
        _step(
            ReportStep.NOTE, lambda d: d.note_done, {"note_done": False, "note": None}, note_text
        ),
        StepSpec(ReportStep.SUMMARY, "report.summary.title", "report.expect.summary"),
    ),
)
STEPS = REPORT_FLOW.editable  # the steps 修改 offers; a button carries the index


def next_step(draft: Draft) -> ReportStep:
    """The step a report draft is at."""
    return REPORT_FLOW.next_step(draft)


class ReportService:
    def __init__(self, db: Database, clock: Clock, config: Config) -> None:
        self.db = db
        self.clock = clock
        self.config = config
        self.settings = config.reports
        self.campaign = config.campaign
        self.files = EvidenceFiles(config.evidence.path)
        self.evidence = EvidenceStore(self.files, config.locale.zone)
        self._areas = {area.unit: area for area in self.settings.areas}
        self.plans = PlanService(db, clock, config)
        # The perceptual hash and first report of every submitted photo; loaded on first use.
        self._index: PhotoIndex | None = None
        self._index_lock = asyncio.Lock()

    # ------------------------------------------------------------------ helpers

    def _now(self) -> tuple[datetime, datetime]:
        now = self.clock.now()
        return now, now + timedelta(hours=self.settings.draft_hours)

    async def _drop_if_expired(self, telegram_id: int) -> bool:
        """Drop the person's draft if it is past its time; True if one was dropped."""
        now, _ = self._now()
        async with self.db.transaction() as conn:
            draft = await draft_repo.of_person(conn, telegram_id)
            return await self._dropped(conn, draft, now)

    @staticmethod
    async def _dropped(conn: Connection, draft: Draft | None, now: datetime) -> bool:
        """Inside a transaction: drop ``draft`` if it is past its time; True if dropped."""
        if draft is None or draft.expires_at > now:
            return False
        await draft_repo.delete(conn, draft.id)
        await chat_repo.end_active_flow(conn, draft.telegram_id, FLOW)
        return True

    async def _load(self, conn: Connection, member: Member, draft_id: int | None) -> Draft:
        return self._mine(await draft_repo.of_person(conn, member.telegram_id), draft_id)

    @staticmethod
    def _mine(draft: Draft | None, draft_id: int | None) -> Draft:
        """The draft, if it is the one the button (``draft_id``) was for."""
        if draft is None or (draft_id is not None and draft.id != draft_id):
            raise Refused("report.stale")
        return draft

    async def _read(self, member: Member, draft_id: int) -> Draft:
        """The member's draft ``draft_id`` as it stands (``report.stale`` if it is not)."""
        async with self.db.read() as conn:
            return await self._load(conn, member, draft_id)

    async def _view(
        self, conn: Connection, member: Member, draft: Draft, checks: bool = False
    ) -> DraftView:
        """What a prompt shows. Reused photos are looked up for the summary card, or when
        ``checks`` asks (the answer to photos): not for every step in between."""
        step = next_step(draft)
        site = await site_repo.by_id(conn, draft.site_id) if draft.site_id else None
        recent: list[Site] = []
        if step is ReportStep.SITE and draft.category:
            recent = await site_repo.recent_for_member(
                conn, member.id, draft.category, self.settings.recent_sites
            )
        found: list[PhotoCheck] = []
        if draft.photo_count and (checks or step is ReportStep.SUMMARY):
            photos = await draft_repo.photos(conn, draft.id)
            found = await self._photo_checks(conn, photos, member)
        return DraftView(
            draft,
            step,
            self.campaign.category(draft.category),
            site,
            recent,
            found,
            self.settings.max_photos,
        )

    async def _move(
        self,
        member: Member,
        draft_id: int,
        changes: dict[str, object] | Callable[[Draft], dict[str, object]],
    ) -> DraftView:
        """One step, in one transaction: the draft is read, checked (``changes`` may be a
        function of it that refuses), changed, and shown. An expired draft is dropped
        (committed) and the step refused with ``report.expired``."""
        now, expires = self._now()
        async with self.db.transaction() as conn:
            draft = await draft_repo.of_person(conn, member.telegram_id)
            expired = await self._dropped(conn, draft, now)
            if not expired:
                draft = self._mine(draft, draft_id)
                wanted = changes(draft) if callable(changes) else changes
                await draft_repo.update(conn, draft.id, now, expires, **wanted)
                await chat_repo.set_active_flow(conn, member.telegram_id, FLOW, now)
                moved = replace(draft, **wanted, updated_at=now, expires_at=expires)
                return await self._view(conn, member, moved)
        raise Refused("report.expired", hours=self.settings.draft_hours)

    # ------------------------------------------------------------------ reading

    async def view(self, member: Member, checks: bool = False) -> DraftView | None:
        """The member's draft as a prompt shows it (with ``checks``, its reused photos too), or
        None when there is none. An expired draft is shown, not dropped (see ``current``)."""
        async with self.db.read() as conn:
            draft = await draft_repo.of_person(conn, member.telegram_id)
            return await self._view(conn, member, draft, checks) if draft else None

    async def current(self, member: Member) -> tuple[DraftView | None, bool]:
        """The member's draft (None if there is none) and whether one just expired.
        Only an expired draft takes the write lock (to drop it)."""
        now, _ = self._now()
        async with self.db.read() as conn:
            draft = await draft_repo.of_person(conn, member.telegram_id)
            if draft is None:
                return None, False
            if draft.expires_at > now:
                return await self._view(conn, member, draft), False
        expired = await self._drop_if_expired(member.telegram_id)
        return await self.view(member), expired

    async def open(self, member: Member) -> Opened:
        """/report: the member's draft, resumed, or a new one."""
        now, expires = self._now()
        async with self.db.transaction() as conn:
            draft = await draft_repo.of_person(conn, member.telegram_id)
            expired = await self._dropped(conn, draft, now)
            if expired:
                draft = None
            resumed = draft is not None
            if draft is None:
                await self._create(conn, member, now, expires)
            await chat_repo.set_active_flow(conn, member.telegram_id, FLOW, now)
            draft = await self._load(conn, member, None)
            return Opened(await self._view(conn, member, draft), resumed, expired)

    async def open_for_site(self, member: Member, site_id: int) -> DraftView:
        """A report on a listed site (a /todo button): the member's draft, resumed or new,
        with the site's category and the site filled in. ``report.stale`` for no such site,
        ``report.site_out_of_scope`` outside the member's subtree."""
        async with self.db.read() as conn:
            site = await site_repo.by_id(conn, site_id)
        if site is None:
            raise Refused("report.stale")
        if not site.unit_path.startswith(member.unit_path):
            raise Refused("report.site_out_of_scope", site=site.code)
        opened = await self.open(member)
        return await self._move(
            member,
            opened.view.draft.id,
            {"category": site.category, "site_id": site.id, "new_site": None, "status": None},
        )

    async def _create(
        self, conn: Connection, member: Member, now: datetime, expires: datetime
    ) -> int:
        only = self.campaign.categories[0].code if len(self.campaign.categories) == 1 else None
        return await draft_repo.create(conn, member.telegram_id, member.id, only, now, expires)

    # ------------------------------------------------------------------ steps

    async def choose_category(self, member: Member, draft_id: int, index: int) -> DraftView:
        """The ``index``-th configured category, clearing site and status. ``report.stale`` for no
        such category or a gone or other draft; ``report.expired`` (the draft dropped) past its
        time."""
        if not 0 <= index < len(self.campaign.categories):
            raise Refused("report.stale")
        code = self.campaign.categories[index].code
        return await self._move(
            member, draft_id, {"category": code, "site_id": None, "new_site": None, "status": None}
        )

    async def choose_site(self, member: Member, draft_id: int, site_id: int) -> DraftView:
        """An existing site picked by button. ``report.stale`` when it is unknown or of another
        category (or the draft gone), ``report.site_out_of_scope`` outside the member's subtree,
        ``report.expired`` past its time."""
        async with self.db.read() as conn:
            draft = await self._load(conn, member, draft_id)
            site = await site_repo.by_id(conn, site_id)
        if site is None or site.category != draft.category:
            raise Refused("report.stale")
        if not site.unit_path.startswith(member.unit_path):
            raise Refused("report.site_out_of_scope", site=site.code)
        return await self._move(member, draft_id, {"site_id": site.id, "new_site": None})

    async def search_sites(self, member: Member, draft_id: int, text: str) -> SiteSearch:
        """Typed text at the site step: sites in scope whose code contains it."""
        text = REPORT_FLOW.parse(ReportStep.SITE, text)
        async with self.db.read() as conn:
            draft = await self._load(conn, member, draft_id)
            assert draft.category is not None
            matches = await site_repo.search(conn, draft.category, text, member.unit_path, 8)
        await self._move(member, draft_id, {"site_query": text})
        return SiteSearch(text, matches)

    async def new_site_from_query(self, member: Member, draft_id: int) -> DraftView:
        """The 新建 button under a search: the text searched for becomes a new site."""
        draft = await self._read(member, draft_id)
        if not draft.site_query:
            raise Refused("report.stale")
        if next_step(draft) is ReportStep.SITE:
            return await self.new_site(member, draft_id, draft.site_query)
        view = await self.view(member)
        if view is not None and view.draft.id == draft_id and view.site_label == draft.site_query:
            # Pressed before and applied (a double tap, or the update replayed after a
            # crash lost the answer): say where the draft stands instead of "stale".
            return view
        raise Refused("report.stale")

    async def new_site(self, member: Member, draft_id: int, text: str) -> DraftView:
        """A site typed in: an existing one with that code in scope is taken as is (a
        re-check); a code used elsewhere is refused; else it is created on submit."""
        text = REPORT_FLOW.parse(ReportStep.SITE, text)
        async with self.db.read() as conn:
            draft = await self._load(conn, member, draft_id)
            assert draft.category is not None
            existing = await site_repo.by_code(conn, draft.category, text)
        if existing is not None:
            return await self.choose_site(member, draft_id, existing.id)
        return await self._move(member, draft_id, {"site_id": None, "new_site": text})

    async def choose_status(self, member: Member, draft_id: int, index: int) -> DraftView:
        """The ``index``-th status of the draft's category; ``report.stale`` for no such status or
        a gone or other draft, ``report.expired`` (the draft dropped) past its time."""

        def status(draft: Draft) -> dict[str, object]:
            category = self.campaign.category(draft.category)
            if category is None or not 0 <= index < len(category.statuses):
                raise Refused("report.stale")
            return {"status": category.statuses[index].code}

        return await self._move(member, draft_id, status)

    async def photos_done(self, member: Member, draft_id: int) -> DraftView:
        """The photo step is answered; ``report.photos_needed`` while the draft has none,
        ``report.stale`` for a gone or other draft, ``report.expired`` (the draft dropped) past
        its time."""

        def done(draft: Draft) -> dict[str, object]:
            if draft.photo_count == 0:
                raise Refused("report.photos_needed", max=self.settings.max_photos)
            return {"photos_done": True}

        return await self._move(member, draft_id, done)

    async def clear_photos(self, member: Member, draft_id: int) -> DraftView:
        """Take every photo off the draft and ask for photos again (the evidence stays);
        ``report.stale`` for a gone or other draft, ``report.expired`` (the draft dropped) past
        its time."""
        if await self._drop_if_expired(member.telegram_id):
            raise Refused("report.expired", hours=self.settings.draft_hours)
        async with self.db.transaction() as conn:
            draft = await self._load(conn, member, draft_id)
            await draft_repo.clear_photos(conn, draft.id)
        return await self._move(member, draft_id, {"photos_done": False})

    async def set_location(
        self, member: Member, draft_id: int, latitude: float, longitude: float
    ) -> DraftView:
        """The location shared at the location step (flagged on submit when outside its unit's
        area, ``reports.areas``); ``report.stale`` for a gone or other draft, ``report.expired``
        past its time."""
        return await self._move(
            member,
            draft_id,
            {"location_done": True, "latitude": latitude, "longitude": longitude},
        )

    async def skip_location(self, member: Member, draft_id: int) -> DraftView:
        """No location; ``report.location_required`` when the draft's category needs one,
        ``report.stale`` for a gone or other draft, ``report.expired`` (the draft dropped) past
        its time."""

        def skipped(draft: Draft) -> dict[str, object]:
            category = self.campaign.category(draft.category)
            if category is not None and category.location_required:
                raise Refused("report.location_required", category=category.name)
            return {"location_done": True, "latitude": None, "longitude": None}

        return await self._move(member, draft_id, skipped)

    async def set_note(self, member: Member, draft_id: int, note: str | None) -> DraftView:
        """The note typed (checked by the note step), or None for 跳过."""
        if note is not None:
            note = REPORT_FLOW.parse(ReportStep.NOTE, note)
        return await self._move(member, draft_id, {"note_done": True, "note": note})

    async def edit(self, member: Member, draft_id: int, step: str) -> DraftView:
        """修改: go back to ``step``, clearing what it and the steps after it depend on."""
        if step not in STEPS:
            raise Refused("report.stale")
        clears = REPORT_FLOW[step].clears
        assert clears is not None
        return await self._move(member, draft_id, clears)

    async def cancel(self, member: Member, draft_id: int | None = None) -> bool:
        """Drop the draft (the given one, or whichever the member has); False if none."""
        async with self.db.transaction() as conn:
            draft = await draft_repo.of_person(conn, member.telegram_id)
            if draft is None or (draft_id is not None and draft.id != draft_id):
                return False
            await draft_repo.delete(conn, draft.id)
            await chat_repo.end_active_flow(conn, member.telegram_id, FLOW)
            return True

    # ------------------------------------------------------------------ photos

    async def check_room(self, member: Member, message_id: int) -> None:
        """Before downloading: refuse an eleventh photo (a repeated one is fine)."""
        async with self.db.read() as conn:
            draft = await draft_repo.of_person(conn, member.telegram_id)
            if draft is None or draft.photo_count < self.settings.max_photos:
                return
            if await draft_repo.has_message(conn, draft.id, message_id):
                return
        raise Refused("report.too_many_photos", max=self.settings.max_photos)

    async def add_photo(
        self, member: Member, message_id: int, photo: IncomingPhoto, caption: str | None
    ) -> PhotoAdded:
        """Keep a photo: into the evidence folder, then onto the draft (started if none).

        The file is written before the row that points at it, so a crash in between
        leaves at most a file nobody references yet, never a row without its file.
        """
        facts = await self.evidence.keep(photo.data)
        now, expires = self._now()
        async with self.db.transaction() as conn:
            await self.evidence.record(conn, facts, now)
            draft = await draft_repo.of_person(conn, member.telegram_id)
            expired = await self._dropped(conn, draft, now)
            if expired:
                draft = None
            started = draft is None
            if draft is None:
                await self._create(conn, member, now, expires)
                draft = await self._load(conn, member, None)
            if draft.photo_count >= self.settings.max_photos and not (
                await draft_repo.has_message(conn, draft.id, message_id)
            ):
                raise Refused("report.too_many_photos", max=self.settings.max_photos)
            stored = Photo(facts.sha256, photo.file_id, photo.file_unique_id, photo.as_file)
            added = await draft_repo.add_photo(conn, draft.id, message_id, stored, now)
            changes: dict[str, object] = {}
            caption = (caption or "").strip()
            if added and caption and draft.note is None:
                changes.update(note=caption[:NOTE_MAX], note_done=True)
            if added:  # answered after the album wait, or on start after a restart
                changes.update(photos_unanswered=True)
            await draft_repo.update(conn, draft.id, now, expires, **changes)
            await chat_repo.set_active_flow(conn, member.telegram_id, FLOW, now)
            moved = replace(
                draft,
                **changes,
                updated_at=now,
                expires_at=expires,
                photo_count=draft.photo_count + int(added),
            )
            view = await self._view(conn, member, moved)
        return PhotoAdded(view, added, started, expired)

    async def claim_photo_answer(self, member: Member) -> DraftView | None:
        """The draft (with its photo checks) whose received photos are to be answered now,
        taken once: None when they were answered already or there is no draft."""
        async with self.db.transaction() as conn:
            if not await draft_repo.claim_photo_answer(conn, member.telegram_id):
                return None
        return await self.view(member, checks=True)

    async def photos_awaiting_answer(self) -> list[int]:
        """Telegram ids of the workers whose photos a stopped run never answered."""
        now, _ = self._now()
        async with self.db.read() as conn:
            return await draft_repo.awaiting_photo_answer(conn, now)

    async def _photo_index(self, conn: Connection) -> PhotoIndex:
        async with self._index_lock:
            if self._index is None:
                index = PhotoIndex()
                for phash, report_id in await evidence_repo.submitted_hashes(conn):
                    index.add(phash, report_id)
                self._index = index
            return self._index

    async def _photo_checks(
        self, conn: Connection, photos: list[Photo], member: Member
    ) -> list[PhotoCheck]:
        """Which photos an earlier report already holds (same bytes or same Telegram
        file), or holds a near copy of (perceptual hash within the configured bits).
        Photos are compared city-wide, but an earlier report outside ``member``'s scope
        is not named (``visible`` False): its number is not theirs to see."""
        checks = await self._raw_photo_checks(conn, photos)
        return [
            replace(check, visible=await self._visible(conn, member, check.report_id))
            for check in checks
        ]

    @staticmethod
    async def _visible(conn: Connection, member: Member, report_id: int) -> bool:
        path = await report_repo.unit_path(conn, report_id)
        return path is not None and path.startswith(member.unit_path)

    async def _shown_flags(self, conn: Connection, member: Member, flags: list[Flag]) -> list[Flag]:
        """Flags as ``member`` may see them: an earlier report out of scope unnamed."""
        shown = []
        for flag in flags:
            if flag.kind in ("duplicate_photo", "similar_photo"):
                number = arguments.number(flag.detail.removeprefix("R-"))
                if number is None or not await self._visible(conn, member, number):
                    flag = Flag(flag.kind, "")
            shown.append(flag)
        return shown

    async def _raw_photo_checks(self, conn: Connection, photos: list[Photo]) -> list[PhotoCheck]:
        checks: list[PhotoCheck] = []
        index = await self._photo_index(conn)
        limit = self.settings.similar_photo_bits
        for position, photo in enumerate(photos, start=1):
            first = await report_repo.first_use(conn, photo.sha256, photo.file_unique_id)
            if first is not None:
                checks.append(PhotoCheck(position, "duplicate_photo", first))
                continue
            facts = await evidence_repo.get(conn, photo.sha256)
            if facts is None:
                continue
            # Not these bytes (first_use found none): a near copy, re-compressed or resized.
            closest = index.nearest(facts.phash, limit)
            if closest is not None:
                checks.append(PhotoCheck(position, "similar_photo", closest[1]))
        return checks

    # ------------------------------------------------------------------ submit

    async def _area_distance(
        self, conn: Connection, unit_id: int, point: tuple[float, float]
    ) -> float | None:
        if not self._areas:
            return None
        unit = await unit_repo.get_by_id(conn, unit_id)
        if unit is None:
            return None
        for candidate in reversed(await unit_repo.ancestors(conn, unit)):
            area = self._areas.get(candidate.code)
            if area is not None:
                return geo.outside_by(area, point)
        return None

    async def submit(self, member: Member, draft_id: int) -> Submitted:
        """Turn a complete draft into a report, in one transaction. Submitting a draft
        that already became the member's report answers with that report (pressed
        twice); someone else's is stale."""
        async with self.db.read() as conn:
            done = await report_repo.id_by_draft(conn, draft_id)
        if done is not None:
            return await self._already(done, member)
        now, _ = self._now()
        async with self.db.transaction() as conn:
            done = await report_repo.id_by_draft(conn, draft_id)
            if done is not None:
                return await self._already(done, member)
            draft = await draft_repo.of_person(conn, member.telegram_id)
            expired = await self._dropped(conn, draft, now)
            if not expired:
                submitted, hashes = await self._insert(
                    conn, member, self._mine(draft, draft_id), now
                )
        if expired:
            raise Refused("report.expired", hours=self.settings.draft_hours)
        # Committed: its photos now count as used for the next drafts' checks — at once,
        # with no await in between (the checks in _insert loaded the index).
        assert self._index is not None
        for phash in hashes:
            self._index.add(phash, submitted.report_id)
        return submitted

    async def _insert(
        self, conn: Connection, member: Member, draft: Draft, now: datetime
    ) -> tuple[Submitted, list[str]]:
        """Inside ``submit``'s transaction: the draft becomes a report. Returns it and
        the perceptual hashes of its photos, for the caller to remember once the
        transaction commits."""
        if next_step(draft) is not ReportStep.SUMMARY or draft.photo_count == 0:
            raise Refused("report.incomplete")
        assert draft.category is not None and draft.status is not None
        site = await self._site_for(conn, member, draft, now)
        photos = await draft_repo.photos(conn, draft.id)
        checks = await self._raw_photo_checks(conn, photos)
        flags = [Flag(check.kind, check.report_number) for check in checks]
        if draft.latitude is not None and draft.longitude is not None:
            outside = await self._area_distance(
                conn, site.unit_id, (draft.latitude, draft.longitude)
            )
            if outside is not None:
                flags.append(Flag("location", f"{round(outside)} m"))
        report_id = await report_repo.insert(
            conn,
            report_repo.NewReport(
                draft_id=draft.id,
                site_id=site.id,
                category=draft.category,
                status=draft.status,
                unit_id=site.unit_id,
                member_id=member.id,
                latitude=draft.latitude,
                longitude=draft.longitude,
                note=draft.note,
                recheck=site.report_count > 0,
                flagged=bool(flags),
                created_at=now,
            ),
            photos,
            flags,
        )
        await site_repo.record_report(conn, site.id, report_id, draft.status, now)
        await self.plans.record_report(conn, site.id, draft.status, now)
        day = periods.day_of(self.clock.now(), self.config.locale.zone)
        await daily_repo.count_report(conn, site.unit_id, member.id, day, bool(flags))
        await draft_repo.delete(conn, draft.id)
        await chat_repo.end_active_flow(conn, member.telegram_id, FLOW)
        # Every photo, reused or not: an entry repeated changes no search (of equally
        # close photos the earliest report is named), and a reused Telegram file may
        # hold new bytes.
        hashes = await evidence_repo.phashes(conn, [photo.sha256 for photo in photos])
        shown = await self._shown_flags(conn, member, flags)
        return Submitted(report_id, shown, site.report_count > 0, already=False), hashes

    async def _already(self, report_id: int, member: Member) -> Submitted:
        async with self.db.read() as conn:
            report = await report_repo.by_id(conn, report_id)
            if report is None or report.member_id != member.id:
                raise Refused("report.stale")  # a forged press: no hint whose or which
            flags = await self._shown_flags(conn, member, await report_repo.flags(conn, report_id))
        return Submitted(report_id, flags, report.recheck, already=True)

    async def _site_for(
        self, conn: Connection, member: Member, draft: Draft, now: datetime
    ) -> Site:
        assert draft.category is not None
        if draft.site_id is not None:
            site = await site_repo.by_id(conn, draft.site_id)
            assert site is not None
            return site
        assert draft.new_site is not None
        site = await site_repo.by_code(conn, draft.category, draft.new_site)
        if site is None:
            site_id = await site_repo.insert(
                conn, draft.category, draft.new_site, member.unit_id, member.id, now
            )
            await self.plans.site_joined(conn, site_id)
            site = await site_repo.by_id(conn, site_id)
            assert site is not None
        elif not site.unit_path.startswith(member.unit_path):
            raise Refused("report.site_taken", site=site.code)
        return site
