"""Inline-button payloads: short, versioned, validated.

Telegram gives 64 bytes of ``callback_data`` and sends back whatever the client says, so
every press is parsed strictly here and anything that does not parse is treated as
forged. Permissions are checked again on every press: ``handlers.common.guarded_button``
applies the kind's entry in ``bot.core.policy.BUTTONS`` before the handler runs.

A payload is ``VERSION:kind:field:field…``. Each kind is a pydantic model that subclasses
``Button`` with a unique ``KIND``; its fields are encoded in declaration order, so a
field value must never contain the separator (patterns below make sure of it).

What a button does is an ``act`` field whose type is a ``StrEnum`` of that kind's actions;
the enum values are the short codes on the wire (unchanged, so buttons sent before still
decode), the member names say what they do.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

VERSION = "1"
SEPARATOR = ":"
MAX_BYTES = 64
UNIT_CODE = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$"

_KINDS: dict[str, type[Button]] = {}


class Button(BaseModel):
    """Base of every button payload; subclasses register themselves by ``KIND``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    KIND: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        if cls.KIND:
            if cls.KIND in _KINDS or SEPARATOR in cls.KIND:
                raise ValueError(f"button kind {cls.KIND!r} is taken or malformed")
            _KINDS[cls.KIND] = cls

    @classmethod
    def pattern(cls) -> str:
        """The regex a ``CallbackQueryHandler`` uses to route this kind."""
        return f"^{VERSION}{SEPARATOR}{cls.KIND}{SEPARATOR}"

    def encode(self) -> str:
        values = [str(getattr(self, name)) for name in type(self).model_fields]
        data = SEPARATOR.join((VERSION, self.KIND, *values))
        if len(data.encode()) > MAX_BYTES:
            raise ValueError(f"callback data over {MAX_BYTES} bytes: {data!r}")
        return data


def kinds() -> dict[str, type[Button]]:
    """Every button kind defined, by ``KIND``: what the policy table must cover."""
    return dict(_KINDS)


class MembersPageButton(Button):
    KIND: ClassVar[str] = "mp"

    unit: str = Field(pattern=UNIT_CODE)
    page: int = Field(ge=0, le=100_000)


class MoveAction(StrEnum):
    CONFIRM = "ok"
    CANCEL = "cx"


class MoveButton(Button):
    """确认调动 / 取消 under an invite link an existing member opened."""

    KIND: ClassVar[str] = "mv"

    invite: int = Field(ge=1, le=2**53)
    act: MoveAction


class RevokeInviteButton(Button):
    """撤销 under one link of ``/invites``; ``page`` is the page it was shown on, drawn
    again after the revoke."""

    KIND: ClassVar[str] = "iv"

    invite: int = Field(ge=1, le=2**53)
    page: int = Field(0, ge=0, le=100_000)


class InvitesPageButton(Button):
    """« 上一页 / 下一页 » under ``/invites``."""

    KIND: ClassVar[str] = "ip"

    page: int = Field(ge=0, le=100_000)


def decode(data: str | None, expected: type[Button] | None = None) -> Button | None:
    """The button a press stands for, or None for anything stale, foreign or forged.

    With ``expected``, a payload of any other kind is None too.
    """
    if not data or len(data.encode()) > MAX_BYTES:
        return None
    parts = data.split(SEPARATOR)
    if len(parts) < 2 or parts[0] != VERSION:
        return None
    model = _KINDS.get(parts[1])
    if model is None or (expected is not None and model is not expected):
        return None
    names = list(model.model_fields)
    if len(parts) - 2 != len(names):
        return None
    try:
        return model.model_validate(dict(zip(names, parts[2:], strict=True)))
    except ValidationError:
        return None


class ReportAction(StrEnum):
    """The buttons of the report flow (``arg`` is the button's number where one is needed)."""

    CATEGORY = "cat"  # choose category #arg
    SITE = "site"  # choose site id arg
    NEW_SITE = "new"  # make the searched text a new site
    STATUS = "st"  # choose status #arg
    PHOTOS_DONE = "pd"  # photos done
    CLEAR_PHOTOS = "pc"  # clear photos
    NO_NOTE = "ns"  # no note
    SUBMIT = "ok"  # submit
    EDIT = "ed"  # show the steps to go back to
    EDIT_STEP = "eg"  # go back to editable step #arg (the number of them: back to the card)
    CANCEL = "cx"  # cancel the draft


class ReportButton(Button):
    """A step of the report flow; ``draft`` is the draft it belongs to."""

    KIND: ClassVar[str] = "r"

    draft: int = Field(ge=1, le=2**53)
    act: ReportAction
    arg: int = Field(0, ge=0, le=2**53)


class ReportPhotosButton(Button):
    """查看照片 under a site's history: send the photos of one report."""

    KIND: ClassVar[str] = "rp"

    report: int = Field(ge=1, le=2**53)


