"""Looking back: /site CODE (a site's history, with its photos a press away),
/myreports (one's own, paged) and /reports [CODE] [today|week] (a lead's scope)."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, InputMediaPhoto, Update
from telegram.error import BadRequest

from bot.core import periods
from bot.core.errors import echo
from bot.domain.members import Caller
from bot.domain.records import Report
from bot.domain.report_history import ReportPage
from bot.runtime.context import GridContext
from handlers.callbacks import (
    MyReportsPageButton,
    ReportPhotosButton,
    ScopeReportsPageButton,
)
from handlers.common import (
    category_name,
    edit_moot,
    local_time,
    reply,
    reply_text,
    status_name,
    text,
)

PHOTO_BUTTONS = 8
# The period words /reports takes (``period.word.*``) and the history period each names.
TYPED_PERIODS = {periods.DAY: "today", periods.WEEK: "week"}


def _flags(context: GridContext, caller: Caller, report: Report) -> str:
    if not report.flags:
        return ""
    names = [text(context, caller, f"report.flag_name.{kind}") for kind in report.flags]
    return text(
        context, caller, "reports.flags", flags=text(context, caller, "list.separator").join(names)
    )


def report_line(context: GridContext, caller: Caller, report: Report, with_site: bool) -> str:
    return text(
        context,
        caller,
        "reports.line_site" if with_site else "reports.line",
        number=report.number,
        time=local_time(context, report.created_at),
        category=category_name(context, caller, report.category),
        site=report.site_code,
        status=status_name(context, caller, report.category, report.status),
        reporter=report.member_name,
        unit=report.unit_name,
        photos=report.photo_count,
        recheck=text(context, caller, "reports.recheck_mark") if report.recheck else "",
        flags=_flags(context, caller, report),
    )


async def site(update: Update, context: GridContext, caller: Caller) -> None:
    """/site CODE: the history of a site in the caller's scope."""
    code = " ".join(context.args or [])
    if not code:
        await reply(update, context, caller, "usage.site")
        return
    assert caller.member is not None
    found = await context.services.report_history.sites(caller.member, code)
    if not found:
        await reply(update, context, caller, "site.unknown", code=echo(code))
        return
    for history in found:
        current = history.site
        lines = [
            text(
                context,
                caller,
                "site.header",
                site=current.code,
                category=category_name(context, caller, current.category),
                status=status_name(context, caller, current.category, current.status),
                unit=current.unit_name,
                count=current.report_count,
            )
        ]
        if current.tag_list:
            separator = text(context, caller, "list.separator")
            lines.append(
                text(context, caller, "site_plans.tags", tags=separator.join(current.tag_list))
            )
        for entry in await context.services.plans.site_plans(current.id):
            state = "done" if entry.done else "overdue" if entry.overdue else "due"
            lines.append(
                text(
                    context,
                    caller,
                    "site_plans.line",
                    plan=entry.plan.name,
                    state=text(context, caller, f"site_plans.{state}"),
                )
            )
        lines += [report_line(context, caller, r, with_site=False) for r in history.reports]
        rows = [
            [
                InlineKeyboardButton(
                    text(
                        context, caller, "site.photos_button", number=r.number, count=r.photo_count
                    ),
                    callback_data=ReportPhotosButton(report=r.id).encode(),
                )
            ]
            for r in history.reports[:PHOTO_BUTTONS]
        ]
        await reply_text(update, context, "\n".join(lines), reply_markup=InlineKeyboardMarkup(rows))


async def photos_pressed(
    update: Update, context: GridContext, caller: Caller, button: ReportPhotosButton
) -> None:
    """查看照片: the photos of one report, as an album (scope checked again)."""
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None and chat is not None and caller.member is not None
    report, photos = await context.services.report_history.photos(caller.member, button.report)
    await query.answer()
    caption = text(
        context, caller, "site.photos_caption", number=report.number, site=report.site_code
    )
    if len(photos) == 1:
        await context.bot.send_photo(chat.id, photos[0].file_id, caption=caption)
        return
    media = [
        InputMediaPhoto(photo.file_id, caption=caption if index == 0 else None)
        for index, photo in enumerate(photos)
    ]
    await context.bot.send_media_group(chat.id, media)


