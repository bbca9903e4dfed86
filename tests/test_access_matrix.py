"""The access matrix: every slash command and every button kind, tried by every role —
non-member, disabled member, worker, lead, admin — at targets inside and outside their
scope, and checked against ONE policy table declared here (``COMMAND_POLICY`` and
``BUTTON_POLICY``). Buttons are pressed in private and in group chats; who may press one
where is taken from the bot's own table, ``bot.core.policy.BUTTONS``, which must agree
with ``BUTTON_POLICY``.

Deny by default: a command in ``bot.core.policy.COMMANDS`` or a button kind registered in
``handlers.callbacks`` with no entry below or in ``bot.core.policy`` fails
``test_every_command_and_button_kind_has_a_policy`` (and its own matrix case; the bot
itself refuses to register it). "Allowed" means the bot answered with the entry's mark of
success and no refusal; "denied" means the specific refusal, and the database unchanged.

The callers: a worker of 崔庄社区 (WL-WH-CZ), a lead of 武侯街道 (WL-WH), an admin of
卧龙区 (WL), and someone who is not a member. Everything under WL-WH-CZ is in every
member's scope; everything in 宛城区 (WC) is outside all of them.
"""

from __future__ import annotations

import io
import secrets
import string
from dataclasses import dataclass, field
from datetime import date, timedelta
from enum import IntEnum
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from bot.botapi import ApiCall, TestUser
from bot.core import policy
from bot.core.access import Audience, Role
from bot.core.policy import COMMANDS
from bot.domain.invites import hash_token
from bot.domain.plans import PlanSpec
from bot.domain.reports import IncomingPhoto
from bot.formats.tipfile import TipRow
from handlers import callbacks
from handlers.common import guarded_button, guarded_command
from storage import bulletin_issues
from storage import invites as invite_repo
from storage.db import table_names
from storage.members import Member
from tests.conftest import ON_POSTGRES
from tests.photos import photo


class Who(IntEnum):
    """A caller, ordered by what they may do. DISABLED is an admin who was disabled."""

    DISABLED = -1
    NONE = 0  # not a member
    WORKER = 1
    LEAD = 2
    ADMIN = 3


ROLES = (Who.NONE, Who.WORKER, Who.LEAD, Who.ADMIN)
PRESSERS = (Who.DISABLED, *ROLES)
PRIVATE, GROUP = "private", "group"
BOTH = frozenset({PRIVATE, GROUP})
ONLY_PRIVATE, ONLY_GROUP = frozenset({PRIVATE}), frozenset({GROUP})

# Chats a try is sent in (besides PRIVATE): a group nobody bound yet (a new one per try),
# a group bound to 崔庄社区 and one bound to 宛城区.
NEW_GROUP, GROUP_IN, GROUP_OUT = "new group", "group in", "group out"

# ------------------------------------------------------------------ refusals (zh)

NOT_MEMBER = "您还不是本机器人的成员，不能使用 /{}。"
HOW_TO_JOIN = (
    "加入方法：请向所在社区、街道或区的负责人索取邀请链接，点开链接后按提示发送姓名即可。\n"
    "您的 Telegram ID：{}（管理员添加您时需要）"
)
NO_RIGHT = "抱歉，您没有使用 /{} 的权限。"
NO_RIGHT_EXACT = "抱歉，您没有使用 /{} 的权限。发送 /help 查看您可用的命令。"
DISABLED = "您的账号已被停用，如有疑问请联系管理员。"
PRIVATE_ONLY = "请在与我的私聊中使用 /{}。"
GROUP_ONLY = "请在要绑定的工作群中使用 /{}。"
SCOPE = "不在您的管辖范围内"
HIDDEN_TIP = "没有找到您管辖范围内编号为"  # no hint that the tip exists
HIDDEN_SITE = "在您的管辖范围内没有找到编号为"
STALE = "此按钮已失效，请重新发送命令。"
REPORT_STALE = "此按钮属于已结束或已过期的上报，请发送 /report 查看当前上报。"
TIP_STALE = "此按钮或操作已失效（线索状态已变化或草稿已结束）。"
RECEIVE_LEADS_ONLY = "只有负责人和管理员可以受理新线索。"
INVITE_STALE = "这个邀请链接已失效或已被撤销，请重新发送 /invites。"
MOVE_STALE = "这个调动确认已失效，请重新点开邀请链接。"

# Any of these in an answer to an allowed try means it was not done.
NOT_DONE = (
    "您还不是本机器人的成员，不能使用",
    "没有使用 /",
    SCOPE,
    "已被停用",
    "请在与我的私聊中使用",
    "请在要绑定的工作群中使用",
    "没有找到",
    "此按钮",
    "用法：",
    "未知命令",
    "出错了",
)

# ------------------------------------------------------------------ the policy


@dataclass(frozen=True)
class Try:
    """One message to the bot. ``text`` and ``expect`` take the world's names
    ({tip_in}, {active_out}…). For an allowed try ``expect`` is a mark of success in an
    answer (a document's cells count) and ``absent`` what must not show (out-of-scope
    data); for an out-of-scope try ``expect`` is the refusal."""

    text: str
    expect: str
    chat: str = PRIVATE
    absent: tuple[str, ...] = ()
    least: Who | None = None  # this form of the command needs more than the command
    refused: str = ""  # the answer to a caller who may use the command, not this form


@dataclass(frozen=True)
class Command:
    least: Who  # the least caller that may use it
    where: frozenset[str]
    allowed: tuple[Try, ...]  # targets inside every caller's scope
    outside: tuple[Try, ...] = ()  # targets outside every caller's scope: refused


@dataclass(frozen=True)
class Press:
    """A button press. ``data`` takes the world's names and the presser's own objects
    ({my_report_draft}, {my_close_draft}, {my_ack_tip}, {my_unit}); ``expect`` is, when
    allowed, a mark of success in the answer or in the ``after`` call that follows it,
    and when refused, the exact text of the answer, which must be an alert."""

    data: str
    expect: str
    after: str | None = None


