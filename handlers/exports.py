"""/export: a table of what the caller's scope covers, sent as XLSX documents; /audit:
the latest entries of the audit log in scope."""

from __future__ import annotations

import logging
import tempfile
from datetime import date
from pathlib import Path

from telegram import InputFile, Update

from bot.core import arguments
from bot.core.errors import Refused
from bot.domain.exports import KINDS
from bot.domain.members import Caller
from bot.domain.records import Member
from bot.runtime.context import GridContext
from handlers.common import local_time, means, reply, reply_text, text

log = logging.getLogger(__name__)

# Uploading tens of megabytes over a slow uplink takes longer than PTB's 20 s default.
UPLOAD_TIMEOUT = 600


def _member(caller: Caller) -> Member:
    assert caller.member is not None
    return caller.member


def _days(args: list[str]) -> tuple[date | None, date | None]:
    days: list[date] = []
    for value in args:
        day = arguments.day(value)
        if day is None:
            raise Refused("export.bad_date", value=value[:20])
        days.append(day)
    return (days[0] if days else None, days[1] if len(days) > 1 else None)


async def export(update: Update, context: GridContext, caller: Caller) -> None:
    """/export KIND [FROM] [TO]: FROM alone means from that day until today."""
    args = context.args or []
    named = args[0] if args else ""
    kind = next((k for k in KINDS if means(context, named, f"export.word.{k}")), None)
    if kind is None or len(args) > 3:
        await reply(update, context, caller, "usage.export")
        return
    member = _member(caller)
    services = context.services
    first, last = _days(args[1:])
    if first and not last:
        last = services.clock.now().astimezone(services.config.locale.zone).date()
    request = services.exports.request(member, kind, first, last, caller.language)
    fields = {
        "kind": text(context, caller, f"export.kind.{kind}"),
        "scope": member.unit_name,
        "period": text(
            context, caller, "export.period", first=first.isoformat(), last=last.isoformat()
        )
        if first and last
        else text(context, caller, "export.all_time"),
    }
    total = await services.exports.count(request)
    if total == 0:
        await reply(update, context, caller, "export.empty", **fields)
        return
    await reply(update, context, caller, "export.working", total=total, **fields)
    if services.exports.busy:
        await reply(update, context, caller, "export.busy")
    chat = update.effective_chat
    assert chat is not None
    with tempfile.TemporaryDirectory(prefix="gridbot-export-") as folder:
        span = f"-{first:%Y%m%d}-{last:%Y%m%d}" if first and last else ""
        out = Path(folder) / f"gridbot-{kind}-{member.unit_code}{span}.xlsx"
        try:
            result = await services.exports.run(member, request, out)
        except Exception:
            log.exception("export.failed kind=%s user=%s", kind, caller.telegram_id)
            await reply(update, context, caller, "export.failed")
            return
        parts = len(result.parts)
        if parts > 1:
            mb = f"{services.config.exports.max_file_mb:g}"
            await reply(update, context, caller, "export.split", parts=parts, mb=mb)
        for number, part in enumerate(result.parts, 1):
            key = "export.caption_part" if parts > 1 else "export.caption"
            caption = text(context, caller, key, part=number, parts=parts, rows=part.rows, **fields)
            with part.path.open("rb") as handle:
                await context.bot.send_document(
                    chat.id,
                    InputFile(handle, filename=part.path.name),
                    caption=caption,
                    write_timeout=UPLOAD_TIMEOUT,
                    read_timeout=UPLOAD_TIMEOUT,
                )


async def audit(update: Update, context: GridContext, caller: Caller) -> None:
    """/audit [N]: the newest N entries about units in the admin's scope."""
    args = context.args or []
    services = context.services
    limit = services.config.exports.audit_lines
    if args:
        chosen = arguments.number(args[0], 1, 100) if len(args) == 1 else None
        if chosen is None:
            await reply(update, context, caller, "usage.audit")
            return
        limit = chosen
    member = _member(caller)
    entries = await services.audit.latest(member, limit)
    if not entries:
        await reply(update, context, caller, "audit.empty", scope=member.unit_name)
        return
    lines = [text(context, caller, "audit.title", scope=member.unit_name, count=len(entries))]
    for entry in entries:
        unit = text(context, caller, "audit.unit", unit=entry.unit_name) if entry.unit_name else ""
        chat = entry.chat_id
        via = text(context, caller, "audit.via_chat", chat=chat) if chat and chat < 0 else ""
        lines.append(
            text(
                context,
                caller,
                "audit.line",
                time=local_time(context, entry.at),
                actor=entry.actor_name,
                action=text(context, caller, f"audit.action.{entry.action}"),
                target=entry.target,
                unit=unit,
                detail=via,
            )
        )
    await _send_lines(update, context, lines)


async def _send_lines(update: Update, context: GridContext, lines: list[str]) -> None:
    """Lines in as few messages as fit Telegram's 4096 characters."""
    chunk: list[str] = []
    size = 0
    for line in lines:
        if chunk and size + len(line) + 1 > 4000:
            await reply_text(update, context, "\n".join(chunk))
            chunk, size = [], 0
        chunk.append(line)
        size += len(line) + 1
    if chunk:
        await reply_text(update, context, "\n".join(chunk))
