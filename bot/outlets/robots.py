"""The robot webhook protocols of WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书): the
request each message becomes, the signature, and what the platform's answer means.

From the platforms' custom-robot documentation:

- WeCom: ``POST …/cgi-bin/webhook/send?key=KEY`` with ``{"msgtype": "markdown", "markdown":
  {"content": …}}`` (content at most 4,096 bytes), ``image`` as ``base64`` and the ``md5``
  of the bytes (at most 2 MB, PNG or JPG), ``file`` by a ``media_id`` from ``POST
  …/cgi-bin/webhook/upload_media?key=KEY&type=file`` (multipart field ``media``). Answer
  ``{"errcode": 0, "errmsg": "ok"}``; 45009 over the rate, 93000 an invalid webhook.
- DingTalk: ``POST …/robot/send?access_token=T&timestamp=MS&sign=S`` where S is
  ``urlencode(base64(HMAC-SHA256(key=secret, msg=f"{timestamp}\\n{secret}")))``, the
  timestamp in milliseconds within an hour of the server's; ``{"msgtype": "markdown",
  "markdown": {"title", "text"}}``. 310000 a bad signature (or keyword, or IP), 300001 an
  invalid token, 130101 sending too fast (the robot is blocked for ten minutes).
- Feishu: ``POST …/open-apis/bot/v2/hook/TOKEN`` with ``"timestamp"`` (seconds) and
  ``"sign"`` = ``base64(HMAC-SHA256(key=f"{timestamp}\\n{secret}", msg=b""))`` in the body,
  ``{"msg_type": "post", …}`` or ``{"msg_type": "interactive", "card": {"header", "elements"}}``,
  the body at most 20 KB. Answer ``{"code": 0}``; 19021 a bad
  signature, 19022 an IP not allowed, 19024 a keyword missing, 19001 an invalid webhook,
  9499 and 11232 over the rate.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote_plus, urlsplit, urlunsplit

import httpx

from bot.config import OutletConfig
from bot.core.clock import Clock

WECOM_IMAGE_BYTES = 2 * 1024 * 1024


class Verdict(enum.Enum):
    OK = "ok"
    RATE_LIMITED = "rate_limited"  # wait and try again
    BROKEN = "broken"  # bad signature or unknown webhook: the outlet is failing
    REFUSED = "refused"  # this message was refused (shape, size): not sent, not retried
    RETRY = "retry"  # not delivered (no connection, 5xx): back off and try again
    UNKNOWN = "unknown"  # the request may have arrived (timeout mid-answer): never resent


@dataclass(frozen=True)
class Answer:
    verdict: Verdict
    code: int | None = None
    message: str = ""
    status: int | None = None
    data: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return self.verdict is Verdict.OK

    def describe(self) -> str:
        """The platform's answer as one line (never with the webhook's key)."""
        parts = []
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        if self.message:
            parts.append(self.message)
        return ", ".join(parts) or self.verdict.value


def masked(url: str) -> str:
    """A webhook address fit to print: scheme and host, the path's last segment and every
    query value replaced by ``***`` (the key, token or signature)."""
    parts = urlsplit(url)
    path = parts.path
    if parts.query == "" and "/" in path.strip("/"):
        path = path.rsplit("/", 1)[0] + "/***"
    query = re.sub(r"=[^&]*", "=***", parts.query)
    return urlunsplit((parts.scheme, parts.netloc, path, query, ""))


def secrets_of(outlet: OutletConfig) -> list[str]:
    """What must never be shown of an outlet: its address, every key in it, its secret."""
    url = outlet.webhook_url()
    parts = urlsplit(url)
    found = [url]
    found += [value for value in re.findall(r"=([^&]+)", parts.query) if len(value) >= 6]
    last = parts.path.rstrip("/").rsplit("/", 1)[-1]
    if len(last) >= 12:
        found.append(last)
    if outlet.secret_value():
        found.append(outlet.secret_value() or "")
    return found


@dataclass(frozen=True)
class Message:
    """One message to a robot: a JSON body, or a file to upload first (WeCom)."""

    body: dict[str, Any] | None = None
    file_name: str | None = None
    file_data: bytes | None = None


class Robot:
    """One outlet's robot: posts messages and reads the platform's answer."""

    platform = ""
    rate_codes: frozenset[int] = frozenset()
    broken_codes: frozenset[int] = frozenset()
    code_field = "errcode"
    message_field = "errmsg"

    def __init__(self, outlet: OutletConfig, client: httpx.AsyncClient, clock: Clock) -> None:
        self.outlet = outlet
        self.client = client
        self.clock = clock
        self._secrets = secrets_of(outlet)

    def redact(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def url(self) -> str:
        return self.outlet.webhook_url()

    def sign(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The address and body to post (signed where the platform signs)."""
        return self.url(), body

    async def deliver(self, message: Message) -> Answer:
        if message.file_data is not None:
            return await self.send_file(message.file_name or "file", message.file_data)
        assert message.body is not None
        url, body = self.sign(message.body)
        return await self._post(url, json_body=body)

    async def send_file(self, name: str, data: bytes) -> Answer:
        return Answer(Verdict.REFUSED, message=f"{self.platform} robots take no files")

    async def _post(
        self, url: str, json_body: dict[str, Any] | None = None, files: Any = None
    ) -> Answer:
        try:
            if files is not None:
                response = await self.client.post(url, files=files)
            else:
                content = json.dumps(json_body, ensure_ascii=False).encode()
                response = await self.client.post(
                    url, content=content, headers={"Content-Type": "application/json"}
                )
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return Answer(Verdict.RETRY, message=self.redact(f"{type(exc).__name__}: {exc}"))
        except httpx.HTTPError as exc:
            return Answer(Verdict.UNKNOWN, message=self.redact(f"{type(exc).__name__}: {exc}"))
        return self.read(response)

    def read(self, response: httpx.Response) -> Answer:
        status = response.status_code
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            verdict = Verdict.RETRY if status >= 500 else Verdict.REFUSED
            if status == 429:
                verdict = Verdict.RATE_LIMITED
            return Answer(verdict, status=status, message=self.redact(response.text[:200]))
        code = data.get(self.code_field, data.get("StatusCode"))
        message = self.redact(str(data.get(self.message_field, data.get("msg", ""))))[:300]
        code = code if isinstance(code, int) else None
        if status == 429 or code in self.rate_codes:
            verdict = Verdict.RATE_LIMITED
        elif code in self.broken_codes:
            verdict = Verdict.BROKEN
        elif status >= 500:
            verdict = Verdict.RETRY
        elif code == 0 and status < 300:
            verdict = Verdict.OK
        else:
            verdict = Verdict.REFUSED
        return Answer(verdict, code, message, status, data)

    # What each platform's message looks like, built by ``bot.outlets.hub``.
    def text(self, content: str) -> Message:
        raise NotImplementedError