@dataclass(frozen=True)
class Button:
    least: Who  # the least caller that may press it
    command: str  # the command named when a press is refused
    allowed: Press  # the presser's own object, or one inside their scope
    outside: Press | None = None  # someone else's object, or one outside their scope
    where: frozenset[str] = ONLY_PRIVATE  # the chats it may be pressed in


COMMAND_POLICY: dict[str, Command] = {
    "start": Command(Who.NONE, ONLY_PRIVATE, (Try("/start", "您好"),)),
    "help": Command(Who.NONE, BOTH, (Try("/help", "您可以使用以下命令"),)),
    "whoami": Command(Who.NONE, ONLY_PRIVATE, (Try("/whoami", "Telegram ID"),)),
    "lang": Command(Who.NONE, ONLY_PRIVATE, (Try("/lang zh", "已切换为中文"),)),
    "report": Command(Who.WORKER, ONLY_PRIVATE, (Try("/report", "开始巡查上报"),)),
    "update": Command(Who.WORKER, ONLY_PRIVATE, (Try("/update 今日入户走访三家", "工作动态"),)),
    "cancel": Command(Who.WORKER, ONLY_PRIVATE, (Try("/cancel", "当前没有进行中的操作"),)),
    "myreports": Command(Who.WORKER, ONLY_PRIVATE, (Try("/myreports", "您还没有上报记录"),)),
    "site": Command(
        Who.WORKER,
        ONLY_PRIVATE,
        (Try("/site 井-IN", "📍 井-IN", absent=("井-OUT",)),),
        (Try("/site 井-OUT", HIDDEN_SITE),),
    ),
    "close": Command(
        Who.WORKER,
        ONLY_PRIVATE,
        (Try("/close {tip_in}", "办结线索 {tip_in}"),),
        (Try("/close {tip_out}", HIDDEN_TIP),),  # as /tip: no hint that it exists
    ),
    "reports": Command(
        Who.LEAD,
        ONLY_PRIVATE,
        (Try("/reports WL-WH-CZ", "崔庄社区 · 全部上报", absent=("井-OUT",)),),
        (Try("/reports WC", SCOPE), Try("/reports WC-XH-XH-01 today", SCOPE)),
    ),
    "rank": Command(
        Who.LEAD,
        ONLY_PRIVATE,
        (Try("/rank 本周 WL-WH-CZ", "崔庄社区</b> 各网格巡查排名", absent=("宛城",)),),
        (  # a unit outside is answered as one that does not exist
            Try("/rank WC", "找不到编码为 WC 的单位"),
            Try("/rank 本月 WC-XH-XH", "找不到编码为 WC-XH-XH 的单位"),
        ),
    ),
    "tip": Command(  # anyone may read a tip in scope; receiving one is for leads
        Who.WORKER,
        ONLY_PRIVATE,
        (
            Try("/tip", "开始受理举报线索", least=Who.LEAD, refused=RECEIVE_LEADS_ONLY),
            Try("/tip {tip_in}", "📋 线索 {tip_in}"),
        ),
        (Try("/tip {tip_out}", HIDDEN_TIP),),
    ),
    "tips": Command(
        Who.LEAD,
        ONLY_PRIVATE,
        (
            Try("/tips WL-WH-CZ", "崔庄社区 未办结线索", absent=("{tip_out}",)),
            # The official table counts every district, by design (README: "as `gridbot
            # tips table`"); figures only, never a tip's number or content.
            Try("/tips table", "举报线索办理情况", absent=("{tip_out}", "群众反映")),
        ),
        (Try("/tips WC", SCOPE),),
    ),
    "assign": Command(
        Who.LEAD,
        ONLY_PRIVATE,
        (Try("/assign {tip_in} WL-WH-CZ-02 24", "已交办给 崔庄社区第二网格"),),
        (
            Try("/assign {tip_in} WC-XH 24", SCOPE),  # to a unit outside
            Try("/assign {tip_out} WL-WH-CZ 24", HIDDEN_TIP),  # a tip outside
        ),
    ),
    "invite": Command(
        Who.LEAD,
        ONLY_PRIVATE,
        (Try("/invite WL-WH-CZ-01 worker", "?start="),),
        (Try("/invite WC worker", SCOPE), Try("/invite WC-XH-XH-01 网格员 1 1", SCOPE)),
    ),
    "invites": Command(
        Who.LEAD,
        ONLY_PRIVATE,
        (Try("/invites", "崔庄社区（WL-WH-CZ）", absent=("新华社区第一网格",)),),
    ),
    "members": Command(
        Who.LEAD,
        ONLY_PRIVATE,
        (Try("/members WL-WH-CZ", "崔庄社区 的成员", absent=("宛城网格员",)),),
        (Try("/members WC", SCOPE), Try("/members WC-XH-XH-01", SCOPE)),
    ),
    "export": Command(
        Who.LEAD,
        ONLY_PRIVATE,
        (
            Try("/export reports", "井-IN", absent=("井-OUT", "宛城网格员")),
            Try("/export tips", "{tip_in}", absent=("{tip_out}", "{reward_out}")),
            Try("/export members", "崔庄网格员", absent=("宛城网格员",)),
            Try("/export kpis", "按期办结率", absent=("宛城区",)),  # the units under yours
        ),
    ),
    "groups": Command(
        Who.ADMIN,
        ONLY_PRIVATE,
        (Try("/groups", "崔庄社区工作群", absent=("宛城区工作群",)),),
    ),
    "brief": Command(Who.ADMIN, ONLY_PRIVATE, (Try("/brief", "以上为简报预览"),)),
    "item": Command(  # offering one's own status update; writing one directly: leads
        Who.WORKER,
        ONLY_PRIVATE,
        (Try("/item 标题\n正文", "已写入简报信息", least=Who.LEAD, refused="只有负责人和管理员"),),
        (Try("/item {update_out} 别人的工作动态", "没有找到您可以报送的第"),),
    ),
    "reward": Command(
        Who.ADMIN,
        ONLY_PRIVATE,
        (Try("/reward {reward_in} paid", "{reward_in} 的奖励已记为"),),
        (Try("/reward {reward_out} paid", HIDDEN_TIP),),
    ),
    "rewards": Command(
        Who.ADMIN,
        ONLY_PRIVATE,
        (Try("/rewards", "{reward_in}", absent=("{reward_out}",)),),
    ),
    "audit": Command(
        Who.ADMIN,
        ONLY_PRIVATE,
        (Try("/audit 100", "崔庄网格员", absent=("宛城网格员", "宛城区工作群")),),
    ),
    "bindgroup": Command(
        Who.ADMIN,
        ONLY_GROUP,
        (Try("/bindgroup WL-WH-CZ", "本群已绑定到", chat=NEW_GROUP),),
        (
            Try("/bindgroup WC", SCOPE, chat=NEW_GROUP),
            Try("/bindgroup WL-WH-CZ", SCOPE, chat=GROUP_OUT),  # taking over 宛城区's group
        ),
    ),
    "unbindgroup": Command(
        Who.ADMIN,
        ONLY_GROUP,
        (Try("/unbindgroup", "不再接收", chat=GROUP_IN),),
        (Try("/unbindgroup", SCOPE, chat=GROUP_OUT),),
    ),
    "digest": Command(
        Who.ADMIN,
        ONLY_GROUP,
        (Try("/digest", "崔庄社区</b> 各网格巡查排名", chat=GROUP_IN),),
        (Try("/digest", SCOPE, chat=GROUP_OUT),),  # 宛城区's group
    ),
    "disable": Command(
        Who.ADMIN,
        ONLY_PRIVATE,
        (Try("/disable {active_in}", "已停用：崔庄网格员"),),
        (Try("/disable {active_out}", SCOPE),),
    ),
    # Tips handled as cases. Each caller tries the same tip in one world, so the forms
    # tried in scope are ones a second caller gets the same answer to.
    "extend": Command(  # a day before the deadline: past every check of scope
        Who.WORKER,
        ONLY_PRIVATE,
        (Try("/extend {tip_in} 2026-11-20 等待材料", "新时限须晚于线索 {tip_in}"),),
        (Try("/extend {tip_out} 2026-12-31 等待材料", HIDDEN_TIP),),
    ),
    "park": Command(
        Who.ADMIN,
        ONLY_PRIVATE,
        (Try("/park {tip_in} 2027-03-31 等待管网建设", "线索 {tip_in} 已挂账至 2027-03-31"),),
        (Try("/park {tip_out} 2027-03-31 等待管网建设", HIDDEN_TIP),),
    ),
    "callback": Command(
        Who.LEAD,
        ONLY_PRIVATE,
        (Try("/callback {reward_in} 满意 处理及时", "已记录线索 {reward_in} 的回访：满意"),),
        (Try("/callback {reward_out} 满意", HIDDEN_TIP),),
    ),
    "decline": Command(  # an assigned tip is past intake: its state, not its scope
        Who.LEAD,
        ONLY_PRIVATE,
        (Try("/decline {tip_in} 重复", "线索 {tip_in} 当前状态不能执行此操作"),),
        (Try("/decline {tip_out} 重复", HIDDEN_TIP),),
    ),
    "dup": Command(
        Who.LEAD,
        ONLY_PRIVATE,
        (Try("/dup {tip_in} {tip_in}", "线索 {tip_in} 不能作为自己的重复线索"),),
        (Try("/dup {tip_out} {tip_in}", HIDDEN_TIP),),
    ),
    "enable": Command(
        Who.ADMIN,
        ONLY_PRIVATE,
        (Try("/enable {disabled_in}", "已启用：停用网格员甲"),),
        (Try("/enable {disabled_out}", SCOPE),),
    ),
    "todo": Command(Who.WORKER, ONLY_PRIVATE, (Try("/todo", "井-TODO", absent=("井-FAR",)),)),
    "near": Command(Who.WORKER, ONLY_PRIVATE, (Try("/near", "请发送您的当前位置"),)),
    "plan": Command(
        Who.LEAD,
        ONLY_PRIVATE,
        (
            Try("/plan 全市回头看", "检查任务“全市回头看”", absent=("宛城区",)),
            Try("/plan", "新建检查任务"),
        ),
        (Try("/plan 宛城回头看", "没有找到名为“宛城回头看”的进行中检查任务"),),
    ),
    "plans": Command(
        Who.LEAD, ONLY_PRIVATE, (Try("/plans", "全市回头看", absent=("宛城回头看",)),)
    ),
}

