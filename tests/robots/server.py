"""Group robots of WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书) on loopback HTTP,
written for the outlet tests from the platforms' published custom-robot documentation.

One asyncio HTTP/1.1 server hosts any number of robots of the three platforms, each at
the address its platform gives it:

- WeCom ``POST /cgi-bin/webhook/send?key=KEY``: ``text`` (content ≤ 2,048 bytes),
  ``markdown`` (content ≤ 4,096 bytes), ``image`` (``base64`` of a PNG or JPG ≤ 2 MB and
  the ``md5`` of its bytes), ``file`` (a ``media_id`` from ``POST
  /cgi-bin/webhook/upload_media?key=KEY&type=file``, multipart field ``media``, 5 B to
  20 MB). Errors: 93000 invalid webhook, 45009 over 20 a minute, 40058 content too long,
  40009 a bad image, 40007 an unknown media_id, 40008 an unknown msgtype.
- DingTalk ``POST /robot/send?access_token=T[&timestamp=MS&sign=S]``: a robot with a
  secret (加签) wants ``timestamp`` (ms, within an hour of now) and ``sign`` =
  base64(HMAC-SHA256(secret, f"{timestamp}\\n{secret}")), URL-encoded; ``text``,
  ``markdown`` (title and text), ``actionCard``. Errors: 300001 token does not exist,
  310000 sign not match, 130101 more than 20 a minute — and then the robot is blocked for
  ten minutes — 40035 a missing field.
- Feishu ``POST /open-apis/bot/v2/hook/TOKEN``: a robot with a secret wants ``timestamp``
  (s, within an hour) and ``sign`` = base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}",
  msg=b"")) in the body; ``text``, ``post``, ``interactive`` (a ``card`` object, checked by
  ``card_problem`` against the card JSON 1.0 structure: an optional ``header`` with a text
  ``title`` and a known colour ``template``, ``elements`` each with a known ``tag`` and its
  fields — a malformed card is refused with 11246 and the path of the fault, as Feishu
  does); the body at most 20 KB.
  Answer ``{"code": 0, "msg": "success"}``; 19001 invalid webhook, 19021 sign match fail,
  19002 body too large or bad shape, 11232 over the rate (5 a second, 100 a minute; this
  server also holds a robot to 20 a minute, the figure gridbot keeps to).

Time is the test's clock (``now``), so a rate limit is judged on the FakeClock. Every
request is recorded (``received``) with its answer; a test can make the next request to
a robot fail (an HTTP status, or the connection dropped after the request was read).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.parser import BytesParser
from typing import Any
from urllib.parse import parse_qs, urlsplit

MINUTE = timedelta(seconds=60)


@dataclass
class Robot:
    name: str
    platform: str
    token: str
    secret: str | None = None
    per_minute: int = 20
    accepted: deque[datetime] = field(default_factory=deque)
    blocked_until: datetime | None = None
    failures: list[int | str] = field(default_factory=list)  # status codes, or "drop"
    media: dict[str, tuple[str, bytes]] = field(default_factory=dict)


@dataclass(frozen=True)
class Received:
    robot: str
    platform: str
    at: datetime
    path: str
    query: dict[str, str]
    body: dict[str, Any] | None
    answer: dict[str, Any]
    status: int = 200

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.answer.get(self._code_field, -1) == 0

    @property
    def _code_field(self) -> str:
        return "code" if self.platform == "feishu" else "errcode"

    @property
    def code(self) -> int | None:
        return self.answer.get(self._code_field)


class RobotServer:
    def __init__(self, now: Callable[[], datetime]) -> None:
        self.now = now
        self.robots: dict[tuple[str, str], Robot] = {}
        self.received: list[Received] = []
        self.raw: list[bytes] = []  # every request as it came, to look for leaks
        self._server: asyncio.Server | None = None
        self.port = 0

    # ------------------------------------------------------------------ set-up

    async def start(self) -> RobotServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def wecom(self, name: str, key: str) -> str:
        self.robots[("wecom", key)] = Robot(name, "wecom", key)
        return f"{self.base}/cgi-bin/webhook/send?key={key}"

    def dingtalk(self, name: str, token: str, secret: str | None = None) -> str:
        self.robots[("dingtalk", token)] = Robot(name, "dingtalk", token, secret)
        return f"{self.base}/robot/send?access_token={token}"

    def feishu(self, name: str, token: str, secret: str | None = None) -> str:
        self.robots[("feishu", token)] = Robot(name, "feishu", token, secret)
        return f"{self.base}/open-apis/bot/v2/hook/{token}"

    def robot(self, name: str) -> Robot:
        return next(r for r in self.robots.values() if r.name == name)

    def fail_next(self, name: str, *failures: int | str) -> None:
        """The next requests to robot ``name`` fail: an HTTP status each, "rate" (the
        platform's over-the-rate answer) or "drop" (the request is read, then the
        connection closed without an answer)."""
        self.robot(name).failures.extend(failures)

    def messages(self, name: str) -> list[Received]:
        """The messages robot ``name`` accepted (posted to its group), in order."""
        return [r for r in self.received if r.robot == name and r.ok and "upload" not in r.path]

    # ------------------------------------------------------------------ HTTP

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method, target, _ = lines[0].split(" ", 2)
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                self.raw.append(head + body)
                status, answer = self._handle(method, target, headers, body)
                if status == 0:  # dropped
                    writer.close()
                    return
                payload = json.dumps(answer, ensure_ascii=False).encode()
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                    f"Content-Length: {len(payload)}\r\n\r\n".encode()
                    + payload
                )
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            writer.close()

    def _handle(
        self, method: str, target: str, headers: dict[str, str], raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(target)
        query = {k: v[0] for k, v in parse_qs(parts.query).items()}
        path = parts.path
        if method != "POST":
            return 405, {"errcode": 405, "errmsg": "POST only"}
        if path in ("/cgi-bin/webhook/send", "/cgi-bin/webhook/upload_media"):
            platform, token = "wecom", query.get("key", "")
        elif path == "/robot/send":
            platform, token = "dingtalk", query.get("access_token", "")
        elif path.startswith("/open-apis/bot/v2/hook/"):
            platform, token = "feishu", path.rsplit("/", 1)[1]
        else:
            return 404, {"errcode": 404, "errmsg": "no such path"}
        robot = self.robots.get((platform, token))
        body: dict[str, Any] | None = None
        status = 200
        if robot is not None and robot.failures:
            failure = robot.failures.pop(0)
            if failure == "drop":
                self._record(robot.name, platform, path, query, None, {"dropped": True}, 0)
                return 0, {}
            if failure == "rate":  # another sender used up the robot's minute
                field_name, code = {
                    "wecom": ("errcode", 45009),
                    "dingtalk": ("errcode", 130101),
                    "feishu": ("code", 11232),
                }[platform]
                answer = {field_name: code, "errmsg": "send too fast"}
                self._record(robot.name, platform, path, query, None, answer, 200)
                return 200, answer
            status = int(failure)
            answer = {"errcode": -1, "errmsg": "system busy"}
            self._record(robot.name, platform, path, query, None, answer, status)
            return status, answer
        if path.endswith("upload_media"):
            answer = self._wecom_upload(robot, query, headers, raw)
        else:
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            handler = {
                "wecom": self._wecom,
                "dingtalk": self._dingtalk,
                "feishu": self._feishu,
            }[platform]
            answer = handler(robot, query, body, raw)
        self._record(robot.name if robot else "?", platform, path, query, body, answer, status)
        return status, answer

    def _record(self, name, platform, path, query, body, answer, status) -> None:
        self.received.append(
            Received(name, platform, self.now(), path, query, body, answer, status)
        )

    def _over_rate(self, robot: Robot, per_second: int | None = None) -> bool:
        now = self.now()
        while robot.accepted and now - robot.accepted[0] >= MINUTE:
            robot.accepted.popleft()
        if len(robot.accepted) >= robot.per_minute:
            return True
        if per_second is not None:
            second = [t for t in robot.accepted if now - t < timedelta(seconds=1)]
            if len(second) >= per_second:
                return True
        return False

    # ------------------------------------------------------------------ WeCom

    def _wecom(self, robot, query, body, raw) -> dict[str, Any]:
        def error(code: int, message: str) -> dict[str, Any]:
            return {"errcode": code, "errmsg": message}

        if robot is None:
            return error(93000, "invalid webhook url, hint: [x], more info at errcode 93000")
        if not isinstance(body, dict) or "msgtype" not in body:
            return error(40008, "invalid message type")
        if self._over_rate(robot):
            return error(45009, "api freq out of limit")
        kind = body["msgtype"]
        content = body.get(kind)
        if not isinstance(content, dict):
            return error(40035, f"missing {kind}")
        if kind in ("text", "markdown"):
            text = content.get("content")
            if not isinstance(text, str) or not text:
                return error(40035, "missing content")
            limit = 2048 if kind == "text" else 4096
            if len(text.encode()) > limit:
                return error(40058, f"content exceed max length {limit}")
        elif kind == "image":
            try:
                data = base64.b64decode(content.get("base64", ""), validate=True)
            except ValueError:
                return error(40009, "invalid image base64")
            if len(data) > 2 * 1024 * 1024 or not (
                data.startswith(b"\x89PNG") or data.startswith(b"\xff\xd8")
            ):
                return error(40009, "invalid image size or type")
            if hashlib.md5(data).hexdigest() != content.get("md5"):
                return error(40009, "image md5 does not match")
        elif kind == "file":
            if content.get("media_id") not in robot.media:
                return error(40007, "invalid media_id")
        else:
            return error(40008, "invalid message type")
        robot.accepted.append(self.now())
        return {"errcode": 0, "errmsg": "ok"}

    def _wecom_upload(self, robot, query, headers, raw) -> dict[str, Any]:
        if robot is None:
            return {"errcode": 93000, "errmsg": "invalid webhook url"}
        if query.get("type") != "file":
            return {"errcode": 40004, "errmsg": "invalid media type"}
        message = BytesParser().parsebytes(
            f"Content-Type: {headers.get('content-type', '')}\r\n\r\n".encode() + raw
        )
        if not message.is_multipart():
            return {"errcode": 40035, "errmsg": "multipart/form-data wanted"}
        for part in message.get_payload():
            disposition = str(part.get("Content-Disposition", ""))
            if 'name="media"' in disposition and part.get_filename():
                data = part.get_payload(decode=True) or b""
                if not 5 <= len(data) <= 20 * 1024 * 1024:
                    return {"errcode": 40006, "errmsg": "invalid file size"}
                media_id = f"m{len(robot.media) + 1}-{hashlib.sha1(data).hexdigest()[:8]}"
                # The parser reads headers as ASCII: the name as sent (UTF-8) from the bytes.
                found = re.search(rb'name="media"; filename="([^"]*)"', raw)
                name = found[1].decode() if found else str(part.get_filename())
                robot.media[media_id] = (name, data)
                return {
                    "errcode": 0,
                    "errmsg": "ok",
                    "type": "file",
                    "media_id": media_id,
                    "created_at": str(int(self.now().timestamp())),
                }
        return {"errcode": 40035, "errmsg": "no media field"}

    # ------------------------------------------------------------------ DingTalk

    def _dingtalk(self, robot, query, body, raw) -> dict[str, Any]:
        def error(code: int, message: str) -> dict[str, Any]:
            return {"errcode": code, "errmsg": message}

        if robot is None:
            return error(300001, "token is not exist")
        now = self.now()
        if robot.secret is not None:
            timestamp, sign = query.get("timestamp", ""), query.get("sign", "")
            if not timestamp.isdigit():
                return error(310000, "sign not match, timestamp missing")
            moment = datetime.fromtimestamp(int(timestamp) / 1000, now.tzinfo)
            if abs(now - moment) > timedelta(hours=1):
                return error(310000, "sign not match, timestamp is invalid")
            expected = base64.b64encode(
                hmac.new(
                    robot.secret.encode(),
                    f"{timestamp}\n{robot.secret}".encode(),
                    hashlib.sha256,
                ).digest()
            ).decode()
            if not hmac.compare_digest(expected, sign):  # parse_qs has URL-decoded it
                return error(310000, "sign not match, more: [https://ding-doc.dingtalk.com]")
        if robot.blocked_until is not None and now < robot.blocked_until:
            return error(130101, "send too fast, exceed 20 times per minute")
        if self._over_rate(robot):
            robot.blocked_until = now + timedelta(minutes=10)
            return error(130101, "send too fast, exceed 20 times per minute")
        if not isinstance(body, dict):
            return error(40035, "missing body")
        kind = body.get("msgtype")
        content = body.get(kind) if isinstance(kind, str) else None
        if not isinstance(content, dict):
            return error(40035, "missing msgtype")
        wanted = {"text": ("content",), "markdown": ("title", "text"), "actionCard": ("title",)}
        if kind not in wanted:
            return error(40035, f"unknown msgtype {kind}")
        for name in wanted[kind]:
            if not isinstance(content.get(name), str) or not content[name]:
                return error(40035, f"missing {kind}.{name}")
        if len(raw) > 20000:
            return error(460101, "message too long")
        robot.accepted.append(now)
        return {"errcode": 0, "errmsg": "ok"}

    # ------------------------------------------------------------------ Feishu

    def _feishu(self, robot, query, body, raw) -> dict[str, Any]:
        def error(code: int, message: str) -> dict[str, Any]:
            return {"code": code, "msg": message, "data": {}}

        if robot is None:
            return error(19001, "param invalid: incoming webhook access token invalid")
        if len(raw) > 20 * 1024:
            return error(19002, "request body exceeds 20KB")
        if not isinstance(body, dict):
            return error(19002, "params error, body is not JSON")
        now = self.now()
        if robot.secret is not None:
            timestamp, sign = str(body.get("timestamp", "")), body.get("sign", "")
            if not timestamp.isdigit():
                return error(19021, "sign match fail or timestamp is not within one hour")
            moment = datetime.fromtimestamp(int(timestamp), now.tzinfo)
            expected = base64.b64encode(
                hmac.new(f"{timestamp}\n{robot.secret}".encode(), b"", hashlib.sha256).digest()
            ).decode()
            if abs(now - moment) > timedelta(hours=1) or not hmac.compare_digest(
                expected, str(sign)
            ):
                return error(19021, "sign match fail or timestamp is not within one hour")
        if self._over_rate(robot, per_second=5):
            return error(11232, "frequency limited psm[lark.oapi.app_platform_runtime]")
        kind = body.get("msg_type")
        content = body.get("card") if kind == "interactive" else body.get("content")
        if kind == "text":
            good = isinstance(content, dict) and isinstance(content.get("text"), str)
        elif kind == "post":
            post = content.get("post") if isinstance(content, dict) else None
            good = isinstance(post, dict) and all(
                isinstance(v, dict) and isinstance(v.get("content"), list) for v in post.values()
            )
        elif kind == "interactive":
            problem = card_problem(content)
            if problem is not None:
                path, why = problem
                return error(
                    CARD_INVALID, f"path: message->card{path}; err_msg: {why}; err_type: validation"
                )
            good = True
        else:
            good = False
        if not good:
            return error(19002, f"params error, bad {kind} message")
        robot.accepted.append(now)
        return {"code": 0, "msg": "success", "data": {}}


# ---------------------------------------------------------------------- Feishu cards

CARD_INVALID = 11246  # Feishu: the card failed validation ("path: message->card…")
CARD_TEMPLATES = frozenset(
    {"blue", "wathet", "turquoise", "green", "yellow", "orange", "red", "carmine"}
    | {"violet", "purple", "indigo", "grey", "default"}
)
_TEXT_TAGS = frozenset({"plain_text", "lark_md"})
_ELEMENT_TAGS = frozenset({"div", "markdown", "hr", "note", "img", "action", "column_set"})


def _text_problem(value: Any, path: str) -> tuple[str, str] | None:
    if not isinstance(value, dict):
        return path, "text object wanted"
    if value.get("tag") not in _TEXT_TAGS:
        return f"{path}->tag", f"unknown text tag {value.get('tag')!r}"
    if not isinstance(value.get("content"), str):
        return f"{path}->content", "content must be a string"
    return None


def _element_problem(element: Any, path: str) -> tuple[str, str] | None:
    if not isinstance(element, dict):
        return path, "element must be an object"
    tag = element.get("tag")
    if tag not in _ELEMENT_TAGS:
        return f"{path}->tag", f"unknown element tag {tag!r}"
    if tag == "div":
        if "text" not in element and "fields" not in element:
            return path, "div wants text or fields"
        if "text" in element:
            return _text_problem(element["text"], f"{path}->text")
        fields = element["fields"]
        if not isinstance(fields, list) or not fields:
            return f"{path}->fields", "fields must be a non-empty list"
        for n, item in enumerate(fields):
            found = _text_problem(
                item.get("text") if isinstance(item, dict) else None, f"{path}->fields[{n}]->text"
            )
            if found:
                return found
    elif tag == "markdown":
        if not isinstance(element.get("content"), str):
            return f"{path}->content", "markdown wants content"
    elif tag == "note":
        items = element.get("elements")
        if not isinstance(items, list) or not items:
            return f"{path}->elements", "note wants elements"
        for n, item in enumerate(items):
            found = _text_problem(item, f"{path}->elements[{n}]")
            if found:
                return found
    elif tag == "column_set":
        columns = element.get("columns")
        if not isinstance(columns, list):
            return f"{path}->columns", "column_set wants columns"
        for n, column in enumerate(columns):
            inner = column.get("elements") if isinstance(column, dict) else None
            if not isinstance(column, dict) or column.get("tag") != "column":
                return f"{path}->columns[{n}]", "column wanted"
            for m, item in enumerate(inner or []):
                found = _element_problem(item, f"{path}->columns[{n}]->elements[{m}]")
                if found:
                    return found
    return None


def card_problem(card: Any) -> tuple[str, str] | None:
    """What is wrong with a custom robot's ``card`` (path, reason), or None: a card object,
    an optional header (a text title, a known template), a non-empty list of elements."""
    if not isinstance(card, dict):
        return "", "card must be an object"
    header = card.get("header")
    if header is not None:
        if not isinstance(header, dict):
            return "->header", "header must be an object"
        found = _text_problem(header.get("title"), "->header->title")
        if found:
            return found
        if "template" in header and header["template"] not in CARD_TEMPLATES:
            return "->header->template", f"unknown template {header['template']!r}"
    elements = card.get("elements")
    if card.get("schema") == "2.0":
        body = card.get("body")
        elements = body.get("elements") if isinstance(body, dict) else None
    if not isinstance(elements, list) or not elements:
        return "->elements", "elements must be a non-empty list"
    for n, element in enumerate(elements):
        found = _element_problem(element, f"->elements[{n}]")
        if found:
            return found
    return None
