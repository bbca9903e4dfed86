"""Config validation: every problem is one line naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from tests.conftest import ROOT


def _load(tmp_path: Path, text: str):
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    return load_config(path)


def _lines(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    return caught.value.lines


def test_example_config_is_valid_and_documents_the_sample_campaign():
    config = load_config(ROOT / "config.example.toml")
    well, flood = config.campaign.categories
    assert [s.name for s in well.statuses] == ["在用", "已封停", "保留(有证)", "待核查"]
    assert [s.name for s in well.statuses if s.done] == ["已封停"]
    assert [s.name for s in flood.statuses] == ["待整改", "整改中", "已整改"]
    assert config.locale.timezone == "Asia/Shanghai"
    assert config.locale.language == "zh"


def test_empty_file_gives_defaults_and_relative_paths_resolve_beside_it(tmp_path):
    config = _load(tmp_path, "")
    assert config.database.path == tmp_path.resolve() / "data" / "gridbot.sqlite3"
    assert config.schedule.daily_digest == "20:00"


def test_bad_time_is_one_line_naming_file_and_key(tmp_path):
    lines = _lines(tmp_path, '[schedule]\ndaily_digest = "25:00"\n')
    assert lines == ["config.toml: schedule.daily_digest: '25:00' is not a time (HH:MM)"]


def test_unknown_key_is_reported(tmp_path):
    assert _lines(tmp_path, '[telegram]\ntokn = "x"\n') == [
        "config.toml: telegram.tokn: unknown key"
    ]
    assert _lines(tmp_path, "[schedul]\n") == ["config.toml: schedul: unknown key"]


def test_wrong_type_names_the_value(tmp_path):
    (line,) = _lines(tmp_path, '[database]\nbusy_timeout_ms = "soon"\n')
    assert line.startswith("config.toml: database.busy_timeout_ms: 'soon': input should be")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[locale]\ntimezone = "Mars/Olympus"\n', "locale.timezone: 'Mars/Olympus' is not a known"),
        ('[locale]\nlanguage = "fr"\n', "locale.language: 'fr': input should be 'zh' or 'en'"),
        ('[schedule]\nweekly_bulletin = "someday 17:00"\n', "schedule.weekly_bulletin: 'someday"),
        (
            '[telegram]\nbase_url = "ftp://x"\n',
            "telegram.base_url: 'ftp://x' is not an http(s) URL",
        ),
        (
            '[[campaign.categories]]\ncode = "well"\nname = "井"\nstatuses = '
            '[{code = "a", name = "甲"}, {code = "a", name = "乙"}]\n',
            "campaign.categories[0].statuses: duplicate status code 'a'",
        ),
        ("[invites]\ndefault_uses = 9\nmax_uses = 5\n", "invites: default_uses is larger"),
        ("[ranking.weights]\nspeed = 1\n", "ranking.weights: unknown ranking column(s) speed"),
        (
            '[[reports.areas]]\nunit = "WL"\ncentre = [33.0, 112.5]\n',
            "reports.areas[0]: give either centre and radius_m, or polygon",
        ),
        ("[tips]\ndeadline_hours = 0\n", "tips.deadline_hours: "),
        (
            '[webhook]\nurl = "http://bot.example.org/hook"\n',
            "webhook.url: 'http://bot.example.org/hook' is not an https:// URL",
        ),
        ('[webhook]\nsecret = "has space"\n', "webhook.secret: 1-256 characters"),
        ('[webhook]\nsecret = "ends_in_newline\\n"\n', "webhook.secret: 1-256 characters"),
        ("[webhook]\nsecret = 12345\n", "webhook.secret: input should be a valid string"),
        ('[webhook]\npath = "hook"\n', "webhook.path: 'hook' is not a URL path"),
        ("[exports]\nmax_file_mb = 0\n", "exports.max_file_mb: "),
    ],
)
def test_bad_values(tmp_path, text, expected):
    (line,) = _lines(tmp_path, text)
    assert line.startswith(f"config.toml: {expected}"), line


def test_missing_file_and_broken_toml(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "absent.toml")
    assert caught.value.lines == [f"{tmp_path / 'absent.toml'}: file not found"]
    (line,) = _lines(tmp_path, "[database\n")
    assert line.startswith("config.toml: not valid TOML")


def test_token_from_environment_wins(tmp_path, monkeypatch):
    config = _load(tmp_path, '[telegram]\ntoken = "1:file"\n')
    monkeypatch.delenv("GRIDBOT_TOKEN", raising=False)
    assert config.token() == "1:file"
    monkeypatch.setenv("GRIDBOT_TOKEN", "2:env")
    assert config.token() == "2:env"
    assert "1:file" not in repr(config)


def test_webhook_secret_from_environment_wins_and_the_path_follows_the_url(tmp_path, monkeypatch):
    config = _load(
        tmp_path, '[webhook]\nurl = "https://bot.example.org/tg/hook"\nsecret = "file_secret"\n'
    )
    monkeypatch.delenv("GRIDBOT_WEBHOOK_SECRET", raising=False)
    assert config.webhook.secret_value() == "file_secret"
    assert config.webhook.route() == "/tg/hook"
    assert "file_secret" not in repr(config)
    monkeypatch.setenv("GRIDBOT_WEBHOOK_SECRET", "env-secret")
    assert config.webhook.secret_value() == "env-secret"
    monkeypatch.setenv("GRIDBOT_WEBHOOK_SECRET", "bad secret!")
    with pytest.raises(ConfigError):
        config.webhook.secret_value()


def test_the_bulletin_settings_and_their_limits(tmp_path):
    config = _load(tmp_path, '[bulletin]\ntitle = "“飓风”行动工作简报"\nfirst_number = 6\n')
    assert config.bulletin.title == "“飓风”行动工作简报" and config.bulletin.first_number == 6
    assert _load(tmp_path, "").bulletin.first_number == 1  # the catalogue's words otherwise
    (line,) = _lines(tmp_path, "[bulletin]\nfirst_number = 0\n")
    assert "bulletin.first_number" in line
    (line,) = _lines(tmp_path, f'[bulletin]\ntitle = "{"长" * 61}"\n')
    assert "bulletin.title" in line