BUTTON_POLICY: dict[str, Button] = {
    "mp": Button(
        Who.LEAD,
        "members",
        Press("1:mp:WL-WH-CZ:0", "崔庄社区 的成员", "editMessageText"),
        Press("1:mp:WC:0", "抱歉，宛城区 不在您的管辖范围内。"),
    ),
    "r": Button(
        Who.WORKER,
        "report",
        Press("1:r:{my_report_draft}:cx:0", "已取消本次上报", "sendMessage"),
        Press("1:r:{other_report_draft}:cx:0", REPORT_STALE),
    ),
    "rp": Button(
        Who.WORKER,
        "site",
        Press("1:rp:{report_in}", "井-IN", "sendPhoto"),
        Press("1:rp:{report_out}", "抱歉，新华社区第一网格 不在您的管辖范围内。"),
    ),
    "mr": Button(  # one's own reports only: there is no one else's to ask for
        Who.WORKER,
        "myreports",
        Press("1:mr:0", "您还没有上报记录", "editMessageText"),
    ),
    "rr": Button(
        Who.LEAD,
        "reports",
        Press("1:rr:WL-WH-CZ:all:0", "崔庄社区 · 全部上报", "editMessageText"),
        Press("1:rr:WC:all:0", "抱歉，宛城区 不在您的管辖范围内。"),
    ),
    "td": Button(  # receiving a tip (leads) or closing one
        Who.WORKER,
        "tip",
        Press("1:td:{my_close_draft}:cpd:0", "请输入核查处置情况", "sendMessage"),
        Press("1:td:{other_close_draft}:cpd:0", TIP_STALE),
    ),
    "ta": Button(
        Who.WORKER,
        "close",
        Press("1:ta:{my_ack_tip}:ack", "已接单线索", "sendMessage"),
        Press("1:ta:{tip_out_id}:ack", TIP_STALE),  # a tip they cannot see: no unit named
    ),
    "iv": Button(
        Who.LEAD,
        "invites",
        Press("1:iv:{my_invite}:0", "已撤销邀请链接", "editMessageText"),
        Press("1:iv:{invite_out}:0", INVITE_STALE),  # a link outside: as if there were none
    ),
    "ip": Button(  # the links are the presser's scope's; a page past the end is stale
        Who.LEAD,
        "invites",
        Press("1:ip:0", "您辖区内有效的邀请链接：共", "editMessageText"),
        Press("1:ip:9", STALE),
    ),
    "mv": Button(  # one's own move only: anyone else's is stale
        Who.WORKER,
        "start",
        Press("1:mv:{my_move}:cx", "已取消，您的单位和角色没有变化", "sendMessage"),
        Press("1:mv:{other_move}:ok", MOVE_STALE),
    ),
    "bf": Button(
        Who.ADMIN,
        "brief",
        Press("1:bf:{my_unit}:20261122:cx", "已取消发布", "sendMessage"),
        Press("1:bf:WC:20261122:pub", STALE),  # another unit's bulletin, published
    ),
    "tq": Button(
        Who.WORKER,
        "todo",
        Press("1:tq:{site_todo}", "开始上报地点 井-TODO", "sendMessage"),
        Press("1:tq:{site_far}", "地点“井-FAR”不在您的管辖范围内，不能对其上报。"),
    ),
    "pz": Button(
        Who.LEAD,
        "plans",
        Press("1:pz:{my_plan}", "已关闭", "sendMessage"),
        Press("1:pz:{plan_out}", "抱歉，宛城区 不在您的管辖范围内。"),
    ),
    "pd": Button(
        Who.LEAD,
        "plan",
        Press("1:pd:{my_plan_draft}:cx:0", "已取消新建检查任务", "sendMessage"),
        Press("1:pd:{other_plan_draft}:cx:0", "此按钮属于已结束的任务或草稿。"),
    ),
    "bp": Button(  # the presser's own latest preview; another unit's is stale
        Who.ADMIN,
        "brief",
        Press("1:bp:{my_unit}:20261122:{my_preview}:cx", "已取消发布", "sendMessage"),
        Press("1:bp:WC:20261122:1:pub", STALE),
    ),
    "bi": Button(  # an item of the presser's own preview; another unit's is stale
        Who.ADMIN,
        "brief",
        Press("1:bi:{my_unit}:20261122:{my_preview}:{my_item}:t", "⬜", "editMessageText"),
        Press("1:bi:WC:20261122:1:{my_item}:t", STALE),
    ),
}

