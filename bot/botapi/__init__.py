"""A fake Telegram Bot API server for driving the real PTB ``Application`` in tests.

server = BotApiServer(TOKEN)
transport = server.transport()            # in-process, for HTTPXRequest(httpx_kwargs=...)
async with server.serve_http() as url:    # or real loopback HTTP: base_url=f"{url}/bot"
    ...
user = server.user(1001)
reply = await user.ask("/start")          # push an update, wait for the bot's answer
"""

from bot.botapi.entities import EntityParseError, command_entities, parse_html, utf16_len
from bot.botapi.http import serve_http
from bot.botapi.records import ApiCall, ApiError, StoredFile, Upload
from bot.botapi.server import BotApiServer
from bot.botapi.transport import BotApiTransport, parse_body
from bot.botapi.users import TestUser

__all__ = [
    "ApiCall",
    "ApiError",
    "BotApiServer",
    "BotApiTransport",
    "EntityParseError",
    "StoredFile",
    "TestUser",
    "Upload",
    "command_entities",
    "parse_body",
    "parse_html",
    "serve_http",
    "utf16_len",
]
