"""The TOML configuration file, validated by pydantic.

One model per TOML table. Unknown keys are errors (a typo must not be silently ignored),
relative paths are resolved against the config file's folder, and the bot token may come
from the environment (``GRIDBOT_TOKEN``) instead of the file.

``load_config`` turns every problem into a ``ConfigError`` whose lines read
``config.toml: schedule.daily_digest: '25:00' is not a time (HH:MM)``.
"""

from __future__ import annotations

import functools
import os
import re
import tomllib
from datetime import date, time
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

TOKEN_ENV = "GRIDBOT_TOKEN"
WEBHOOK_SECRET_ENV = "GRIDBOT_WEBHOOK_SECRET"
LANGUAGES = ("zh", "en")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_CODE_RE = re.compile(r"^[a-z][a-z0-9_]{0,23}$")


class ConfigError(Exception):
    """The configuration cannot be used; ``lines`` are ready to print, one per problem."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines


def _parse_hhmm(value: str) -> time:
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", value.strip()) if isinstance(value, str) else None
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise PydanticCustomError("time", "{value} is not a time (HH:MM)", {"value": repr(value)})
    return time(int(match[1]), int(match[2]))


def _check_hhmm(value: str) -> str:
    _parse_hhmm(value)
    return value


def _check_weekly(value: str) -> str:
    parts = value.split() if isinstance(value, str) else []
    if len(parts) != 2 or parts[0].lower() not in WEEKDAYS:
        raise PydanticCustomError(
            "weekly",
            "{value} is not a weekday and time (e.g. 'fri 17:00')",
            {"value": repr(value)},
        )
    _check_hhmm(parts[1])
    return f"{parts[0].lower()} {parts[1]}"


HHMM = Annotated[str, AfterValidator(_check_hhmm)]
Weekly = Annotated[str, AfterValidator(_check_weekly)]


class _Table(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseConfig(_Table):
    # ``sqlite:///PATH`` (PATH relative to the config file's folder; ``sqlite:////abs``
    # for an absolute one) or ``postgresql://user:password@host:port/database``. Without
    # it, ``path`` (the old setting) names the SQLite file.
    url: str | None = None
    path: Path = Path("data/gridbot.sqlite3")
    busy_timeout_ms: int = Field(5000, ge=0, le=600_000)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is None:
            return None
        scheme = value.split("://", 1)[0] if "://" in value else ""
        if scheme not in ("sqlite", "postgresql", "postgres"):
            raise ValueError("must start with sqlite:/// or postgresql://")
        if scheme == "sqlite" and not value.startswith("sqlite:///"):
            raise ValueError("a SQLite URL is sqlite:///PATH")
        return value

    @property
    def is_postgres(self) -> bool:
        return self.url is not None and not self.url.startswith("sqlite:")

    @property
    def target(self) -> Path | str:
        """What ``Database.open`` takes: the SQLite file, or the PostgreSQL URL."""
        return self.url if self.is_postgres and self.url else self.path

    @property
    def display(self) -> str:
        """The database for messages and logs (a PostgreSQL password left out)."""
        if self.is_postgres and self.url:
            parts = urlsplit(self.url)
            if parts.password is not None:
                return parts._replace(
                    netloc=parts.netloc.replace(f":{parts.password}@", ":***@")
                ).geturl()
            return self.url
        return str(self.path)


class EvidenceConfig(_Table):
    path: Path = Path("data/evidence")


class LocaleConfig(_Table):
    timezone: str = "Asia/Shanghai"
    language: Literal["zh", "en"] = "zh"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise PydanticCustomError(
                "timezone", "{value} is not a known time zone", {"value": repr(value)}
            ) from None
        return value

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class TelegramConfig(_Table):
    token: SecretStr | None = None
    base_url: str = "https://api.telegram.org/bot"
    base_file_url: str = "https://api.telegram.org/file/bot"
    poll_timeout: int = Field(30, ge=0, le=50)
    connect_timeout: float = Field(10.0, gt=0)
    read_timeout: float = Field(10.0, gt=0)
    max_concurrent_updates: int = Field(64, ge=1, le=4096)
    # Updates one chat may have waiting (the one being handled included); beyond that
    # its updates are dropped and the chat is told once: a flood delays only itself.
    max_queued_per_chat: int = Field(100, ge=1, le=100_000)
    # At stop, how long updates being handled and jobs running may go on before they
    # are cancelled (and handled again, or taken over, at the next start).
    stop_grace_seconds: float = Field(1.0, ge=0, le=600)
    # Outgoing calls per second for the whole bot (Telegram allows about 30); 0 turns the
    # overall limit off, e.g. against a Bot API test server in a benchmark.
    max_messages_per_second: float = Field(30, ge=0)
    # Private command menus of members given (or fixed) per second by the background
    # sync that runs after start-up; updates are served meanwhile.
    menu_syncs_per_second: float = Field(10, gt=0)
    # An outgoing proxy for every Bot API call and file download: http://, https:// or
    # socks5:// (socks5h:// resolves names at the proxy), credentials allowed
    # (http://user:password@host:port). Never logged or printed.
    proxy: SecretStr | None = None

    @field_validator("base_url", "base_file_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s/]+", value):
            raise PydanticCustomError(
                "url", "{value} is not an http(s) URL", {"value": repr(value)}
            )
        return value

    @field_validator("proxy")
    @classmethod
    def _proxy_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and proxy_problem(value.get_secret_value()):
            raise PydanticCustomError("proxy", PROXY_PROBLEM, {})
        return value

    def proxy_url(self) -> str | None:
        return self.proxy.get_secret_value() if self.proxy else None


PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
PROXY_PROBLEM = "not a proxy URL like http://host:port, https://… or socks5://…"


def proxy_problem(url: str) -> str | None:
    """Why ``url`` is not a usable proxy URL, or None. The answer never repeats the URL
    (it may hold a password)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        return PROXY_PROBLEM
    if parts.scheme not in PROXY_SCHEMES or not parts.hostname or re.search(r"\s", url):
        return PROXY_PROBLEM
    if parts.path not in ("", "/") or parts.query or parts.fragment or port == 0:
        return PROXY_PROBLEM
    return None


