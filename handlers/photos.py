"""Photos coming in: the largest size of a photo, or an image sent as a file, checked
against the Bot API's download limit before it is downloaded."""

from __future__ import annotations

from telegram import Message
from telegram.error import BadRequest

from bot.core.errors import Refused
from bot.domain.reports import MAX_DOWNLOAD_BYTES, IncomingPhoto
from bot.runtime.context import GridContext


def _is_image_document(message: Message) -> bool:
    return message.document is not None and (message.document.mime_type or "").startswith("image/")


async def fetch_photo(context: GridContext, message: Message) -> IncomingPhoto:
    """The largest size of a photo, or an image sent as a file, downloaded with getFile.

    ``Refused`` for a file that is not an image or is over the Bot API's download limit
    (checked before downloading)."""
    if message.photo:
        size = message.photo[-1]
        file_id, unique_id, file_size, as_file = (
            size.file_id,
            size.file_unique_id,
            size.file_size,
            False,
        )
    else:
        document = message.document
        if document is None or not _is_image_document(message):
            raise Refused("report.not_an_image")
        file_id, unique_id, file_size, as_file = (
            document.file_id,
            document.file_unique_id,
            document.file_size,
            True,
        )
    limit_mb = MAX_DOWNLOAD_BYTES // (1024 * 1024)
    if file_size is not None and file_size > MAX_DOWNLOAD_BYTES:
        raise Refused("report.file_too_big", mb=limit_mb)
    try:
        telegram_file = await context.bot.get_file(file_id)
    except BadRequest as exc:
        if "too big" in str(exc).lower():
            raise Refused("report.file_too_big", mb=limit_mb) from None
        raise
    data = bytes(await telegram_file.download_as_bytearray())
    return IncomingPhoto(data, file_id, unique_id, as_file)