def _page_markup(page: ReportPage, make: type, **fields: object) -> InlineKeyboardMarkup | None:
    buttons = []
    if page.page > 0:
        buttons.append(
            InlineKeyboardButton("◀", callback_data=make(page=page.page - 1, **fields).encode())
        )
    if page.page + 1 < page.pages:
        buttons.append(
            InlineKeyboardButton("▶", callback_data=make(page=page.page + 1, **fields).encode())
        )
    return InlineKeyboardMarkup([buttons]) if buttons else None


def _render(
    context: GridContext,
    caller: Caller,
    page: ReportPage,
    header_key: str,
    empty_key: str,
    **fields: object,
) -> str:
    if page.total == 0:
        return text(context, caller, empty_key, **fields)
    lines = [
        text(
            context,
            caller,
            header_key,
            total=page.total,
            page=page.page + 1,
            pages=page.pages,
            **fields,
        )
    ]
    lines += [report_line(context, caller, r, with_site=True) for r in page.reports]
    return "\n".join(lines)


async def myreports(update: Update, context: GridContext, caller: Caller) -> None:
    """/myreports: the caller's own latest reports."""
    assert caller.member is not None
    page = await context.services.report_history.mine(caller.member, 0)
    await reply_text(
        update,
        context,
        _render(context, caller, page, "reports.mine", "reports.mine_empty"),
        reply_markup=_page_markup(page, MyReportsPageButton),
    )


def _period_name(context: GridContext, caller: Caller, period: str) -> str:
    return text(context, caller, f"reports.period.{period}")


async def reports(update: Update, context: GridContext, caller: Caller) -> None:
    """/reports [CODE] [today|week]: reports in the caller's scope, flags shown."""
    args = list(context.args or [])
    period = "all"
    kind = periods.kind_of(args[-1], context.services.catalogue.keywords) if args else None
    if kind in TYPED_PERIODS:
        period = TYPED_PERIODS[kind]
        args.pop()
    if len(args) > 1:
        await reply(update, context, caller, "usage.reports")
        return
    assert caller.member is not None
    page = await context.services.report_history.in_scope(
        caller.member, args[0] if args else None, period, 0
    )
    assert page.unit is not None
    await reply_text(
        update,
        context,
        _render(
            context,
            caller,
            page,
            "reports.scope",
            "reports.scope_empty",
            unit=page.unit.name,
            period=_period_name(context, caller, period),
        ),
        reply_markup=_page_markup(page, ScopeReportsPageButton, unit=page.unit.code, period=period),
    )


async def page_pressed(
    update: Update,
    context: GridContext,
    caller: Caller,
    button: MyReportsPageButton | ScopeReportsPageButton,
) -> None:
    """◀ ▶ under /myreports or /reports: checked again, then the page edited in place."""
    query = update.callback_query
    member = caller.member
    assert query is not None and member is not None
    if isinstance(button, MyReportsPageButton):
        page = await context.services.report_history.mine(member, button.page)
        body = _render(context, caller, page, "reports.mine", "reports.mine_empty")
        markup = _page_markup(page, MyReportsPageButton)
    else:
        page = await context.services.report_history.in_scope(
            member, button.unit, button.period, button.page
        )
        assert page.unit is not None
        body = _render(
            context,
            caller,
            page,
            "reports.scope",
            "reports.scope_empty",
            unit=page.unit.name,
            period=_period_name(context, caller, button.period),
        )
        markup = _page_markup(
            page, ScopeReportsPageButton, unit=page.unit.code, period=button.period
        )
    await query.answer()
    try:
        await query.edit_message_text(body, reply_markup=markup)
    except BadRequest as exc:
        if not edit_moot(exc):
            raise