# ------------------------------------------------------------------ the world

CALLER_IDS = {Who.DISABLED: 1999, Who.NONE: 9001, Who.WORKER: 3001, Who.LEAD: 2001, Who.ADMIN: 1001}
CITY_ADMIN, ACTIVE_IN, ACTIVE_OUT, DISABLED_IN, DISABLED_OUT = 1000, 3002, 3901, 3003, 3903
TIPS = {  # number -> (received and assigned at, closed as valid?)
    "T-20261122-001": ("WL-WH-CZ-01", False),  # tip_in
    "T-20261122-002": ("WC-XH-XH-01", False),  # tip_out
    "T-20261121-001": ("WL-WH-CZ-01", True),  # reward_in
    "T-20261121-002": ("WC-XH-XH-01", True),  # reward_out
    **{f"T-20261122-01{int(who) + 1}": ("WL-WH-CZ-01", False) for who in Who},  # to ack
}
# A reply's wait: longer on PostgreSQL, where every statement is a round trip (a ranking
# drawn in a busy parallel run took more than 3 s there).
REPLY_TIMEOUT = 6.0 if ON_POSTGRES else 3.0


@dataclass
class World:
    tg: Any
    members: dict[int, Member]
    names: dict[str, str]
    tip_ids: dict[str, int]
    groups: dict[str, dict]
    users: dict[tuple[Who, str], TestUser] = field(default_factory=dict)
    new_groups: int = 0

    def fill(self, template: str) -> str:
        return template.format(**self.names)

    def user(self, who: Who, chat: str) -> TestUser:
        """The caller writing in ``chat``; NEW_GROUP is a group created for this try."""
        if chat == NEW_GROUP:
            self.new_groups += 1
            group = self.tg.server.group(-100_900_000 - self.new_groups, "新工作群")
            return self.users[(who, PRIVATE)].in_chat(group)
        key = (who, chat)
        if key not in self.users:
            self.users[key] = self.users[(who, PRIVATE)].in_chat(self.groups[chat])
        return self.users[key]

    def member_for(self, who: Who) -> Member:
        """The presser's own member; a non-member (or a disabled one) presses the
        payloads of a real member's objects."""
        if who in (Who.WORKER, Who.LEAD, Who.ADMIN):
            return self.members[CALLER_IDS[who]]
        return self.members[ACTIVE_IN]

    async def button_data(self, template: str, who: Who) -> str:
        """Fill a payload; the presser's own drafts are opened only when asked for."""
        services = self.tg.services
        wanted = {name for _, name, _, _ in string.Formatter().parse(template) if name}
        values = dict(self.names)
        mine = self.member_for(who)
        if "my_report_draft" in wanted:
            values["my_report_draft"] = (await services.reports.open(mine)).view.draft.id
        if "other_report_draft" in wanted:
            # The presser has a draft too: naming another's must not fall back to theirs.
            if who > Who.NONE:
                await services.reports.open(mine)
            other = self.members[ACTIVE_OUT]
            values["other_report_draft"] = (await services.reports.open(other)).view.draft.id
        if "my_close_draft" in wanted:
            step = await services.tips.begin_close(mine, self.names["tip_in"])
            values["my_close_draft"] = step.draft.id
        if "other_close_draft" in wanted:
            if who > Who.NONE:
                await services.tips.begin_close(mine, self.names["tip_in"])
            step = await services.tips.begin_close(self.members[ACTIVE_OUT], self.names["tip_out"])
            values["other_close_draft"] = step.draft.id
        if "my_invite" in wanted:  # a link of its own for each presser to revoke
            await services.invites.create(self.members[CITY_ADMIN], "WL-WH-CZ", "worker")
            async with services.db.read() as conn, conn.execute("SELECT max(id) FROM invite") as c:
                values["my_invite"] = str((await c.fetchone())[0])
        if "my_move" in wanted:
            values["my_move"] = str(await self.pending_move(mine))
        if "other_move" in wanted:
            if who > Who.NONE:
                await self.pending_move(mine)
            values["other_move"] = str(await self.pending_move(self.members[ACTIVE_OUT]))
        if "my_plan" in wanted:  # a plan of its own for each presser to close
            spec = PlanSpec(f"关闭{int(who) + 2}", "well", "WL-WH-CZ", None, None, 7, True, "any")
            values["my_plan"] = str((await services.plans.create(None, spec))[0].id)
        if "my_plan_draft" in wanted or "other_plan_draft" in wanted:
            lead = mine if who >= Who.LEAD else self.members[CALLER_IDS[Who.LEAD]]
            values["my_plan_draft"] = str((await services.plans.start_draft(lead)).id)
            other = self.members[CITY_ADMIN]
            values["other_plan_draft"] = str((await services.plans.start_draft(other)).id)
        if "my_item" in wanted:  # an item in the presser's unit, shown by the preview below
            values["my_item"] = await self.new_item(mine)
        if "my_preview" in wanted:
            last = date(2026, 11, 22)
            edition = await services.briefs.edition(mine.unit_code, last, preview=True)
            values["my_preview"] = edition.revision
        values["my_ack_tip"] = self.tip_ids[f"T-20261122-01{int(who) + 1}"]
        values["my_unit"] = mine.unit_code
        return template.format(**values)

    async def new_item(self, member: Member) -> int:
        """A bulletin item of ``member``'s unit, dated in the week ending 2026-11-22."""
        async with self.tg.services.db.transaction() as conn:
            return await bulletin_issues.put_item(
                conn, member.unit_id, member.id, None, "标题", "正文", date(2026, 11, 22),
                self.tg.clock.now(),
            )  # fmt: skip

    async def pending_move(self, member: Member) -> int:
        """``member`` opens an operator's link to another unit: the move waits for them."""
        token = secrets.token_urlsafe(24)
        now = self.tg.clock.now()
        unit = await self.tg.services.org.unit("WL-WH-CZ-02")
        async with self.tg.services.db.transaction() as conn:
            await invite_repo.insert(
                conn,
                token_hash=hash_token(token),
                unit_id=unit.id,
                role="worker",
                max_uses=1,
                expires_at=now + timedelta(days=1),
                created_by=None,
                maker_unit_id=None,
                now=now,
            )
        offer = await self.tg.services.invites.open(member.telegram_id, token)
        assert offer.invite_id is not None
        return offer.invite_id


