"""The pieces of the outlets on their own: splitting tables under the platforms' byte
limits, the signatures, the config, the failing state kept until the outlet is edited."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import httpx
import pytest

from bot.config import ConfigError, OutletConfig, load_config
from bot.core.clock import FakeClock
from bot.formats.robots import Table, dingtalk_markdown, feishu_posts, wecom_markdown
from bot.outlets.limiter import RobotLimiter
from bot.outlets.robots import DingTalk, Feishu, masked, secrets_of
from storage import outlets as outlet_repo
from tests.conftest import write_config
from tests.outlet_helpers import DING_SECRET, DING_TOKEN, FEISHU_SECRET, FEISHU_TOKEN, outlet_toml

COLUMNS = ("名次", "单位", "得分", "上报")


def table(rows: int, notes: list[str] | None = None) -> Table:
    return Table(
        "南阳市 各区巡查排名 · 2026-11-23",
        COLUMNS,
        [
            (str(n), f"第{n:03}号网格化管理试点示范片区", f"{n / 7:.2f}", str(n))
            for n in range(1, rows + 1)
        ],
        notes or [],
    )


def test_wecom_parts_stay_under_4096_bytes_split_between_rows_header_on_each():
    parts = wecom_markdown(table(200))
    assert len(parts) > 2
    rows = []
    for index, part in enumerate(parts, 1):
        assert len(part.encode()) <= 4096
        lines = part.split("\n")
        assert lines[0] == f"**南阳市 各区巡查排名 · 2026-11-23 ({index}/{len(parts)})**"
        assert lines[1] == " | ".join(COLUMNS)
        rows += lines[2:]
    assert rows == [" | ".join(row) for row in table(200).rows]
    assert wecom_markdown(table(3)) == [
        "**南阳市 各区巡查排名 · 2026-11-23**\n"
        + "\n".join([" | ".join(COLUMNS), *(" | ".join(r) for r in table(3).rows)])
    ]


def test_notes_follow_the_table_or_take_parts_of_their_own_cut_under_the_limit():
    (one,) = wecom_markdown(table(3, ["⚠️ 未上报：高新区"]))
    assert one.endswith("\n\n⚠️ 未上报：高新区")
    long_note = "⚠️ 未上报：" + "、".join(f"第{n:03}号网格化管理试点示范片区" for n in range(300))
    parts = wecom_markdown(table(3, [long_note]))
    assert len(parts) >= 3 and all(len(p.encode()) <= 4096 for p in parts)
    assert "".join(p.split("\n", 1)[1] for p in parts[1:]) == long_note


def test_dingtalk_and_feishu_parts_fit_their_limits():
    for title, text in dingtalk_markdown(table(200)):
        assert len(text.encode()) <= 4096 and text.startswith(f"#### {title}\n\n")
    posts = feishu_posts(table(1000))
    assert len(posts) >= 3
    for body in posts:
        signed = {"timestamp": "1764000000", "sign": "x" * 44, **body}
        assert len(json.dumps(signed, ensure_ascii=False).encode()) <= 20 * 1024


def _outlet(kind: str, webhook: str, secret: str | None) -> OutletConfig:
    return OutletConfig.model_validate(
        {"name": "o", "kind": kind, "unit": "NY", "webhook": webhook, "secret": secret}
    )


async def test_the_signatures_follow_the_platforms_documents():
    clock = FakeClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    client = httpx.AsyncClient()
    ding = DingTalk(
        _outlet(
            "dingtalk",
            f"https://oapi.dingtalk.com/robot/send?access_token={DING_TOKEN}",
            DING_SECRET,
        ),
        client,
        clock,
    )
    url, _ = ding.sign({"msgtype": "text", "text": {"content": "x"}})
    timestamp = str(int(clock.now().timestamp() * 1000))
    sign = url.split("&sign=")[1]
    expected = hmac.new(
        DING_SECRET.encode(), f"{timestamp}\n{DING_SECRET}".encode(), hashlib.sha256
    )
    assert f"&timestamp={timestamp}&" in url
    assert base64.b64decode(unquote(sign)) == expected.digest()
    feishu = Feishu(
        _outlet(
            "feishu", f"https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}", FEISHU_SECRET
        ),
        client,
        clock,
    )
    _, body = feishu.sign({"msg_type": "text", "content": {"text": "x"}})
    seconds = str(int(clock.now().timestamp()))
    key = f"{seconds}\n{FEISHU_SECRET}".encode()
    assert body["timestamp"] == seconds
    assert base64.b64decode(body["sign"]) == hmac.new(key, b"", hashlib.sha256).digest()
    await client.aclose()


def test_masked_addresses_and_the_secrets_to_hide():
    wecom = "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7aoc"
    assert masked(wecom) == "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=***"
    hook = f"https://open.feishu.cn/open-apis/bot/v2/hook/{FEISHU_TOKEN}"
    assert masked(hook) == "https://open.feishu.cn/open-apis/bot/v2/hook/***"
    found = secrets_of(_outlet("feishu", hook, FEISHU_SECRET))
    assert FEISHU_TOKEN in found and FEISHU_SECRET in found and hook in found


def test_outlets_in_the_config(tmp_path):
    config = load_config(
        write_config(tmp_path, outlet_toml("a", "wecom", "NY", "https://x.example/send?key=k"))
    )
    (outlet,) = config.outlets
    assert outlet.sends == ["daily", "weekly", "overdue", "plans"] and outlet.per_minute == 20
    assert "k" not in repr(outlet.webhook)
    for extra, problem in (
        (outlet_toml("a", "wecom", "NY", "https://x/s?key=k") * 2, "outlets: duplicate outlet 'a'"),
        (
            outlet_toml("A b", "wecom", "NY", "https://x/s?key=k"),
            "outlets[0].name: 'A b' is not a name",
        ),
        (outlet_toml("a", "slack", "NY", "https://x/s?key=k"), "outlets[0].kind: 'slack'"),
        (
            outlet_toml("a", "wecom", "NY", "https://x/s?key=k", sends=["hourly"]),
            "outlets[0].sends[0]: 'hourly'",
        ),
        (outlet_toml("a", "dingtalk", "NY", "https://x/s?t=k", per_minute=30), "per_minute"),
    ):
        (tmp_path / "c").mkdir(exist_ok=True)
        with pytest.raises(ConfigError) as raised:
            load_config(write_config(tmp_path / "c", extra))
        assert any(problem in line for line in raised.value.lines), raised.value.lines


async def test_a_failing_outlet_stays_failing_until_its_address_or_secret_changes(services):
    now = services.clock.now()
    async with services.db.transaction() as conn:
        first = await outlet_repo.register(conn, "o", "fp1", now)
        assert await outlet_repo.mark_failing(conn, "o", "code 310000", now)
        assert not await outlet_repo.mark_failing(conn, "o", "code 310000", now)  # told once
        later = await outlet_repo.register(conn, "o", "fp1", now + timedelta(days=1))
        assert later.failing_reason == "code 310000" and later.first_seen == first.first_seen
        edited = await outlet_repo.register(conn, "o", "fp2", now + timedelta(days=2))
        assert edited.failing_since is None and edited.first_seen == first.first_seen


async def test_the_limiter_keeps_any_minute_and_any_second_under_its_figures():
    clock = FakeClock()
    limiter = RobotLimiter(clock, per_minute=20, per_second=5)
    times = []

    async def take(count: int) -> None:
        for _ in range(count):
            await limiter.acquire()
            times.append(clock.now())

    from tests.outlet_helpers import run_past_waits

    await run_past_waits(clock, take(45))
    for start in times:
        assert sum(1 for t in times if start <= t < start + timedelta(seconds=60)) <= 20
        assert sum(1 for t in times if start <= t < start + timedelta(seconds=1)) <= 5
    assert times[-1] - times[0] >= timedelta(seconds=120)
