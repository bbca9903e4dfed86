"""Leads and admins steering people: /invite, /invites (paged, revoke), /members (paged),
/disable, /enable."""

from __future__ import annotations

from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot.core import arguments
from bot.core.paging import Page
from bot.domain.invites import OpenLink
from bot.domain.members import Caller, MembersPage
from bot.runtime.context import GridContext
from handlers.callbacks import (
    InvitesPageButton,
    MembersPageButton,
    RevokeInviteButton,
)
from handlers.common import (
    edit_moot,
    local_time,
    page_buttons,
    reply,
    reply_text,
    role_name,
    text,
    unit_path,
)
from handlers.menus import refresh_menu


async def invite(update: Update, context: GridContext, caller: Caller) -> None:
    """/invite CODE ROLE [uses] [days]: a deep link that joins a unit with a role."""
    args = context.args or []
    numbers = [arguments.number(a) for a in args[2:]]
    if not 2 <= len(args) <= 4 or None in numbers:
        await reply(update, context, caller, "usage.invite")
        return
    uses = numbers[0] if len(numbers) > 0 else None
    days = numbers[1] if len(numbers) > 1 else None
    assert caller.member is not None
    created = await context.services.invites.create(caller.member, args[0], args[1], uses, days)
    link = f"https://t.me/{context.bot.username}?start={created.token}"
    await reply(
        update,
        context,
        caller,
        "invite.created",
        link=link,
        unit_path=unit_path(context, caller, created.chain),
        code=created.unit.code,
        role=role_name(context, caller, created.role.value),
        uses=created.max_uses,
        expires=local_time(context, created.expires_at),
    )


async def invites(update: Update, context: GridContext, caller: Caller) -> None:
    """/invites: the links still open in the caller's area, a 撤销 button under each,
    a page at a time."""
    if context.args:
        await reply(update, context, caller, "usage.invites")
        return
    assert caller.member is not None
    page = await context.services.invites.open_links_page(caller.member, 0)
    body, markup = _render_links(context, caller, page)
    await reply_text(update, context, body, reply_markup=markup)


async def invites_page_pressed(
    update: Update, context: GridContext, caller: Caller, button: InvitesPageButton
) -> None:
    """« 上一页 / 下一页 under /invites: the page, of the links the caller may see now."""
    query = update.callback_query
    assert query is not None and caller.member is not None
    page = await context.services.invites.open_links_page(caller.member, button.page)
    await query.answer()
    await _show_links(context, caller, query, page)


async def revoke_pressed(
    update: Update, context: GridContext, caller: Caller, button: RevokeInviteButton
) -> None:
    """撤销 under /invites: the link is revoked if the caller may, then the page it was on
    is shown anew (the one before it, if the revoke emptied it)."""
    query = update.callback_query
    member = caller.member
    assert query is not None and member is not None
    revoked = await context.services.invites.revoke(member, button.invite)
    await query.answer(
        text(
            context,
            caller,
            "invite.revoked",
            id=revoked.id,
            unit=revoked.unit.name,
            role=role_name(context, caller, revoked.role.value),
        )
    )
    page = await context.services.invites.open_links_page(member, button.page, clamp=True)
    await _show_links(context, caller, query, page)


async def _show_links(
    context: GridContext, caller: Caller, query: CallbackQuery, page: Page[OpenLink]
) -> None:
    body, markup = _render_links(context, caller, page)
    try:
        await query.edit_message_text(body, reply_markup=markup)
    except BadRequest as exc:
        if not edit_moot(exc):
            raise