class MyReportsPageButton(Button):
    KIND: ClassVar[str] = "mr"

    page: int = Field(ge=0, le=100_000)


class ScopeReportsPageButton(Button):
    KIND: ClassVar[str] = "rr"

    unit: str = Field(pattern=UNIT_CODE)
    period: Literal["today", "week", "all"]
    page: int = Field(ge=0, le=100_000)


class TipDraftAction(StrEnum):
    """The buttons of receiving or closing a tip."""

    SOURCE = "src"  # source #arg
    DOWN = "down"  # browse into unit arg
    HERE = "here"  # the place is unit arg
    UP = "up"  # browse one level up
    PHOTOS_DONE = "pd"  # photos done (or none)
    NO_CONTACT = "nc"  # no contact
    SUBMIT = "ok"  # submit the tip
    CANCEL = "cx"  # cancel the draft
    CLOSE_PHOTOS_DONE = "cpd"  # closing: photos done
    VALID = "yes"  # closing: valid
    INVALID = "no"  # closing: not valid
    URGENCY = "urg"  # urgency #arg (一般 / 较急 / 紧急)
    DUPLICATE = "dup"  # link as a duplicate of tip id arg


class TipDraftButton(Button):
    """A step of receiving or closing a tip; ``draft`` is the tip draft's id."""

    KIND: ClassVar[str] = "td"

    draft: int = Field(ge=1, le=2**53)
    act: TipDraftAction
    arg: int = Field(0, ge=0, le=2**53)


class NoticeAction(StrEnum):
    """The buttons under a tip notice (not the life-cycle ``bot.domain.tip_cycle.TipAction``
    they lead to)."""

    ACKNOWLEDGE = "ack"  # 接单
    PASS = "pass"  # 通过
    BACK = "back"  # 退回
    GRANT = "xok"  # 同意延期
    REFUSE = "xno"  # 不同意延期


class TipActionButton(Button):
    """接单 (ack), 通过 (pass), 退回 (back), or 同意 / 不同意 an extension on one tip."""

    KIND: ClassVar[str] = "ta"

    tip: int = Field(ge=1, le=2**53)
    act: NoticeAction


class BriefAction(StrEnum):
    PUBLISH = "pub"
    CANCEL = "cx"


class BriefButton(Button):
    """发布 / 取消 under a bulletin preview: the unit and the last day of its period."""

    KIND: ClassVar[str] = "bf"

    unit: str = Field(pattern=UNIT_CODE)
    last: int = Field(ge=20000101, le=99991231)  # YYYYMMDD
    act: BriefAction


class TodoButton(Button):
    """A site under /todo or /near: start a report on it (category and site filled in)."""

    KIND: ClassVar[str] = "tq"

    site: int = Field(ge=1, le=2**53)


class PlanCloseButton(Button):
    """关闭 under one plan of /plans."""

    KIND: ClassVar[str] = "pz"

    plan: int = Field(ge=1, le=2**53)


class PlanDraftAction(StrEnum):
    """The buttons of making a plan with /plan."""

    CATEGORY = "cat"  # category #arg
    MY_UNIT = "mine"  # the scope is the lead's own unit
    NO_TAG = "nt"  # no tag filter
    WEEKLY = "wk"  # every calendar week
    RULE = "rule"  # what counts: RULES[arg]
    SAVE = "ok"
    EDIT = "ed"  # 修改: show the steps to go back to
    EDIT_STEP = "eg"  # go back to editable step #arg (the number of them: 返回 the summary)
    CANCEL = "cx"


class PlanDraftButton(Button):
    """A step of making a plan; ``draft`` is the plan draft's id."""

    KIND: ClassVar[str] = "pd"

    draft: int = Field(ge=1, le=2**53)
    act: PlanDraftAction
    arg: int = Field(0, ge=0, le=100)


class BriefItemAction(StrEnum):
    TOGGLE = "t"  # keep or drop the item
    UP = "u"  # move it one place up
    DOWN = "d"  # move it one place down


class BriefItemButton(Button):
    """✅/⬜, ⬆️, ⬇️ beside an item of a bulletin preview: the unit and last day of the
    issue, the preview's revision (an older preview's buttons are stale) and the item."""

    KIND: ClassVar[str] = "bi"

    unit: str = Field(pattern=UNIT_CODE)
    last: int = Field(ge=20000101, le=99991231)  # YYYYMMDD
    rev: int = Field(ge=1, le=2**31)
    item: int = Field(ge=1, le=2**53)
    act: BriefItemAction


class BriefPublishButton(Button):
    """发布 / 取消 under a bulletin preview, with the preview's revision, so that the 发布
    of an older preview (another /brief since) is stale."""

    KIND: ClassVar[str] = "bp"

    unit: str = Field(pattern=UNIT_CODE)
    last: int = Field(ge=20000101, le=99991231)  # YYYYMMDD
    rev: int = Field(ge=1, le=2**31)
    act: BriefAction