def proxy_secrets(url: str | None) -> list[str]:
    """What of a proxy URL a log line must never show: the URL itself, its credentials
    (as written and decoded) and the password alone unless it is too short to tell."""
    if not url:
        return []
    parts = urlsplit(url)
    secrets = [url]
    if "@" in parts.netloc:
        userinfo = parts.netloc.rsplit("@", 1)[0]
        secrets += [userinfo, unquote(userinfo)]
        password = parts.password or ""
        if len(password) >= 6:
            secrets += [password, unquote(password)]
    return sorted(set(secrets), key=len, reverse=True)


def redacted_proxy(url: str | None) -> str:
    """The proxy for a log line: scheme, host and port, never the credentials."""
    if not url:
        return "none"
    parts = urlsplit(url)
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}"


class WebhookConfig(_Table):
    """``gridbot run --webhook``: Telegram posts updates to ``url`` (an HTTPS address a
    reverse proxy serves), which forwards them to ``listen``:``port``."""

    url: str | None = None
    listen: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)  # 0: any free port (the log says which)
    # The path the bot answers on; by default the path of ``url``.
    path: str | None = None
    # Sent by Telegram in X-Telegram-Bot-Api-Secret-Token with every update; requests
    # without it are refused (403). GRIDBOT_WEBHOOK_SECRET wins over the file; with
    # neither, a new random secret is registered at every start.
    secret: SecretStr | None = None
    max_connections: int = Field(40, ge=1, le=100)

    @field_validator("url")
    @classmethod
    def _https(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"https://[^\s/]+(/\S*)?", value):
            raise PydanticCustomError(
                "url",
                "{value} is not an https:// URL (Telegram only posts to HTTPS)",
                {"value": repr(value)},
            )
        return value

    @field_validator("path")
    @classmethod
    def _path(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"/[A-Za-z0-9._~/-]*", value):
            raise PydanticCustomError(
                "path", "{value} is not a URL path like /telegram", {"value": repr(value)}
            )
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _SECRET_TOKEN.fullmatch(value.get_secret_value()):
            raise PydanticCustomError(
                "secret", "1-256 characters A-Z, a-z, 0-9, _ and - (Telegram's rule)", {}
            )
        return value

    def route(self) -> str:
        if self.path:
            return self.path
        return (urlsplit(self.url).path or "/") if self.url else "/"

    def secret_value(self) -> str | None:
        env = os.environ.get(WEBHOOK_SECRET_ENV, "").strip()
        if env:
            if not _SECRET_TOKEN.fullmatch(env):
                raise ConfigError(
                    [f"{WEBHOOK_SECRET_ENV}: 1-256 characters A-Z, a-z, 0-9, _ and -"]
                )
            return env
        return self.secret.get_secret_value() if self.secret else None


