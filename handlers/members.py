"""Leads and admins steering people: /invite, /invites (revoke), /members (paged),
/disable, /enable."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest

from bot import arguments, commands
from bot.callbacks import MembersPageButton, RevokeInviteButton, decode
from bot.context import GridContext
from bot.errors import Refused
from bot.invites import OpenLink
from bot.members import Caller, MembersPage
from handlers.common import (
    caller_of,
    edit_moot,
    local_time,
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
        unit_path=unit_path(created.chain),
        code=created.unit.code,
        role=role_name(context, caller, created.role.value),
        uses=created.max_uses,
        expires=local_time(context, created.expires_at),
    )


INVITES_SHOWN = 20


async def invites(update: Update, context: GridContext, caller: Caller) -> None:
    """/invites: the links still open in the caller's area, a 撤销 button under each."""
    if context.args:
        await reply(update, context, caller, "usage.invites")
        return
    assert caller.member is not None
    links = await context.services.invites.open_links(caller.member)
    body, markup = _render_links(context, caller, links)
    await reply_text(update, context, body, reply_markup=markup)


async def revoke_pressed(update: Update, context: GridContext) -> None:
    """撤销 under /invites: permissions are checked again, then the list is shown anew."""
    query = update.callback_query
    assert query is not None
    caller = await caller_of(update, context)
    button = decode(query.data, RevokeInviteButton)
    if not isinstance(button, RevokeInviteButton):
        await query.answer(text(context, caller, "button.forged"), show_alert=True)
        return
    member = caller.member
    if member is None or not member.active:
        key = "deny.disabled" if member else "button.stale"
        await query.answer(text(context, caller, key), show_alert=True)
        return
    if caller.audience < commands.spec("invites").audience:
        await query.answer(text(context, caller, "deny.role", command="invites"), show_alert=True)
        return
    try:
        revoked = await context.services.invites.revoke(member, button.invite)
    except Refused as refusal:
        await query.answer(text(context, caller, refusal.key, **refusal.fields), show_alert=True)
        return
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
    body, markup = _render_links(context, caller, await context.services.invites.open_links(member))
    try:
        await query.edit_message_text(body, reply_markup=markup)
    except BadRequest as exc:
        if not edit_moot(exc):
            raise


def _render_links(
    context: GridContext, caller: Caller, links: list[OpenLink]
) -> tuple[str, InlineKeyboardMarkup | None]:
    if not links:
        return text(context, caller, "invite.none_open"), None
    shown = links[:INVITES_SHOWN]
    lines = [text(context, caller, "invite.open_header", count=len(links))]
    for link in shown:
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
    if len(links) > len(shown):
        lines.append(text(context, caller, "invite.open_more", shown=len(shown)))
    rows = [
        [
            InlineKeyboardButton(
                text(context, caller, "invite.revoke", id=link.id),
                callback_data=RevokeInviteButton(invite=link.id).encode(),
            )
        ]
        for link in shown
    ]
    return "\n".join(lines), InlineKeyboardMarkup(rows)


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


async def members_page_pressed(update: Update, context: GridContext) -> None:
    """A ◀ ▶ press under a members list: permissions are checked again, then the page."""
    query = update.callback_query
    assert query is not None
    caller = await caller_of(update, context)
    button = decode(query.data, MembersPageButton)
    if button is None:
        await query.answer(text(context, caller, "button.forged"), show_alert=True)
        return
    member = caller.member
    if member is None or not member.active:
        await query.answer(text(context, caller, "deny.disabled" if member else "button.stale"))
        return
    try:
        page = await context.services.members.members_page(member, button.unit, button.page)
    except Refused as refusal:
        await query.answer(
            text(context, caller, refusal.key, **{"command": "members", **refusal.fields}),
            show_alert=True,
        )
        return
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
    buttons = []
    if page.page > 0:
        buttons.append(
            InlineKeyboardButton(
                text(context, caller, "members.prev"),
                callback_data=MembersPageButton(unit=page.unit.code, page=page.page - 1).encode(),
            )
        )
    if page.page + 1 < page.pages:
        buttons.append(
            InlineKeyboardButton(
                text(context, caller, "members.next"),
                callback_data=MembersPageButton(unit=page.unit.code, page=page.page + 1).encode(),
            )
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
