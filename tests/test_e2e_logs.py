"""Logs over a real scenario at DEBUG: one JSON line per update with its ids, command and
duration; never the token, never what a tipster or worker typed."""

from __future__ import annotations

import json
import logging

from bot.ops.logs import configure_logging
from tests.conftest import TEST_TOKEN
from tests.e2e_tips import LEAD, add_people, receive


async def test_json_lines_carry_ids_and_timings_but_no_content(tg, capsys):
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    configure_logging("DEBUG", secrets=[TEST_TOKEN], format="json")
    try:
        _, lead, _ = await add_people(tg)
        number = await receive(lead, description="崔庄村民王秘密反映有人私自打井")
        await lead.ask(f"/assign {number} WL-WH-CZ 24")
        await lead.ask("/export wells")
        await tg.settled()
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)

    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    updates = [line for line in lines if line["logger"] == "gridbot.updates"]
    commands = [line.get("command") for line in updates]
    assert "/tip" in commands and "/assign" in commands and "/export" in commands
    assert "button" in {line["kind"] for line in updates}
    for line in updates:
        assert line["event"] == "update" and line["chat_id"] == LEAD == line["user_id"]
        assert isinstance(line["update_id"], int) and line["ms"] >= 0
    assert TEST_TOKEN not in err and TEST_TOKEN.split(":")[1] not in err
    assert "13800000000" not in err  # the tipster's contact
    assert "王秘密" not in err  # what the tip said
