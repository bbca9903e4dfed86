"""The project's Bot API test server (see DESIGN.md §6).

server = BotApiServer(token)
HTTPXRequest(httpx_kwargs={"transport": FakeTransport(server)})   # in-process
async with serve_http(server) as url: ...                          # loopback HTTP
user = server.user(1001); reply = await user.ask("/whoami")
"""

from tests.fakeapi.server import ApiCall, BotApiServer, TestUser
from tests.fakeapi.wire import FakeTransport, serve_http

__all__ = ["ApiCall", "BotApiServer", "FakeTransport", "TestUser", "serve_http"]