_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


class InviteConfig(_Table):
    default_uses: int = Field(1, ge=1)
    default_days: int = Field(7, ge=1)
    max_uses: int = Field(500, ge=1)
    max_days: int = Field(90, ge=1)
    join_timeout_minutes: int = Field(60, ge=1)

    @model_validator(mode="after")
    def _defaults_within_limits(self) -> InviteConfig:
        if self.default_uses > self.max_uses:
            raise ValueError("default_uses is larger than max_uses")
        if self.default_days > self.max_days:
            raise ValueError("default_days is larger than max_days")
        return self


class MembersConfig(_Table):
    page_size: int = Field(20, ge=5, le=50)  # lines per page of /members and /invites


class ScheduleConfig(_Table):
    daily_digest: HHMM = "20:00"
    reminder: HHMM = "17:00"
    weekly_bulletin: Weekly = "fri 17:00"
    # A scheduled send missed while the bot was down is sent on start if it is at most
    # this late; later than that it is skipped and the admins are told.
    catch_up_hours: int = Field(3, ge=0, le=48)

    def daily_time(self) -> time:
        return _parse_hhmm(self.daily_digest)

    def reminder_time(self) -> time:
        return _parse_hhmm(self.reminder)


class StatusConfig(_Table):
    code: str
    name: str = Field(min_length=1, max_length=20)
    name_en: str | None = Field(None, max_length=40)
    done: bool = False

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        return _check_code(value)


class CategoryConfig(_Table):
    code: str
    name: str = Field(min_length=1, max_length=20)
    name_en: str | None = Field(None, max_length=40)
    location_required: bool = False
    statuses: list[StatusConfig] = Field(min_length=1)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        return _check_code(value)

    @field_validator("statuses")
    @classmethod
    def _unique_statuses(cls, value: list[StatusConfig]) -> list[StatusConfig]:
        _check_unique([s.code for s in value], "status code")
        return value


class CounterConfig(_Table):
    """A number a status update asks for (走访户数, 宣传场次…)."""

    code: str
    name: str = Field(min_length=1, max_length=20)
    name_en: str | None = Field(None, max_length=40)

    @field_validator("code")
    @classmethod
    def _code(cls, value: str) -> str:
        return _check_code(value)


class CampaignConfig(_Table):
    name: str = Field(
        default_factory=lambda: _campaign_defaults()["name"], min_length=1, max_length=40
    )
    name_en: str | None = None
    categories: list[CategoryConfig] = Field(min_length=1)
    counters: list[CounterConfig] = Field(default_factory=list, max_length=10)

    @field_validator("categories")
    @classmethod
    def _unique_categories(cls, value: list[CategoryConfig]) -> list[CategoryConfig]:
        _check_unique([c.code for c in value], "category code")
        return value

    @field_validator("counters")
    @classmethod
    def _unique_counters(cls, value: list[CounterConfig]) -> list[CounterConfig]:
        _check_unique([c.code for c in value], "counter code")
        return value

    def category(self, code: str | None) -> CategoryConfig | None:
        return next((c for c in self.categories if c.code == code), None)