async def submit_report(tg, member: Member, site: str, seed: int) -> int:
    """A report with one photo the test server knows (so the bot can send it back)."""
    reports = tg.services.reports
    data = photo(seed)
    stored = tg.server.add_file(data, "photos")
    draft = (await reports.open(member)).view.draft.id
    await reports.new_site(member, draft, site)
    await reports.choose_status(member, draft, 0)
    incoming = IncomingPhoto(data, stored.file_id, stored.file_unique_id, False)
    await reports.add_photo(member, seed, incoming, None)
    await reports.photos_done(member, draft)
    await reports.set_location(member, draft, 33.0, 112.5)
    await reports.set_note(member, draft, None)
    return (await reports.submit(member, draft)).report_id


REGISTRY_ROWS = (
    "category,code,name,address,unit,lat,lon,tags,status\n"
    "well,井-TODO,,,WL-WH-CZ-01,33.0,112.5,重点用水户,\n"
    "well,井-FAR,,,WC-XH-XH-01,33.1,112.6,重点用水户,\n"
)


async def build_world(tg) -> World:
    services = tg.services
    members = {
        CITY_ADMIN: await tg.add(CITY_ADMIN, "NY", Role.ADMIN, "市管理员"),
        CALLER_IDS[Who.WORKER]: await tg.add(3001, "WL-WH-CZ", Role.WORKER, "社区网格员"),
        CALLER_IDS[Who.LEAD]: await tg.add(2001, "WL-WH", Role.LEAD, "街道负责人"),
        CALLER_IDS[Who.ADMIN]: await tg.add(1001, "WL", Role.ADMIN, "卧龙区管理员"),
        CALLER_IDS[Who.DISABLED]: await tg.add(1999, "WL", Role.ADMIN, "停用管理员"),
        ACTIVE_IN: await tg.add(ACTIVE_IN, "WL-WH-CZ-01", Role.WORKER, "崔庄网格员"),
        ACTIVE_OUT: await tg.add(ACTIVE_OUT, "WC-XH-XH-01", Role.WORKER, "宛城网格员"),
        DISABLED_IN: await tg.add(DISABLED_IN, "WL-WH-CZ-02", Role.WORKER, "停用网格员甲"),
        DISABLED_OUT: await tg.add(DISABLED_OUT, "WC-XH", Role.WORKER, "停用网格员乙"),
    }
    city = members[CITY_ADMIN]
    for telegram_id in (CALLER_IDS[Who.DISABLED], DISABLED_IN, DISABLED_OUT):
        await services.members.set_active(city, telegram_id, False)

    report_in = await submit_report(tg, members[ACTIVE_IN], "井-IN", seed=101)
    report_out = await submit_report(tg, members[ACTIVE_OUT], "井-OUT", seed=102)
    # Plans: one over the whole city with a site due in 崔庄 and one far away; one over 宛城区.
    registry = Path(services.config.database.path).parent / "sites.csv"
    registry.write_text(REGISTRY_ROWS, encoding="utf-8")
    await services.sites.import_file(registry)
    day = tg.clock.now().date() + timedelta(days=3)
    for name, unit in (("全市回头看", "NY"), ("宛城回头看", "WC")):
        spec = PlanSpec(name, "well", unit, "重点用水户", day, None, False, "any")
        await services.plans.create(None, spec)
    async with services.db.read() as conn, conn.execute("SELECT id, code FROM site") as cur:
        site_ids = {row["code"]: row["id"] for row in await cur.fetchall()}
    async with services.db.read() as conn, conn.execute("SELECT id, name FROM plan") as cur:
        plan_ids = {row["name"]: row["id"] for row in await cur.fetchall()}

    now = tg.clock.now()
    rows = []
    for line, (number, (code, closed)) in enumerate(TIPS.items(), 1):
        unit = await services.org.unit(code)
        rows.append(
            TipRow(
                line=line,
                number=number,
                received_at=now - timedelta(days=1),
                unit=unit,
                description=f"群众反映私自打井 {number}",
                source="hotline",
                assigned_at=now - timedelta(hours=20),
                assigned_unit=unit,
                deadline=now + timedelta(days=3),
                closed_at=now - timedelta(hours=2) if closed else None,
                valid=True if closed else None,
            )
        )
    await services.tips.import_rows(rows)
    async with services.db.read() as conn, conn.execute("SELECT id, number FROM tip") as cur:
        tip_ids = {row["number"]: row["id"] for row in await cur.fetchall()}

    groups = {
        GROUP_IN: tg.server.group(-100_800_001, "崔庄社区工作群"),
        GROUP_OUT: tg.server.group(-100_800_002, "宛城区工作群"),
        GROUP: tg.server.group(-100_800_003, "闲聊群"),  # bound to nothing
    }
    await services.groups.bind(city, -100_800_001, "崔庄社区工作群", "WL-WH-CZ")
    await services.groups.bind(city, -100_800_002, "宛城区工作群", "WC")

    # Open links: one into 崔庄社区 (in every caller's scope), one into 宛城区 (in none).
    await services.invites.create(city, "WL-WH-CZ", "worker")
    await services.invites.create(city, "WC-XH-XH-01", "worker")
    async with services.db.read() as conn, conn.execute("SELECT max(id) FROM invite") as cur:
        invite_out = (await cur.fetchone())[0]

    posted = await services.status_updates.begin(members[ACTIVE_OUT], "宛城的工作动态")
    names = {
        "update_out": str(posted.update_id),
        "invite_out": str(invite_out),
        "tip_in": "T-20261122-001",
        "tip_out": "T-20261122-002",
        "reward_in": "T-20261121-001",
        "reward_out": "T-20261121-002",
        "tip_out_id": str(tip_ids["T-20261122-002"]),
        "report_in": str(report_in),
        "report_out": str(report_out),
        "active_in": str(ACTIVE_IN),
        "active_out": str(ACTIVE_OUT),
        "disabled_in": str(DISABLED_IN),
        "disabled_out": str(DISABLED_OUT),
        "site_todo": str(site_ids["井-TODO"]),
        "site_far": str(site_ids["井-FAR"]),
        "plan_out": str(plan_ids["宛城回头看"]),
    }
    world = World(tg, members, names, tip_ids, groups)
    for who, telegram_id in CALLER_IDS.items():
        world.users[(who, PRIVATE)] = tg.server.user(telegram_id)
    return world


