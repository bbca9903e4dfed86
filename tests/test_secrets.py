"""The bot token never leaves the config: not in the log (at DEBUG, errors included), not
in anything the bot sends, not in exports, not in the files it keeps. And evidence files
are named only by hashes, inside the evidence folder."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import zipfile
from contextlib import contextmanager
from pathlib import Path

import pytest
from openpyxl import load_workbook

from bot.core.access import Role
from bot.ops.logs import configure_logging
from storage.evidence import EvidenceFiles
from tests.conftest import ON_POSTGRES, TEST_TOKEN
from tests.e2e_reports import press, send_photos, start_at_photos
from tests.e2e_tips import receive
from tests.photos import photo

SECRET = TEST_TOKEN.split(":", 1)[1]
ADMIN, LEAD, NEWCOMER = 1001, 2001, 3009
APOLOGY = "抱歉，处理您的消息时出错了，我们已记录此问题。请稍后再试。"


def _leaks(data: str | bytes) -> bool:
    """The token's secret part in any letter case (PTB capitalises error messages, which
    lowercases the rest: a token with its case lost is still nearly all of it)."""
    if isinstance(data, bytes):
        return SECRET.lower().encode() in data.lower()
    return SECRET.lower() in data.lower()


def _unzipped(data: bytes) -> bytes:
    """Every member of an XLSX (a zip) concatenated: the token could hide compressed."""
    with zipfile.ZipFile(io.BytesIO(data)) as book:
        return b"\n".join(book.read(name) for name in book.namelist())


@contextmanager
def debug_logging():
    """All logging at DEBUG to stderr as a deployment configures it (token given as a
    secret); the root handlers and logger levels are restored afterwards. Entered inside
    the test, so the handler writes to the stderr capsys captures."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    levels = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    configure_logging("DEBUG", secrets=[TEST_TOKEN])
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in levels.items():
            logging.getLogger(name).setLevel(level)


async def test_the_token_is_in_no_log_reply_export_or_file(tg, capsys):
    with debug_logging():
        exported = await _scenario(tg)
    err = capsys.readouterr().err
    assert "the scenario starts" in err and "command=export" in err
    assert "Logging error" not in err
    assert err.count("update.failed") == 1 and "send.retry" in err and "Traceback" in err
    assert "[REDACTED]" in err  # the echoed token was there to leak, and was caught
    assert not _leaks(err), [line for line in err.splitlines() if _leaks(line)]

    sent = [call for call in tg.server.calls if call.method != "getUpdates"]
    assert len(sent) > 40
    for call in sent:
        assert not _leaks(json.dumps(call.params, ensure_ascii=False)), call.summary()
        for upload in call.files.values():
            assert not _leaks(upload.data), call.summary()
            if (upload.file_name or "").endswith(".xlsx"):
                assert not _leaks(_unzipped(upload.data)), call.summary()
    assert not _leaks(_unzipped(exported))

    # Nothing the bot wrote to disk holds it: database, its journal, evidence, exports.
    folder = Path(tg.services.config.database.path).parent
    written = [p for p in folder.rglob("*") if p.is_file() and p.name != "config.toml"]
    assert ON_POSTGRES or any(p.suffix == ".sqlite3" for p in written)
    for path in written:
        assert not _leaks(path.read_bytes()), path