LatLon = tuple[Annotated[float, Field(ge=-90, le=90)], Annotated[float, Field(ge=-180, le=180)]]


class AreaConfig(_Table):
    """Where a unit's reports are expected: a centre and radius, or a polygon."""

    unit: str = Field(min_length=1, max_length=32)
    centre: LatLon | None = None
    radius_m: float | None = Field(None, gt=0, le=200_000)
    polygon: list[LatLon] | None = Field(None, min_length=3, max_length=500)

    @model_validator(mode="after")
    def _one_shape(self) -> AreaConfig:
        circle = self.centre is not None and self.radius_m is not None
        if circle == (self.polygon is not None) or (
            not circle and (self.centre is not None or self.radius_m is not None)
        ):
            raise PydanticCustomError(
                "area", "give either centre and radius_m, or polygon (not both)", {}
            )
        return self


class ReportsConfig(_Table):
    # A draft untouched this long is dropped (and the worker told so when they return).
    draft_hours: int = Field(24, ge=1, le=24 * 30)
    max_photos: int = Field(10, ge=1, le=10)
    # Photos of one album arrive as separate updates; answer once they stop coming.
    album_wait_seconds: float = Field(1.5, ge=0, le=10)
    recent_sites: int = Field(5, ge=1, le=8)
    page_size: int = Field(10, ge=5, le=30)
    # Two photos whose 64-bit difference hashes differ in at most this many bits are
    # taken for the same picture (resized or re-compressed).
    similar_photo_bits: int = Field(8, ge=0, le=24)
    areas: list[AreaConfig] = Field(default_factory=list)

    @field_validator("areas")
    @classmethod
    def _unique_areas(cls, value: list[AreaConfig]) -> list[AreaConfig]:
        _check_unique([a.unit for a in value], "area unit")
        return value


def _check_code(value: str) -> str:
    if not _CODE_RE.fullmatch(value):
        raise PydanticCustomError(
            "code",
            "{value} is not a code (lower-case letters, digits and '_', starting with a letter)",
            {"value": repr(value)},
        )
    return value


def _check_unique(codes: list[str], what: str) -> None:
    seen: set[str] = set()
    for code in codes:
        if code in seen:
            raise PydanticCustomError(
                "unique", "duplicate {what} {code}", {"what": what, "code": repr(code)}
            )
        seen.add(code)


# The default campaign's names are shown to people: they live beside the catalogues.
_DEFAULT_CAMPAIGN = Path(__file__).parent / "i18n" / "campaign.toml"


@functools.cache
def _campaign_defaults() -> dict[str, Any]:
    with _DEFAULT_CAMPAIGN.open("rb") as handle:
        return tomllib.load(handle)


def _default_campaign() -> CampaignConfig:
    return CampaignConfig.model_validate(_campaign_defaults())


URGENCIES = ("normal", "urgent", "emergency")  # 一般 / 较急 / 紧急 (tip.urgency.*)
# As bot.formats.tipfile.SOURCES (the domain's list; config is below it).
TIP_SOURCES = ("hotline", "online", "visit", "other", "patrol", "department")


def _limit(value: str) -> str:
    """A time limit: hours (``24h``) or working days (``3wd``), as bot.core.workdays
    reads it."""
    if not re.fullmatch(r"[1-9][0-9]{0,3}(h|wd)", value.strip()):
        raise PydanticCustomError(
            "limit",
            "{value} is no limit: write hours as 24h or working days as 3wd",
            {"value": repr(value)},
        )
    return value.strip()


LimitText = Annotated[str, AfterValidator(_limit)]


class UrgencyLimits(_Table):
    # One limit per urgency (一般 / 较急 / 紧急); unset ones fall back (see TipLimits).
    normal: LimitText | None = None
    urgent: LimitText | None = None
    emergency: LimitText | None = None