def _render_links(
    context: GridContext, caller: Caller, page: Page[OpenLink]
) -> tuple[str, InlineKeyboardMarkup | None]:
    if page.total == 0:
        return text(context, caller, "invite.none_open"), None
    header = "invite.open_header_paged" if page.pages > 1 else "invite.open_header"
    lines = [text(context, caller, header, count=page.total, page=page.page + 1, pages=page.pages)]
    for link in page.items:
        lines.append(
            text(
                context,
                caller,
                "invite.open_line",
                id=link.id,
                unit=link.unit.name,
                code=link.unit.code,
                role=role_name(context, caller, link.role.value),
                uses=link.uses,
                max_uses=link.max_uses,
                expires=local_time(context, link.expires_at),
                maker=link.maker_name or text(context, caller, "invite.operator"),
            )
        )
    rows = [
        [
            InlineKeyboardButton(
                text(context, caller, "invite.revoke", id=link.id),
                callback_data=RevokeInviteButton(invite=link.id, page=page.page).encode(),
            )
        ]
        for link in page.items
    ]
    turn = page_buttons(context, caller, page.page, page.pages, lambda n: InvitesPageButton(page=n))
    return "\n".join(lines), InlineKeyboardMarkup([*rows, turn] if turn else rows)


async def members(update: Update, context: GridContext, caller: Caller) -> None:
    """/members [CODE]: who is in a unit's subtree, twenty to a page."""
    args = context.args or []
    if len(args) > 1:
        await reply(update, context, caller, "usage.members")
        return
    assert caller.member is not None
    page = await context.services.members.members_page(caller.member, args[0] if args else None, 0)
    body, markup = _render_page(context, caller, page)
    await reply_text(update, context, body, reply_markup=markup)


async def members_page_pressed(
    update: Update, context: GridContext, caller: Caller, button: MembersPageButton
) -> None:
    """A ◀ ▶ press under a members list: the page, if the unit is in the caller's scope."""
    query = update.callback_query
    assert query is not None and caller.member is not None
    page = await context.services.members.members_page(caller.member, button.unit, button.page)
    body, markup = _render_page(context, caller, page)
    await query.answer()
    try:
        await query.edit_message_text(body, reply_markup=markup)
    except BadRequest as exc:
        if not edit_moot(exc):
            raise


def _render_page(
    context: GridContext, caller: Caller, page: MembersPage
) -> tuple[str, InlineKeyboardMarkup | None]:
    if page.total == 0:
        return text(context, caller, "members.empty", unit=page.unit.name), None
    lines = [
        text(
            context,
            caller,
            "members.header",
            unit=page.unit.name,
            total=page.total,
            page=page.page + 1,
            pages=page.pages,
        )
    ]
    first = page.page * context.services.members.page_size
    for number, member in enumerate(page.members, start=first + 1):
        lines.append(
            text(
                context,
                caller,
                "members.line",
                number=number,
                name=member.name,
                role=role_name(context, caller, member.role),
                unit=member.unit_name,
                code=member.unit_code,
                telegram_id=member.telegram_id,
                mark="" if member.active else text(context, caller, "members.disabled_mark"),
            )
        )
    buttons = page_buttons(
        context,
        caller,
        page.page,
        page.pages,
        lambda n: MembersPageButton(unit=page.unit.code, page=n),
    )
    return "\n".join(lines), InlineKeyboardMarkup([buttons]) if buttons else None


async def disable(update: Update, context: GridContext, caller: Caller) -> None:
    """/disable TELEGRAM_ID: the member can no longer use the bot; nothing is deleted."""
    await _set_active(update, context, caller, active=False)


async def enable(update: Update, context: GridContext, caller: Caller) -> None:
    """/enable TELEGRAM_ID: undo /disable."""
    await _set_active(update, context, caller, active=True)


async def _set_active(
    update: Update, context: GridContext, caller: Caller, *, active: bool
) -> None:
    args = context.args or []
    usage = "usage.enable" if active else "usage.disable"
    if len(args) != 1:
        await reply(update, context, caller, usage)
        return
    telegram_id = arguments.number(args[0], arguments.INT64_MIN)
    if telegram_id is None:
        await reply(update, context, caller, "member.bad_id")
        return
    assert caller.member is not None
    target = await context.services.members.set_active(caller.member, telegram_id, active)
    await reply(
        update,
        context,
        caller,
        "member.enabled" if active else "member.disabled",
        name=target.name,
        unit=target.unit_name,
        role=role_name(context, caller, target.role),
    )
    await refresh_menu(context, target.telegram_id)