class WeCom(Robot):
    platform = "wecom"
    rate_codes = frozenset({45009})
    broken_codes = frozenset({93000})

    def text(self, content: str) -> Message:
        return Message({"msgtype": "text", "text": {"content": content}})

    @staticmethod
    def markdown(content: str) -> Message:
        return Message({"msgtype": "markdown", "markdown": {"content": content}})

    @staticmethod
    def image(png: bytes) -> Message:
        return Message(
            {
                "msgtype": "image",
                "image": {
                    "base64": base64.b64encode(png).decode(),
                    "md5": hashlib.md5(png).hexdigest(),  # the platform's checksum, not security
                },
            }
        )

    def upload_url(self) -> str:
        parts = urlsplit(self.url())
        path = parts.path.rsplit("/", 1)[0] + "/upload_media"
        query = f"{parts.query}&type=file" if parts.query else "type=file"
        return urlunsplit((parts.scheme, parts.netloc, path, query, ""))

    async def send_file(self, name: str, data: bytes) -> Answer:
        uploaded = await self._post(self.upload_url(), files={"media": (name, data)})
        if not uploaded.ok:
            return uploaded
        media_id = (uploaded.data or {}).get("media_id")
        if not isinstance(media_id, str):
            return Answer(Verdict.REFUSED, message="upload_media gave no media_id")
        return await self._post(
            self.url(), json_body={"msgtype": "file", "file": {"media_id": media_id}}
        )


class DingTalk(Robot):
    platform = "dingtalk"
    rate_codes = frozenset({130101})
    broken_codes = frozenset({310000, 300001})

    def text(self, content: str) -> Message:
        return Message({"msgtype": "text", "text": {"content": content}})

    @staticmethod
    def markdown(title: str, text: str) -> Message:
        return Message({"msgtype": "markdown", "markdown": {"title": title, "text": text}})

    def sign(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        secret = self.outlet.secret_value()
        if not secret:
            return self.url(), body
        timestamp = str(int(self.clock.now().timestamp() * 1000))
        digest = hmac.new(
            secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256
        ).digest()
        sign = quote_plus(base64.b64encode(digest))
        return f"{self.url()}&timestamp={timestamp}&sign={sign}", body


class Feishu(Robot):
    platform = "feishu"
    rate_codes = frozenset({9499, 11232})
    broken_codes = frozenset({19001, 19021, 19022, 19024})
    code_field = "code"
    message_field = "msg"

    def text(self, content: str) -> Message:
        return Message({"msg_type": "text", "content": {"text": content}})

    @staticmethod
    def post(body: dict[str, Any]) -> Message:
        return Message(body)

    @staticmethod
    def card(body: dict[str, Any]) -> Message:
        """An ``interactive`` message: ``{"msg_type": "interactive", "card": {…}}``."""
        return Message(body)

    def sign(self, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        secret = self.outlet.secret_value()
        if not secret:
            return self.url(), body
        timestamp = str(int(self.clock.now().timestamp()))
        digest = hmac.new(f"{timestamp}\n{secret}".encode(), b"", hashlib.sha256).digest()
        return self.url(), {
            "timestamp": timestamp,
            "sign": base64.b64encode(digest).decode(),
            **body,
        }


ROBOTS: dict[str, type[Robot]] = {"wecom": WeCom, "dingtalk": DingTalk, "feishu": Feishu}


def robot_for(outlet: OutletConfig, client: httpx.AsyncClient, clock: Clock) -> Robot:
    return ROBOTS[outlet.kind](outlet, client, clock)