@pytest.fixture
async def world(tg) -> World:
    return await build_world(tg)


# ------------------------------------------------------------------ running tries


# The inbox records every update, refused or not, and the shared send budget (PostgreSQL)
# every reply: they are the transport, not an effect.
TRANSPORT_TABLES = frozenset({"inbox", "send_rate"})


async def snapshot(tg) -> dict[str, list[str]]:
    """Every row of every table but the inbox: what a refusal must leave as it was."""
    out: dict[str, list[str]] = {}
    async with tg.services.db.read() as conn:
        for table in await table_names(conn):
            if table in TRANSPORT_TABLES:
                continue
            async with conn.execute(f'SELECT * FROM "{table}"') as cur:
                out[table] = sorted(repr(tuple(row)) for row in await cur.fetchall())
    return out


def changed(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return sorted(t for t in before.keys() | after.keys() if before.get(t) != after.get(t))


def content(tg, call: ApiCall) -> str:
    """What a call shows: its text or caption, and the cells of an XLSX document."""
    shown = call.text
    document = (call.message or {}).get("document")
    if document and document.get("file_name", "").endswith(".xlsx"):
        book = load_workbook(io.BytesIO(tg.server.file_bytes(document["file_id"])), read_only=True)
        cells = [
            str(value)
            for sheet in book.worksheets
            for row in sheet.iter_rows(values_only=True)
            for value in row
            if value is not None
        ]
        shown += "\n" + "\n".join(cells)
    return shown


def command_refusal(name: str, rule: Command, who: Who, attempt: Try | None = None) -> str | None:
    """What the policy says ``who`` is told when using /name (in the form ``attempt``)
    in its chat, or None."""
    if who is Who.DISABLED and rule.least > Who.NONE:
        return DISABLED
    if who < rule.least:
        return (NOT_MEMBER if who is Who.NONE else NO_RIGHT).format(name)
    if attempt is not None and attempt.least is not None and who < attempt.least:
        return attempt.refused
    return None


async def run_try(world: World, who: Who, attempt: Try, refusal: str | None) -> str | None:
    """Send one try; None when the bot did what the policy says, else what went wrong."""
    user = world.user(who, attempt.chat)
    text = world.fill(attempt.text)
    label = f"{who.name} {text!r} in {attempt.chat}"
    before = await snapshot(world.tg) if refusal else None
    await user.send_text(text)
    seen: list[str] = []
    mark = world.fill(attempt.expect)
    try:
        while True:
            seen.append(content(world.tg, await user.next_reply(timeout=REPLY_TIMEOUT)))
            if refusal or mark in seen[-1] or any(bad in seen[-1] for bad in NOT_DONE):
                break
    except AssertionError:
        shown = [body[:160] for body in seen]
        return f"{label}: no {'refusal' if refusal else repr(mark)} came; saw {shown}"
    if refusal:
        if refusal not in seen[0]:
            return f"{label}: expected the refusal {refusal!r}, got {seen[0][:160]!r}"
        moved = changed(before or {}, await snapshot(world.tg))
        return f"{label}: refused, but changed {moved}" if moved else None
    if mark not in seen[-1]:
        return f"{label}: expected it allowed ({mark!r}), got {seen[-1][:160]!r}"
    leaked = [world.fill(a) for a in attempt.absent if world.fill(a) in "\n".join(seen)]
    return f"{label}: shows out-of-scope {leaked}" if leaked else None


async def run_press(
    world: World, who: Who, press: Press, refusal: str | None, message: ApiCall, chat: str = PRIVATE
) -> str | None:
    """Press one (possibly forged) button under ``message`` in ``chat``; None when as the
    policy says."""
    user = world.user(who, chat)
    data = await world.button_data(press.data, who)
    label = f"{who.name} presses {data!r} in {chat}"
    before = await snapshot(world.tg) if refusal else None
    await user.press(message, data, strict=False)
    try:
        answer = await user.next_reply("answerCallbackQuery", timeout=REPLY_TIMEOUT)
    except AssertionError:
        return f"{label}: the press was never answered"
    said = str(answer.params.get("text") or "")
    if refusal:
        if said != refusal:
            return f"{label}: expected the refusal {refusal!r}, got {said!r}"
        if not answer.params.get("show_alert"):
            return f"{label}: refused in a passing notice, not an alert"
        moved = changed(before or {}, await snapshot(world.tg))
        return f"{label}: refused, but changed {moved}" if moved else None
    if any(bad in said for bad in NOT_DONE):
        return f"{label}: expected it allowed, got {said!r}"
    shown = [said]
    if press.after:
        try:
            shown.append(content(world.tg, await user.next_reply(press.after, REPLY_TIMEOUT)))
        except AssertionError:
            return f"{label}: allowed, but no {press.after} followed"
    mark = world.fill(press.expect)
    return None if any(mark in s for s in shown) else f"{label}: expected {mark!r}, saw {shown}"


def button_refusal(kind: str, who: Who, chat: str = PRIVATE) -> str | None:
    """What the bot's policy table (``bot.core.policy.BUTTONS``) says ``who`` is told on
    pressing a button of ``kind`` in ``chat``, or None: refused as a command is — the
    wrong chat, a disabled member, a non-member (told how to join), a role too low."""
    spec = policy.button_spec(kind)  # KeyError: a button kind with no policy is a failure
    where = policy.Where.PRIVATE if chat == PRIVATE else policy.Where.GROUP
    if where not in spec.where:
        return (PRIVATE_ONLY if where == policy.Where.GROUP else GROUP_ONLY).format(spec.command)
    if spec.audience == Audience.ANYONE:
        return None
    if who is Who.DISABLED:
        return DISABLED
    if who is Who.NONE:
        return NOT_MEMBER.format(spec.command) + "\n\n" + HOW_TO_JOIN.format(CALLER_IDS[who])
    if Audience(int(who)) < spec.audience:
        return NO_RIGHT_EXACT.format(spec.command)
    return None


def _button_kinds() -> set[str]:
    """The KIND of every Button subclass defined in handlers.callbacks."""
    found, todo = set(), [callbacks.Button]
    while todo:
        cls = todo.pop()
        todo.extend(cls.__subclasses__())
        if cls.KIND and cls.__module__ == callbacks.__name__:
            found.add(cls.KIND)
    return found


def unpoliced() -> list[str]:
    """Every command and button kind that exists without a policy: commands declared in
    ``bot.core.policy`` with no entry in this matrix, and button kinds registered in
    ``handlers.callbacks`` (its registry, not a list written here) with no entry in
    ``bot.core.policy.BUTTONS`` or in this matrix. Empty when the policy is complete."""
    missing = [f"/{spec.name}" for spec in policy.COMMANDS if spec.name not in COMMAND_POLICY]
    declared = {spec.kind for spec in policy.BUTTONS}
    for kind in sorted(callbacks.kinds()):
        if kind not in declared:
            missing.append(f"button {kind!r}: no entry in bot.core.policy.BUTTONS")
        if kind not in BUTTON_POLICY:
            missing.append(f"button {kind!r}: no entry in BUTTON_POLICY")
    return missing


# ------------------------------------------------------------------ the tests


def test_every_command_and_button_kind_has_a_policy():
    assert not unpoliced(), f"without a policy: {unpoliced()}"
    declared = {spec.name for spec in COMMANDS}
    assert set(COMMAND_POLICY) <= declared, (
        f"policies for no command: {sorted(set(COMMAND_POLICY) - declared)}"
    )
    kinds = set(callbacks.kinds())
    assert _button_kinds() == kinds, "a Button subclass is not registered by KIND"
    kinds_declared = [spec.kind for spec in policy.BUTTONS]
    assert len(kinds_declared) == len(set(kinds_declared)), "a button kind declared twice"
    assert set(kinds_declared) == kinds, f"policies for no kind: {set(kinds_declared) - kinds}"
    assert set(BUTTON_POLICY) == kinds, f"entries for no kind: {set(BUTTON_POLICY) - kinds}"
    named = {spec.kind: spec.command for spec in policy.BUTTONS}
    assert set(named.values()) <= declared, f"a button names no command: {named}"
    assert all(rule.allowed for rule in COMMAND_POLICY.values()), "a command with no try"


def test_the_bots_button_policy_is_the_one_this_matrix_declares():
    """``bot.core.policy.BUTTONS`` (what the bot enforces) says what ``BUTTON_POLICY``
    (what this test expects) says: the least presser, the chats, the command named."""
    where = {PRIVATE: policy.Where.PRIVATE, GROUP: policy.Where.GROUP}
    problems = []
    for kind, rule in BUTTON_POLICY.items():
        spec = policy.button_spec(kind)
        expected = (
            Audience(int(rule.least)),
            frozenset(where[w] for w in rule.where),
            rule.command,
        )
        if (spec.audience, spec.where, spec.command) != expected:
            problems.append(f"{kind}: the bot has {spec}, the matrix expects {expected}")
    assert not problems, "\n".join(problems)


def test_a_button_kind_or_command_without_a_policy_fails(monkeypatch):
    """A new button kind with no policy entry is listed by the completeness check, fails
    its matrix case and cannot be registered; so can a command with none."""
    monkeypatch.setattr(callbacks, "_KINDS", dict(callbacks._KINDS))  # forgotten afterwards

    class ThrowAwayButton(callbacks.Button):
        KIND = "zz"
        page: int = 0

    assert "zz" in callbacks.kinds()
    assert unpoliced() == [
        "button 'zz': no entry in bot.core.policy.BUTTONS",
        "button 'zz': no entry in BUTTON_POLICY",
    ]
    with pytest.raises(KeyError):
        button_refusal("zz", Who.ADMIN)  # what test_button_matrix[zz] would do first

    async def pressed(update, context, caller, button):
        raise AssertionError("never registered, never called")

    with pytest.raises(KeyError):
        guarded_button(ThrowAwayButton, pressed)

    async def command(update, context, caller):
        raise AssertionError("never registered, never called")

    with pytest.raises(KeyError):
        guarded_command("throwaway", command)
    undeclared = policy.CommandSpec("throwaway", Audience.ADMIN, frozenset({policy.Where.PRIVATE}))
    monkeypatch.setattr(policy, "COMMANDS", (*policy.COMMANDS, undeclared))
    assert "/throwaway" in unpoliced()


@pytest.mark.parametrize("name", sorted({spec.name for spec in COMMANDS} | set(COMMAND_POLICY)))
async def test_command_matrix(world, name):
    """/name by every role: in the wrong kind of chat, at targets outside their scope,
    at targets inside it — each answered as COMMAND_POLICY says."""
    rule = COMMAND_POLICY[name]  # KeyError: a command with no policy is a failure
    problems: list[str] = []
    for who in ROLES:
        for wrong in (PRIVATE, GROUP):
            if wrong in rule.where:
                continue
            refusal = (PRIVATE_ONLY if wrong == GROUP else GROUP_ONLY).format(name)
            misplaced = Try(rule.allowed[0].text, "", chat=wrong)
            problems.append(await run_try(world, who, misplaced, refusal))
        for attempt in rule.outside:  # refused first: nothing done yet can hide a leak
            refusal = command_refusal(name, rule, who) or world.fill(attempt.expect)
            problems.append(await run_try(world, who, attempt, refusal))
        for attempt in rule.allowed:
            refusal = command_refusal(name, rule, who, attempt)
            problems.append(await run_try(world, who, attempt, refusal))
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)