class TipLimits(UrgencyLimits):
    # [tips.limits] per urgency for every source, and [tips.limits.sources.<source>] for
    # one source (hotline, online, visit, other). A limit not set anywhere is
    # tips.deadline_hours.
    sources: dict[str, UrgencyLimits] = Field(default_factory=dict)

    @field_validator("sources")
    @classmethod
    def _known_sources(cls, value: dict[str, UrgencyLimits]) -> dict[str, UrgencyLimits]:
        unknown = sorted(set(value) - set(TIP_SOURCES))
        if unknown:
            raise PydanticCustomError(
                "sources",
                "unknown tip source(s) {unknown}; known: {known}",
                {"unknown": ", ".join(unknown), "known": ", ".join(TIP_SOURCES)},
            )
        return value

    def of(self, source: str, urgency: str) -> str | None:
        """The limit for a tip of ``source`` and ``urgency``, or None (use the default)."""
        own = self.sources.get(source)
        return (getattr(own, urgency) if own else None) or getattr(self, urgency)


class TipsConfig(_Table):
    # Default time to close an assigned tip, in hours (/assign may give another), when
    # [tips.limits] has none for the tip's source and urgency.
    deadline_hours: int = Field(72, ge=1, le=24 * 90)
    # Time limits per urgency and source, "24h" or "3wd" (working days, see [calendar]).
    limits: TipLimits = TipLimits()
    # The assigned unit is reminded this many working hours before the deadline (0: never).
    remind_hours: int = Field(8, ge=0, le=24 * 30)
    # Extensions (延期) a tip may be granted at most.
    max_extensions: int = Field(1, ge=0, le=10)
    # With verify on, a closure needs at least one "after" photo (核查: before and after).
    after_photo: bool = True
    # A unit whose tip is this many working days past its deadline is named in the
    # bulletin's 通报 section.
    name_after_workdays: int = Field(3, ge=1, le=60)
    # Only tips with a tipster's contact (real name) earn a reward.
    reward_needs_contact: bool = False
    # Who earns the one reward of a case reported several times (an original and the tips
    # linked to it as duplicates): "first_named", the earliest tipster who left a contact
    # (real name), the original first; "original", the original's tipster only. Never a
    # member (a tip found on patrol or handed over by a department, or a tipster who is a
    # member).
    reward_to: Literal["first_named", "original"] = "first_named"
    # At intake, open tips located within this many metres of the new one (a location the
    # receiver shared, or the coordinates of the registered site it names) with similar
    # text are offered as possible duplicates, besides those of the same unit or site.
    duplicate_distance_m: int = Field(200, ge=0, le=50_000)
    # When true, a closure waits for the assigner: 通过 closes it, 退回 sends it back.
    verify: bool = False
    # After the first escalation (to the parent unit), one level further up every so many
    # working hours (hours on working days, see [calendar]).
    escalate_every_hours: int = Field(24, ge=1, le=24 * 30)
    # How often the deadline check runs.
    check_every_minutes: int = Field(10, ge=1, le=24 * 60)


class CalendarConfig(_Table):
    # Local days off and days worked on top of mainland China's official calendar
    # (holidays and 调休 make-up workdays), as "YYYY-MM-DD".
    extra_holidays: list[date] = Field(default_factory=list)
    extra_workdays: list[date] = Field(default_factory=list)


class ExportsConfig(_Table):
    # Largest file sent to a chat. The Bot API takes uploads of up to 50 MB (a self-hosted
    # Bot API server, up to 2000 MB); a larger export is split into parts.
    max_file_mb: float = Field(49, gt=0, le=2000)
    # /audit shows this many entries unless told otherwise (at most 100).
    audit_lines: int = Field(20, ge=1, le=100)


class BulletinConfig(_Table):
    """The 简报 document (``/brief``, ``gridbot bulletin build``). An empty text takes the
    catalogue's word for it (``brief.doc.default_*``)."""

    # The document's title, e.g. "“飓风”行动工作简报".
    title: str = Field("", max_length=60)
    # The issuing office printed under the title, e.g. "…领导小组办公室".
    office: str = Field("", max_length=80)
    # The footer's 报 (sent up to) and 发 (sent out to) lines.
    report_to: str = Field("", max_length=200)
    send_to: str = Field("", max_length=200)
    # The number (第N期) of the first issue published; each later one is one more.
    first_number: int = Field(1, ge=1, le=100_000)