async def _scenario(tg) -> bytes:
    """Join by invite, a report with a photo, a tip, an export, two forced errors;
    returns the exported XLSX."""
    await tg.add(ADMIN, "WL", Role.ADMIN, "卧龙区管理员")
    await tg.add(LEAD, "WL-WH", Role.LEAD, "街道负责人")
    admin, lead = tg.server.user(ADMIN), tg.server.user(LEAD)
    logging.getLogger("gridbot.test").debug("the scenario starts")  # DEBUG is on

    # Joining by invite.
    invite = await admin.ask("/invite WL-WH-CZ-01 worker")
    token = re.search(r"\?start=([A-Za-z0-9_-]+)", invite.text)[1]
    worker = tg.server.user(NEWCOMER, "新网格员")
    assert "请发送您的真实姓名" in (await worker.ask(f"/start {token}")).text
    assert "加入成功" in (await worker.ask("王新")).text

    # A report with a photo, through chat: the bot downloads it from a URL with the token.
    ask_photos = await start_at_photos(worker, "井-S1")
    more = await send_photos(worker, [photo(31)])
    ask_location = await press(worker, more, "✅ 照片已齐（1 张）")
    assert "位置" in ask_location.text
    await worker.send_location(33.0, 112.5)
    await worker.next_reply("sendMessage")
    summary = await press(worker, await worker.next_reply("sendMessage"), "跳过")
    assert "上报已提交" in (await press(worker, summary, "✅ 提交")).text
    assert ask_photos

    # A tip, received and assigned.
    number = await receive(lead)
    assert "已交办" in (await lead.ask(f"/assign {number} WL-WH-CZ-01 24")).text
    await tg.server.wait_for(method="sendMessage", chat_id=NEWCOMER)

    # /export reports: an XLSX with the report in it.
    await admin.send_text("/export reports")
    assert "共 1 条" in (await admin.next_reply("sendMessage")).text
    document = await admin.next_reply("sendDocument")
    exported = tg.server.file_bytes(document.message["document"]["file_id"])
    rows = list(load_workbook(io.BytesIO(exported), read_only=True).active.values)
    assert rows[1][rows[0].index("点位")] == "井-S1"
    assert rows[1][rows[0].index("照片 SHA-256")] == hashlib.sha256(photo(31)).hexdigest()

    # Forced errors: Telegram failing a download (retried), and failing with the token in
    # its words.
    tg.server.fail_next("getFile", 500)
    await worker.send_photo(photo(32))
    assert await tg.clock.skip_sleep() == 0.5  # the retry's back-off, on the bot's clock
    assert "已收到照片" in (await worker.next_reply("sendMessage")).text
    tg.server.fail_next("sendMessage", 400, description=f"Bad Request: bot{TEST_TOKEN} said no")
    await admin.send_text("/whoami")
    assert (await admin.next_reply("sendMessage")).text == APOLOGY
    failed = [call for call in tg.server.calls if not call.ok and call.method != "getUpdates"]
    assert [call.method for call in failed] == ["getFile", "sendMessage"]

    return exported


async def test_evidence_files_are_named_by_their_hash_inside_the_folder(tg):
    await tg.add(NEWCOMER, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    worker = tg.server.user(NEWCOMER)
    await start_at_photos(worker, "井-S2")
    datas = [photo(41), photo(42)]
    await send_photos(worker, datas, album="a")
    root = tg.services.config.evidence.path.resolve()
    stored = sorted(p for p in root.rglob("*") if p.is_file())
    expected = sorted(
        root / hashlib.sha256(d).hexdigest()[:2] / hashlib.sha256(d).hexdigest() for d in datas
    )
    assert stored == expected
    for path in stored:
        assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name


VALID = hashlib.sha256(b"evidence").hexdigest()


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "../x",
        "..",
        "../" + VALID[3:],
        VALID[:2] + "/../../" + VALID[8:],
        "/etc/passwd",
        "/" + VALID[1:],
        VALID.upper(),
        VALID[:-1] + "A",
        VALID[:63],
        VALID[:32],
        VALID + "0",
        VALID + VALID,
        VALID[:63] + "\x00",
        VALID + "\x00",
        VALID + "\n",
        "\n" + VALID,
        " " + VALID[1:],
        VALID[:62] + "..",
        VALID[:60] + "/../",
        VALID[:63] + "g",
        "０" + VALID[1:],  # a full-width digit
    ],
)
def test_path_for_rejects_anything_but_a_sha256(tmp_path, bad):
    files = EvidenceFiles(tmp_path / "evidence")
    with pytest.raises(ValueError):
        files.path_for(bad)


def test_path_for_a_sha256_is_inside_the_root(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    files = EvidenceFiles(tmp_path / "link" / ".." / "link")
    path = files.path_for(VALID)
    assert path == (tmp_path / "real" / VALID[:2] / VALID)
    assert path.is_relative_to(files.root) and files.root == (tmp_path / "real")
    written = files.write(VALID, b"evidence")
    assert written == path and files.read(VALID) == b"evidence" and files.exists(VALID)
