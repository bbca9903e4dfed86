"""``gridbot demo``: the real bot against the built-in Bot API server, with a web chat.

A throwaway deployment in a temporary folder (or ``--keep DIR``): the example city
(``demo_data/org.toml``, a copy of ``examples/org.toml``), an admin at the city, a lead
at one street and a worker in each of that street's grids (and one worker in each other
district, so the city's ranking compares districts), a work group bound to the city,
and a week of history — reports with photos, tips, status updates — so rankings are not
empty. The bot is the one ``gridbot run`` builds (``bot.app.build_application``); it
polls the built-in server (``bot.botapi``) in this process, and the same server serves
the web chat (``bot.botapi.web``) on loopback. Time is the demo's own clock: the wall
clock, moved forward when the page asks for the evening's scheduled sends or the next
day. Ctrl-C (or SIGTERM) stops it all and removes the folder unless it was ``--keep``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import random
import shutil
import signal
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

from bot.botapi import BotApiServer
from bot.config import Config, load_config
from bot.core.access import Role
from bot.core.clock import FakeClock
from bot.domain.reports import IncomingPhoto
from bot.formats.orgfile import read_org_file
from bot.formats.tipfile import TipRow
from bot.i18n import Catalogue
from bot.services import Services
from storage.members import Member

DATA = Path(__file__).parent / "demo_data"
ORG_FILE = DATA / "org.toml"
# A made-up token of the real shape: the demo's bot talks only to the built-in server.
TOKEN = ":".join(("7000000001", "DEMO-not-a-real-token_0123456789abcdef"))
CITY = "NY"
STREET = "WL-WH"  # 武侯街道: two communities, four grids
OTHER_GRIDS = ("WC-XH-XH-01", "GX-BL-BLX-01", "SF-BH-BH-01")  # one worker per other district
GROUP_ID = -1001000000001
ADMIN_ID, LEAD_ID, FIRST_WORKER_ID, FIRST_OTHER_ID = 1001, 1002, 1101, 1201
HISTORY_DAYS = 7
MORNING = time(9, 0)  # the demo starts at 09:00 local time on the real date
# The evening's sends, both due when the page runs the jobs (within the catch-up window).
REMINDER, DIGEST = "19:30", "20:00"
#: The personas of the page, in its order (``demo.persona.*``).
PERSONAS = ("worker", "lead", "admin", "group")
#: The members' names in the catalogue (``demo.people.*``): a worker for each of the
#: street's grids (four in the example city), one for each other district.
WORKER_KEYS = ("worker_1", "worker_2", "worker_3", "worker_4")
OTHER_KEYS = ("other_1", "other_2", "other_3")
PEOPLE = ("admin", "lead", *WORKER_KEYS, *OTHER_KEYS)


@dataclass(frozen=True)
class Person:
    """One member of the demo, as the page and the Bot API server know them."""

    key: str  # "admin", "lead", "worker_1"…
    telegram_id: int
    unit: str
    role: Role
    name: str


class DemoClock:
    """The demo's time: the wall clock plus an offset that only grows. Waits are real
    (an album still waits its second), and ``move_to`` jumps forward for the page."""

    def __init__(self, start: datetime) -> None:
        self.offset = start - datetime.now(UTC)

    def now(self) -> datetime:
        """The demo's current time, in UTC."""
        return datetime.now(UTC) + self.offset

    def timestamp(self) -> float:
        """The demo's time as epoch seconds (the Bot API server's message dates)."""
        return self.now().timestamp()

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of real time."""
        await asyncio.sleep(max(seconds, 0))

    def move_to(self, moment: datetime) -> None:
        """Jump forward to ``moment`` (never back)."""
        ahead = moment - self.now()
        if ahead > timedelta(0):
            self.offset += ahead


def people(catalogue: Catalogue, language: str, org_codes: list[str]) -> list[Person]:
    """The demo's members: the admin at the city, the lead at the street, a worker in each
    of the street's grids (the first one is the page's worker), one in each other
    district."""

    def name(key: str) -> str:
        return catalogue.text(language, f"demo.people.{key}")

    grids = sorted(
        code for code in org_codes if code.startswith(STREET + "-") and code.count("-") == 3
    )
    found = [
        Person("admin", ADMIN_ID, CITY, Role.ADMIN, name("admin")),
        Person("lead", LEAD_ID, STREET, Role.LEAD, name("lead")),
    ]
    for number, (key, grid) in enumerate(zip(WORKER_KEYS, grids, strict=False)):
        found.append(Person(key, FIRST_WORKER_ID + number, grid, Role.WORKER, name(key)))
    for number, (key, grid) in enumerate(zip(OTHER_KEYS, OTHER_GRIDS, strict=True)):
        found.append(Person(key, FIRST_OTHER_ID + number, grid, Role.WORKER, name(key)))
    return found


def write_config(folder: Path, language: str) -> Path:
    """The demo's config.toml: its database and evidence in ``folder``, the evening sends
    close together, albums answered quickly."""
    path = folder / "config.toml"
    path.write_text(
        "\n".join(
            [
                '[database]\npath = "gridbot.sqlite3"',
                '[evidence]\npath = "evidence"',
                f'[locale]\nlanguage = "{language}"',
                f'[telegram]\ntoken = "{TOKEN}"\npoll_timeout = 5\nstop_grace_seconds = 0.5',
                f'[schedule]\nreminder = "{REMINDER}"\ndaily_digest = "{DIGEST}"',
                "[reports]\nalbum_wait_seconds = 0.5",
                "",
            ]
        ),
        encoding="utf-8",
    )
    return path


def photo(seed: int) -> bytes:
    """A JPEG unlike every other seed's (the near-copy check must not flag history)."""
    from PIL import Image, ImageDraw

    rng = random.Random(seed)
    image = Image.new("RGB", (480, 360), tuple(rng.randrange(60, 200) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    for _ in range(24):
        x, y = rng.randrange(640), rng.randrange(480)
        colour = tuple(rng.randrange(256) for _ in range(3))
        draw.rectangle((x, y, x + rng.randrange(20, 200), y + rng.randrange(20, 160)), colour)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


async def build(
    folder: Path, language: str, today: date, stop: asyncio.Event | None = None
) -> tuple[Config, list[Person]]:
    """Create the deployment in ``folder``: config, database, city, members, the bound
    group, and the week before ``today``'s morning as history (cut short, a day at a
    time, once ``stop`` is set)."""
    config = load_config(write_config(folder, language))
    zone = config.locale.zone
    clock = FakeClock(datetime.combine(today - timedelta(days=HISTORY_DAYS), time(8), zone))
    services = await Services.open(config, clock=clock)
    try:
        await services.org.import_rows(read_org_file(ORG_FILE), str(ORG_FILE))
        codes = [unit.code for unit in await services.tips.units()]
        cast = people(services.catalogue, language, codes)
        members = {
            person.key: await services.members.add_by_operator(
                person.telegram_id, person.unit, person.role, person.name
            )
            for person in cast
        }
        await _history(services, members, language, today, zone, stop)
        if stop is not None and stop.is_set():
            return config, cast
        # Bound this morning: the digests of the week before were never due to it.
        clock.set(datetime.combine(today, time(8, 59), zone))
        title = services.catalogue.text(language, "demo.group_title")
        await services.groups.bind(members["admin"], GROUP_ID, title, CITY)
    finally:
        await services.close()
    return config, cast


async def _history(
    services: Services,
    members: dict[str, Member],
    language: str,
    today: date,
    zone: Any,
    stop: asyncio.Event | None,
) -> None:
    rng = random.Random(21)
    catalogue = services.catalogue
    sites = [
        value
        for key, value in sorted(catalogue.messages[language].items())
        if key.startswith("demo.site.")
    ]
    workers = [m for key, m in members.items() if key.startswith(("worker_", "other_"))]
    clock = services.clock
    assert isinstance(clock, FakeClock)
    seed = 0
    for back in range(HISTORY_DAYS, -1, -1):
        if stop is not None and stop.is_set():
            return
        day = today - timedelta(days=back)
        clock.set(datetime.combine(day, time(8), zone))
        for worker in workers:
            # The page's worker has not reported yet today: the evening reminder finds her.
            if back == 0 and worker.telegram_id == FIRST_WORKER_ID:
                continue
            for _ in range(rng.choice((0, 1, 1))):
                seed += 1
                clock.advance(timedelta(minutes=rng.randrange(3, 40)))
                site = f"{rng.choice(sites)} {seed}"
                await _report(services, worker, site, seed, rng)
            if rng.random() < 0.4:
                posted = await services.status_updates.begin(
                    worker, catalogue.text(language, "demo.history.update")
                )
                while not hasattr(posted, "update_id"):
                    posted = await services.status_updates.answer(worker, str(rng.randrange(3, 30)))
    await _tips(services, catalogue.text(language, "demo.history.tip"), today, zone, rng)


async def _report(
    services: Services, worker: Member, site: str, seed: int, rng: random.Random
) -> None:
    reports = services.reports
    draft = (await reports.open(worker)).view.draft.id
    category = rng.randrange(len(services.config.campaign.categories))
    await reports.choose_category(worker, draft, category)
    await reports.new_site(worker, draft, site)
    statuses = services.config.campaign.categories[category].statuses
    await reports.choose_status(worker, draft, rng.randrange(len(statuses)))
    shot = IncomingPhoto(photo(seed), f"demo-photo-{seed}", f"demo-unique-{seed}", False)
    await reports.add_photo(worker, 10_000 + seed, shot, None)
    await reports.photos_done(worker, draft)
    latitude = 32.99 + rng.random() * 0.06
    longitude = 112.50 + rng.random() * 0.06
    await reports.set_location(worker, draft, latitude, longitude)
    await reports.set_note(worker, draft, None)
    await reports.submit(worker, draft)


async def _tips(services: Services, text: str, today: date, zone: Any, rng: random.Random) -> None:
    units = {unit.code: unit for unit in await services.tips.units()}
    grids = [code for code in units if code.count("-") == 3]
    rows = []
    for number in range(1, 9):
        received = datetime.combine(
            today - timedelta(days=rng.randrange(1, HISTORY_DAYS)), time(10), zone
        )
        target = units[rng.choice(grids)]
        assigned = received + timedelta(hours=2) if number % 4 else None
        closed = assigned + timedelta(days=1) if assigned and number % 3 else None
        rows.append(
            TipRow(
                line=number,
                number=f"DEMO-{number:03d}",
                received_at=received,
                unit=units[CITY],
                description=text,
                source=rng.choice(("hotline", "online", "visit")),
                assigned_at=assigned,
                assigned_unit=target if assigned else None,
                deadline=assigned + timedelta(days=3) if assigned else None,
                closed_at=closed,
                valid=bool(number % 2) if closed else None,
            )
        )
    await services.tips.import_rows(rows)


def page_config(catalogue: Catalogue, language: str, cast: list[Person]) -> dict[str, Any]:
    """What the web chat is told (``/api/config``): the personas and the page's words in
    both languages, from the catalogues."""
    labels = {
        lang: {
            key.removeprefix("demo.page."): value
            for key, value in catalogue.messages[lang].items()
            if key.startswith("demo.page.")
        }
        | {"title": catalogue.text(lang, "demo.title")}
        for lang in ("zh", "en")
    }
    by_key = {person.key: person for person in cast}
    by_key["worker"] = by_key["worker_1"]  # the page's worker: the first grid's

    def persona(key: str, lang: str) -> str:
        return catalogue.text(lang, f"demo.persona.{key}", name=by_key[key].name)

    personas = [
        {
            "key": key,
            "chat_id": by_key[key].telegram_id,
            "user_id": by_key[key].telegram_id,
            "labels": {lang: persona(key, lang) for lang in ("zh", "en")},
        }
        for key in PERSONAS
        if key in by_key
    ]
    personas.append(
        {
            "key": "group",
            "chat_id": GROUP_ID,
            "user_id": ADMIN_ID,
            "labels": {lang: catalogue.text(lang, "demo.persona.group") for lang in ("zh", "en")},
        }
    )
    return {
        "language": language,
        "labels": labels,
        "personas": personas,
        "controls": ["jobs", "next_day"],
    }


async def serve(
    folder: Path,
    language: str,
    port: int,
    stop: asyncio.Event,
    on_ready: Callable[[str], Awaitable[None] | None],
) -> None:
    """Build the deployment in ``folder``, run the bot and the web chat on
    ``127.0.0.1:port`` until ``stop`` is set; ``on_ready(url)`` once the page is served."""
    from telegram.request import HTTPXRequest

    from bot.app import build_application
    from bot.runtime.lifecycle import serve_polling

    catalogue = Catalogue.load(language)
    if (folder / "gridbot.sqlite3").exists():  # a demo kept before (--keep): go on with it
        config = load_config(write_config(folder, language))
        cast = people(catalogue, language, [row.code for row in read_org_file(ORG_FILE)])
        zone = config.locale.zone
        today = datetime.now(zone).date()
    else:
        zone = load_config(write_config(folder, language)).locale.zone
        today = datetime.now(zone).date()
        config, cast = await build(folder, language, today, stop)
        if stop.is_set():
            return  # Ctrl-C while the history was being written
    clock = DemoClock(datetime.combine(today, MORNING, zone))
    server = BotApiServer(
        TOKEN, bot_username="gridbot_demo_bot", bot_first_name="gridbot", clock=clock.timestamp
    )
    for person in cast:
        code = "zh-hans" if language == "zh" else "en"
        server.user(person.telegram_id, person.name, language_code=code)
    server.group(GROUP_ID, catalogue.text(language, "demo.group_title"))
    transport = server.transport()
    application = build_application(
        config,
        clock=clock,
        request=HTTPXRequest(httpx_kwargs={"transport": transport}),
        get_updates_request=HTTPXRequest(
            httpx_kwargs={"transport": transport}, read_timeout=config.telegram.poll_timeout + 10
        ),
    )
    server.page_config = page_config(catalogue, language, cast)
    server.page_config["clock"] = clock.now().astimezone(zone).strftime("%Y-%m-%d %H:%M")
    server.page_config["zone"] = str(zone)
    # The location picker's box: the example city's centre (Nanyang).
    server.page_config["map"] = {"south": 32.95, "north": 33.08, "west": 112.45, "east": 112.62}

    async def run_jobs() -> dict[str, Any]:
        for job in list(application.job_queue.jobs()):
            await job.run(application)
        shown = clock.now().astimezone(zone).strftime("%Y-%m-%d %H:%M")
        server.page_config["clock"] = shown
        server.signal.notify()
        return {"clock": shown}

    async def evening() -> dict[str, Any]:
        local = clock.now().astimezone(zone)
        due = datetime.combine(local.date(), time.fromisoformat(DIGEST), zone)
        clock.move_to(due + timedelta(seconds=30))
        return await run_jobs()

    async def next_day() -> dict[str, Any]:
        local = clock.now().astimezone(zone)
        clock.move_to(datetime.combine(local.date() + timedelta(days=1), MORNING, zone))
        return await run_jobs()

    server.controls = {"jobs": evening, "next_day": next_day}
    async with server.serve_http("127.0.0.1", port) as url:
        bot = asyncio.create_task(serve_polling(application, config, stop), name="demo-bot")
        try:
            listening = server.signal.wait_until(lambda: server.polling or bot.done(), None)
            if await _unless_stopped(listening, stop) is None or bot.done():
                return  # stopped (or failed) before the bot was listening
            ready = on_ready(url + "/")
            if ready is not None:
                await ready
            await asyncio.wait(
                {bot, asyncio.ensure_future(stop.wait())}, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            stop.set()
            await bot  # the bot's own stop; an error it ended with is raised here


async def _unless_stopped(work: Awaitable[Any], stop: asyncio.Event) -> Any:
    """``await work``, or cancel it and return None as soon as ``stop`` is set."""
    task = asyncio.ensure_future(work)
    stopping = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopping.cancel()
    if task.done():
        return task.result()
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return None


def run(port: int, language: str, keep: str | None) -> int:
    """``gridbot demo``: run until SIGINT or SIGTERM; remove the folder unless kept."""
    if keep:
        folder = Path(keep).resolve()
        folder.mkdir(parents=True, exist_ok=True)
    else:
        folder = Path(tempfile.mkdtemp(prefix="gridbot-demo-"))
    catalogue = Catalogue.load(language)

    def ready(url: str) -> None:
        print(catalogue.text(language, "demo.started", url=url), flush=True)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await serve(folder, language, port, stop, ready)

    try:
        asyncio.run(main())
    except OSError as error:  # the port is taken, or not ours to listen on
        print(
            catalogue.text(language, "demo.cannot_listen", port=port, error=error), file=sys.stderr
        )
        return 1
    finally:
        if keep:
            print(catalogue.text(language, "demo.kept", folder=folder), file=sys.stderr)
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return 0