BUTTON_KINDS = sorted(
    set(callbacks.kinds()) | {s.kind for s in policy.BUTTONS} | set(BUTTON_POLICY)
)


@pytest.mark.parametrize("kind", BUTTON_KINDS)
async def test_button_matrix(world, kind):
    """A press of each kind by every presser — disabled, non-member, worker, lead, admin —
    on their own object or one in scope, and forged for someone else's or one outside
    their scope, in private and in groups (bound to a unit in scope, and to none): each
    answered as the bot's policy table says, and then as BUTTON_POLICY says."""
    rule = BUTTON_POLICY[kind]  # KeyError: a button kind with no policy is a failure
    problems: list[str] = []
    for who in PRESSERS:
        for chat in (PRIVATE, GROUP_IN, GROUP):
            message = await world.user(who, chat).ask("/whoami" if chat == PRIVATE else "/help")
            if rule.outside is not None:
                refusal = button_refusal(kind, who, chat) or world.fill(rule.outside.expect)
                problems.append(await run_press(world, who, rule.outside, refusal, message, chat))
            refusal = button_refusal(kind, who, chat)
            problems.append(await run_press(world, who, rule.allowed, refusal, message, chat))
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)


async def test_a_non_members_press_is_answered_in_one_alert(tg):
    """A non-member's press is answered as their command would be — not a member, and
    how to join — in an alert; an alert holds 200 characters, so where both do not fit
    (in English) it says the first alone."""
    chinese, english = tg.server.user(9003), tg.server.user(9004, language_code="en")
    for user in (chinese, english):
        await user.press(await user.ask("/whoami"), "1:mp:WL:0", strict=False)
    zh = (await chinese.next_reply("answerCallbackQuery", REPLY_TIMEOUT)).params
    assert zh["text"] == NOT_MEMBER.format("members") + "\n\n" + HOW_TO_JOIN.format(9003)
    en = (await english.next_reply("answerCallbackQuery", REPLY_TIMEOUT)).params
    assert en["text"] == "You are not a member of this bot yet, so you cannot use /members."
    assert zh["show_alert"] and en["show_alert"]