RANKING_COLUMNS = (
    "reports",
    "coverage",
    "active",
    "sites_done",
    "closure",
    "valid",
    "overdue",
    "flagged",
    "plan_done",
    "plan_on_time",
    # Tips handled as cases (bot.domain.tip_kpis): 按期办结率, 返工率, 满意率, rates over
    # at least min_cases tips due / closed / called back.
    "on_time",
    "rework",
    "satisfaction",
)


def _default_weights() -> dict[str, float]:
    return {
        "reports": 1.0,
        "coverage": 3.0,
        "active": 1.0,
        "sites_done": 2.0,
        "closure": 2.0,
        "valid": 0.5,
        "overdue": -1.0,
        "flagged": -1.0,
        "plan_done": 2.0,
        "plan_on_time": 1.0,
        "on_time": 2.0,
        "rework": -1.0,
        "satisfaction": 1.0,
    }


class RankingConfig(_Table):
    # A rate over fewer cases than this (tips assigned, sites known) scores nothing, so
    # one tip closed out of one does not top the table.
    min_cases: int = Field(5, ge=1, le=10_000)
    # Score = Σ weight × column, each column normalised to 0…1 (counts against the
    # highest unit, rates as they are). Negative weights penalise.
    weights: dict[str, float] = Field(default_factory=_default_weights)

    @field_validator("weights")
    @classmethod
    def _known_columns(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = sorted(set(value) - set(RANKING_COLUMNS))
        if unknown:
            raise PydanticCustomError(
                "columns",
                "unknown ranking column(s) {unknown}; known: {known}",
                {"unknown": ", ".join(unknown), "known": ", ".join(RANKING_COLUMNS)},
            )
        return value


OUTLET_PLATFORMS = ("wecom", "dingtalk", "feishu")
# What an outlet can receive: the daily digest, the weekly bulletin, overdue alerts and,
# on the days its unit has open plans, their progress ("plans").
OUTLET_SENDS = ("daily", "weekly", "overdue", "plans")
_OUTLET_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")


class OutletConfig(_Table):
    """``[[outlets]]``: a group robot of WeCom, DingTalk or Feishu bound to a unit. It gets
    what a Telegram group bound to that unit gets (the kinds in ``sends``)."""

    name: str
    kind: Literal["wecom", "dingtalk", "feishu"]
    unit: str = Field(min_length=1, max_length=32)  # the unit whose children it ranks
    # The robot's webhook address; its key or token is a secret (never logged or printed).
    webhook: SecretStr
    # The signing secret (DingTalk 加签 "SEC…", Feishu 签名校验); WeCom robots have none.
    secret: SecretStr | None = None
    sends: list[Literal["daily", "weekly", "overdue", "plans"]] = Field(
        default_factory=lambda: list(OUTLET_SENDS), min_length=1
    )
    # Messages a minute this robot is sent at most (the platforms allow 20).
    per_minute: int = Field(20, ge=1, le=20)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _OUTLET_NAME.fullmatch(value):
            raise PydanticCustomError(
                "code",
                "{value} is not a name (a-z, 0-9, _ and -, at most 32)",
                {"value": repr(value)},
            )
        return value

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: SecretStr) -> SecretStr:
        if not re.fullmatch(r"https?://[^\s/]+/\S+", value.get_secret_value()):
            raise PydanticCustomError("secret", "not an http(s):// webhook address", {})
        return value

    @model_validator(mode="after")
    def _signed_where_signed(self) -> OutletConfig:
        if self.kind == "wecom" and self.secret is not None:
            raise PydanticCustomError("secret", "WeCom robots are not signed: drop secret", {})
        return self

    def webhook_url(self) -> str:
        return self.webhook.get_secret_value()

    def secret_value(self) -> str | None:
        return self.secret.get_secret_value() if self.secret else None


