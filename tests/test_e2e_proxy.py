"""`gridbot run` with `[telegram] proxy` (or `--proxy`): every Bot API call and every
file download goes through the proxy, and its credentials are never logged."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bot.app import build_application
from bot.botapi import BotApiServer
from bot.config import load_config, proxy_problem, proxy_secrets, redacted_proxy
from bot.core.access import Role
from bot.formats.orgfile import read_org_file
from bot.ops.cli import main
from bot.services import Services
from tests.cli_helpers import start_gridbot, stop_gridbot
from tests.conftest import EXAMPLE_ORG, TEST_TOKEN, add_member, write_config
from tests.e2e_reports import start_at_photos
from tests.forward_proxy import ForwardProxy
from tests.photos import photo

USER, PASSWORD = "gridproxy", "s3cret-Pr0xy-pass"


async def _city_with_a_worker(config_path: Path) -> None:
    services = await Services.open(load_config(config_path))
    try:
        await services.org.import_rows(read_org_file(EXAMPLE_ORG), str(EXAMPLE_ORG))
        await add_member(services, 2002, "WL-WH-CZ", Role.WORKER, "李四")
    finally:
        await services.close()


async def test_run_through_a_forward_proxy_every_call_and_download(tmp_path):
    proxy = ForwardProxy(USER, PASSWORD)
    server = BotApiServer(TEST_TOKEN)
    async with proxy.serve() as proxy_url, server.serve_http() as api_url:
        with_credentials = proxy_url.replace("http://", f"http://{USER}:{PASSWORD}@")
        config = write_config(
            tmp_path,
            f'[telegram]\nproxy = "{with_credentials}"\npoll_timeout = 1\n'
            "[reports]\nalbum_wait_seconds = 0.2\n",
        )
        await _city_with_a_worker(config)
        bot = await start_gridbot(
            "run", "--config", str(config), "--api-url", api_url, "--log-level", "DEBUG",
            cwd=tmp_path,
        )  # fmt: skip
        try:
            await server.wait_polling(timeout=60)
            worker = server.user(2002, "李四")
            assert "姓名：李四" in (await worker.ask("/whoami", timeout=15)).text
            await start_at_photos(worker, "东门菜市场", timeout=15)
            await worker.send_photo(photo(1))
            received = await worker.next_reply("sendMessage", timeout=15)
            assert "已收到照片" in received.text, received.text
        finally:
            logs = await stop_gridbot(bot)
    assert bot.returncode == 0, logs[-3000:]

    through_proxy = Counter(
        r.api_method.lower() for r in proxy.requests if r.api_method != "download"
    )
    at_server = Counter(call.method.lower() for call in server.calls)
    for method in ("getme", "getupdates", "sendmessage", "getfile"):
        assert at_server[method], method
    assert through_proxy == at_server  # nothing reached the Bot API around the proxy
    downloads = [r for r in proxy.requests if r.api_method == "download"]
    assert len(downloads) == len(server.downloads) >= 1
    assert proxy.refused == 0  # the credentials went with every request

    assert USER not in logs and PASSWORD not in logs, logs[-3000:]
    assert TEST_TOKEN not in logs and TEST_TOKEN.split(":", 1)[1] not in logs


def test_a_bad_proxy_is_refused_without_repeating_it(tmp_path, capsys):
    config = write_config(tmp_path, f'[telegram]\nproxy = "ftp://{USER}:{PASSWORD}@proxy:21"\n')
    assert main(["run", "--config", str(config)]) == 2
    err = capsys.readouterr().err
    assert "telegram.proxy: not a proxy URL like http://host:port" in err
    assert USER not in err and PASSWORD not in err

    config = write_config(tmp_path)
    assert main(["run", "--config", str(config), "--proxy", f"{USER}:{PASSWORD}@proxy"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("--proxy: not a proxy URL") and PASSWORD not in err


def test_proxy_urls_accepted_and_shown_without_credentials(tmp_path):
    for url in (
        "http://127.0.0.1:7890",
        "https://proxy.example.org:443",
        f"socks5://{USER}:{PASSWORD}@[::1]:1080",
        "socks5h://proxy.example.org:1080",
    ):
        config = load_config(write_config(tmp_path, f'[telegram]\nproxy = "{url}"\n'))
        assert config.telegram.proxy_url() == url
        assert PASSWORD not in repr(config) and PASSWORD not in str(config.model_dump())
        shown = redacted_proxy(url)
        assert USER not in shown and PASSWORD not in shown
    assert redacted_proxy(f"socks5://{USER}:{PASSWORD}@[::1]:1080") == "socks5://[::1]:1080"
    assert redacted_proxy(None) == "none"
    for bad in ("ftp://host:21", "127.0.0.1:7890", "http://host:99999", "http://host:1/path"):
        assert proxy_problem(bad), bad
    # What the log filter hides: the URL, the credentials (also %-decoded), the password.
    url = "http://us%40er:p%40ssword-long@host:8080"
    assert {"us%40er:p%40ssword-long", "us@er:p@ssword-long", "p@ssword-long"} <= set(
        proxy_secrets(url)
    )


def test_socks5_proxy_builds(tmp_path):
    """socks5:// needs socksio (httpx[socks], a dependency): building must not fail."""
    config = load_config(
        write_config(
            tmp_path,
            f'[telegram]\ntoken = "{TEST_TOKEN}"\nproxy = "socks5://127.0.0.1:1080"\n',
        )
    )
    build_application(config)