async def test_a_disabled_admin_is_refused_every_command_and_button(world):
    """Disabled counts as nobody: every member command and every button kind is refused
    (in the chat the command belongs in) and nothing changes."""
    who = Who.DISABLED
    problems: list[str] = []
    for name, rule in COMMAND_POLICY.items():
        if rule.least > Who.NONE:
            attempt = rule.allowed[0]
            problems.append(await run_try(world, who, attempt, command_refusal(name, rule, who)))
    message = await world.user(who, PRIVATE).ask("/whoami")
    assert "状态：已停用" in message.text
    for kind, rule in BUTTON_POLICY.items():
        problems.append(
            await run_press(world, who, rule.allowed, button_refusal(kind, who), message)
        )
    problems = [p for p in problems if p]
    assert not problems, "\n".join(problems)


async def test_help_lists_exactly_what_the_policy_allows(world):
    """/help, in private and in a group, names the commands the policy lets that caller
    use there — no more, no fewer."""
    problems = []
    for who in ROLES:
        for chat, where in ((PRIVATE, PRIVATE), (GROUP, GROUP)):
            reply = await world.user(who, chat).ask("/help")
            listed = {
                line.split()[0][1:] for line in reply.text.splitlines() if line.startswith("/")
            }
            allowed = {
                name
                for name, rule in COMMAND_POLICY.items()
                if where in rule.where and command_refusal(name, rule, who) is None
            }
            if listed != allowed:
                problems.append(
                    f"{who.name} in {chat}: /help lists {sorted(listed - allowed)} it may not "
                    f"use and misses {sorted(allowed - listed)}"
                )
    assert not problems, "\n".join(problems)