def _unique_outlets(value: list[OutletConfig]) -> list[OutletConfig]:
    _check_unique([o.name for o in value], "outlet")
    return value


class Config(_Table):
    database: DatabaseConfig = DatabaseConfig()
    evidence: EvidenceConfig = EvidenceConfig()
    locale: LocaleConfig = LocaleConfig()
    telegram: TelegramConfig = TelegramConfig()
    invites: InviteConfig = InviteConfig()
    members: MembersConfig = MembersConfig()
    schedule: ScheduleConfig = ScheduleConfig()
    campaign: CampaignConfig = Field(default_factory=_default_campaign)
    reports: ReportsConfig = ReportsConfig()
    tips: TipsConfig = TipsConfig()
    ranking: RankingConfig = RankingConfig()
    calendar: CalendarConfig = CalendarConfig()
    exports: ExportsConfig = ExportsConfig()
    webhook: WebhookConfig = WebhookConfig()
    bulletin: BulletinConfig = BulletinConfig()
    outlets: Annotated[list[OutletConfig], AfterValidator(_unique_outlets)] = Field(
        default_factory=list
    )

    source: Path | None = Field(None, exclude=True)

    def token(self) -> str | None:
        """The bot token: ``GRIDBOT_TOKEN`` from the environment wins over the file."""
        env = os.environ.get(TOKEN_ENV, "").strip()
        if env:
            return env
        return self.telegram.token.get_secret_value() if self.telegram.token else None


def _database(database: DatabaseConfig, base: Path) -> DatabaseConfig:
    """``url`` and ``path`` agree: a SQLite URL names the file (relative to ``base``),
    which ``path`` then holds; with only ``path``, ``url`` is made from it."""
    if database.url is not None and database.url.startswith("sqlite:///"):
        path = _resolve(Path(unquote(database.url[len("sqlite:///") :])), base)
        return database.model_copy(update={"path": path, "url": f"sqlite:///{path}"})
    path = _resolve(database.path, base)
    if database.url is not None:  # PostgreSQL; `path` unused but made whole all the same
        return database.model_copy(update={"path": path})
    return database.model_copy(update={"path": path, "url": f"sqlite:///{path}"})


def _resolve(path: Path, base: Path) -> Path:
    return path if path.is_absolute() else (base / path)


def _location(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_SECRET_KEYS = frozenset({"token", "secret", "proxy", "webhook"})


def _describe(error: dict[str, Any]) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "missing"
    message = str(error["msg"])
    if message.startswith("Value error, "):
        message = message.removeprefix("Value error, ")
    if kind in {"time", "weekly", "timezone", "url", "code", "unique", "path", "secret", "proxy"}:
        return message
    if error["loc"] and error["loc"][-1] in _SECRET_KEYS:
        return f"{message[0].lower()}{message[1:]}"  # never echo a secret back
    value = error.get("input")
    if isinstance(value, str | int | float | bool):
        return f"{value!r}: {message[0].lower()}{message[1:]}"
    return f"{message[0].lower()}{message[1:]}"


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read, validate and resolve a config file, or raise ``ConfigError``."""
    source = Path(path)
    name = source.name if source.name else str(source)
    try:
        raw = source.read_bytes()
    except FileNotFoundError:
        raise ConfigError([f"{source}: file not found"]) from None
    except OSError as exc:
        raise ConfigError([f"{source}: cannot be read ({exc.strerror})"]) from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError([f"{name}: not UTF-8 text"]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{name}: not valid TOML: {exc}"]) from None
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        lines = []
        for error in exc.errors():
            where = _location(error["loc"])
            lines.append(
                f"{name}: {where}: {_describe(error)}" if where else f"{name}: {_describe(error)}"
            )
        raise ConfigError(lines) from None
    base = source.resolve().parent
    return config.model_copy(
        update={
            "source": source.resolve(),
            "database": _database(config.database, base),
            "evidence": config.evidence.model_copy(
                update={"path": _resolve(config.evidence.path, base)}
            ),
        }
    )
