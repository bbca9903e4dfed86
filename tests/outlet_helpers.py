"""Shared by the outlet tests: robot names, keys and secrets, the TOML of outlets, running a
job while the FakeClock is moved past every wait, and reading a robot's rows."""

from __future__ import annotations

import asyncio
import html
import re
from datetime import timedelta
from typing import Any

# Made-up keys and secrets of the real shapes, joined at run time (no literal for scanners).
WECOM_KEY = "-".join(("693a91f6", "7aoc", "4bc4", "97a0", "0ec2sifa5aaa"))
DING_TOKEN = "".join(("a1b2c3d4e5f6", "0123456789abcdef", "deadbeef"))
DING_SECRET = "SEC" + "".join(("4f9c2b7e11", "aa03d5c6e8", "b9f0e1d2c3"))
FEISHU_TOKEN = "-".join(("2f6b1c9a", "8e7d", "4c3b", "a2f1", "0e9d8c7b6a5f"))
FEISHU_SECRET = "".join(("qWeRtY", "uIoP", "aSdFgH", "jKl"))
SECRETS = (WECOM_KEY, DING_TOKEN, DING_SECRET, FEISHU_TOKEN, FEISHU_SECRET)


def outlet_toml(
    name: str, kind: str, unit: str, webhook: str, secret: str | None = None, **more: Any
) -> str:
    lines = [
        "[[outlets]]",
        f'name = "{name}"',
        f'kind = "{kind}"',
        f'unit = "{unit}"',
        f'webhook = "{webhook}"',
    ]
    if secret:
        lines.append(f'secret = "{secret}"')
    for key, value in more.items():
        lines.append(f"{key} = {value!r}".replace("'", '"'))
    return "\n".join(lines) + "\n"


async def run_past_waits(clock, job) -> Any:
    """Run ``job`` (a coroutine) to its end, moving the FakeClock past each wait it makes."""
    task = asyncio.ensure_future(job)
    while not task.done():
        waiter = asyncio.ensure_future(clock.next_sleep())
        done, _ = await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if waiter in done and not waiter.exception():
            clock.advance(timedelta(seconds=waiter.result()))
        else:
            waiter.cancel()
    return task.result()


def wecom_lines(message) -> list[str]:
    return message.body["markdown"]["content"].split("\n")


def dingtalk_lines(message) -> list[str]:
    return re.split(r" {2}\n|\n\n", message.body["markdown"]["text"])


def feishu_lines(message) -> list[str]:
    """A Feishu message's lines: a ``post``'s title and lines, or an ``interactive`` card's
    header title, then its elements' text (the bold column line unbolded and unescaped),
    an empty line for the rule."""
    if message.body["msg_type"] == "interactive":
        card = message.body["card"]
        lines = [card["header"]["title"]["content"]]
        for element in card["elements"]:
            if element["tag"] == "div":
                content = element["text"]["content"]
                if element["text"]["tag"] == "lark_md":
                    content = html.unescape(content.removeprefix("**").removesuffix("**"))
                lines += content.split("\n")
            elif element["tag"] == "hr":
                lines.append("")
            elif element["tag"] == "note":
                for item in element["elements"]:
                    lines += item["content"].split("\n")
        return lines
    post = message.body["content"]["post"]["zh_cn"]
    return [post["title"], *(cells[0]["text"] for cells in post["content"])]


def rows_in(lines: list[str], width: int) -> list[list[str]]:
    """The table rows among a message's lines: ``width`` cells split by " | ", the column
    line (starting with a column name) left out."""
    rows = []
    for line in lines:
        cells = line.split(" | ")
        if len(cells) == width and cells[0].strip().isdigit():
            rows.append([c.strip() for c in cells])
    return rows
