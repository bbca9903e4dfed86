"""The deployment examples stay in step with the code: their command lines parse, the
proxy snippets forward the webhook path and port the config describes, and the
Dockerfile copies every package."""

from __future__ import annotations

import json
import re
import shlex
import tomllib

from bot.config import WebhookConfig
from bot.ops.cli import _parser
from tests.conftest import ROOT

EXAMPLES = ROOT / "examples"


def _exec_lines(unit: str) -> list[list[str]]:
    text = (EXAMPLES / unit).read_text(encoding="utf-8")
    return [
        shlex.split(line.split("=", 1)[1])
        for line in text.splitlines()
        if line.startswith("ExecStart=")
    ]


def test_systemd_units_run_valid_gridbot_commands_as_an_unprivileged_user():
    for unit in ("gridbot.service", "gridbot-backup.service"):
        text = (EXAMPLES / unit).read_text(encoding="utf-8")
        assert "\nUser=gridbot\n" in text
        for argv in _exec_lines(unit):
            assert argv[0].endswith("/gridbot")
            _parser().parse_args(argv[1:])  # SystemExit if the example went stale
    assert "\nRestart=on-failure\n" in (EXAMPLES / "gridbot.service").read_text(encoding="utf-8")


def test_proxies_forward_the_webhook_path_to_the_configured_port():
    caddy = (EXAMPLES / "Caddyfile").read_text(encoding="utf-8")
    settings = "\n".join(
        line.lstrip("# ").split("  #")[0]
        for line in caddy.splitlines()
        if re.match(r"#\s+(url|listen|port) = ", line)
    )
    hook = WebhookConfig.model_validate(tomllib.loads(settings))
    assert f"handle {hook.route()} {{" in caddy
    assert f"reverse_proxy {hook.listen}:{hook.port}" in caddy
    nginx = (EXAMPLES / "nginx.conf").read_text(encoding="utf-8")
    assert f"location = {hook.route()} {{" in nginx
    assert f"proxy_pass http://{hook.listen}:{hook.port};" in nginx


def test_dockerfile_copies_every_package_and_runs_a_valid_command():
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    for package in project["tool"]["setuptools"]["packages"]["find"]["include"]:
        assert f"COPY {package.rstrip('*')} ./{package.rstrip('*')}" in dockerfile
    assert "\nUSER gridbot\n" in dockerfile
    cmd = json.loads(re.search(r"^CMD (\[.*\])$", dockerfile, re.M)[1])
    _parser().parse_args(cmd)
