"""The gridbot command, run as a real process: migrate, org import/show, admin add."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.cli_helpers import gridbot
from tests.conftest import EXAMPLE_ORG, sqlite_only, write_config

ROOT = Path(__file__).resolve().parent.parent


def _snapshot(db: Path) -> bytes:
    import sqlite3

    with sqlite3.connect(db) as conn:
        return "\n".join(conn.iterdump()).encode()


@sqlite_only
def test_org_import_show_reimport_and_a_bad_csv(tmp_path):
    config = write_config(tmp_path)
    assert gridbot("db", "migrate", "--config", str(config), cwd=tmp_path).returncode == 0

    first = gridbot("org", "import", str(EXAMPLE_ORG), "--config", str(config), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "added" in first.stdout

    shown = gridbot("org", "show", "--config", str(config), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert lines[0].startswith("NY  南阳市")
    districts = [line for line in lines if line.startswith(("├── ", "└── "))]
    assert [d.split()[1] for d in districts] == ["WL", "WC", "GX", "SF"]
    assert any("WL-WH-CZ-01" in line for line in lines)

    db = tmp_path / "gridbot.sqlite3"
    before = _snapshot(db)
    again = gridbot("org", "import", str(EXAMPLE_ORG), "--config", str(config), cwd=tmp_path)
    assert again.returncode == 0
    assert "0 added, 0 renamed, 0 moved, 0 reactivated, 0 deactivated, 0 reordered" in again.stdout
    assert _snapshot(db) == before

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "code,name,level,parent_code\nNY,南阳市,city,\nWL,卧龙区,district,NY\n"
        "WL,重复,district,NY\nWL-X,街道,street,NOPE\nWL-G,网格,grid,WL\n",
        encoding="utf-8",
    )
    failed = gridbot("org", "import", str(bad), "--config", str(config), cwd=tmp_path)
    assert failed.returncode == 1
    assert failed.stderr.splitlines() == [
        f"{bad}: line 4: duplicate code 'WL' (first used on line 3)",
        f"{bad}: line 5: unknown parent 'NOPE' of 'WL-X'",
        f"{bad}: line 6: level out of order: 'WL-G' is a grid under the district 'WL', "
        "which holds street",
    ]
    assert "Traceback" not in failed.stderr
    assert _snapshot(db) == before

    subtree = gridbot("org", "show", "WL-WH", "--config", str(config), cwd=tmp_path)
    assert subtree.stdout.splitlines()[0].startswith("WL-WH  武侯街道")
    assert "WC" not in subtree.stdout


def test_admin_add_and_its_mistakes(tmp_path):
    config = write_config(tmp_path)
    gridbot("org", "import", str(EXAMPLE_ORG), "--config", str(config), cwd=tmp_path)
    ok = gridbot(
        "admin",
        "add",
        "424242",
        "--unit",
        "NY",
        "--role",
        "admin",
        "--name",
        "市管理员",
        "--config",
        str(config),
        cwd=tmp_path,
    )
    assert ok.returncode == 0, ok.stderr
    assert "424242: 市管理员, admin of NY 南阳市" in ok.stdout
    unknown = gridbot(
        "admin", "add", "1", "--unit", "ZZ", "--name", "某人", "--config", str(config), cwd=tmp_path
    )
    assert (unknown.returncode, unknown.stderr.strip()) == (
        1,
        "There is no unit with the code ZZ; please check it.",
    )


def test_odd_numbers_on_the_command_line_exit_2_without_a_traceback(tmp_path):
    config = str(write_config(tmp_path))
    for args, said in [
        (("admin", "add", "٣", "--unit", "NY", "--name", "某人"), "is not a Telegram ID"),
        (("admin", "add", "1²", "--unit", "NY", "--name", "某人"), "is not a Telegram ID"),
        (("export", "reports", "--max-mb", "inf"), "--max-mb must be more than 0"),
        (("export", "reports", "--max-mb", "nan"), "--max-mb must be more than 0"),
    ]:
        shown = gridbot(*args, "--config", config, cwd=tmp_path)
        assert shown.returncode == 2 and said in shown.stderr, (args, shown.stderr)
        assert "Traceback" not in shown.stderr


def test_config_problems_exit_2_with_one_line(tmp_path):
    config = write_config(tmp_path, '[schedule]\ndaily_digest = "25:00"\n')
    result = gridbot("run", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr == "config.toml: schedule.daily_digest: '25:00' is not a time (HH:MM)\n"

    typo = write_config(tmp_path, '[telegram]\ntokn = "1:x"\n')
    result = gridbot("run", "--config", str(typo), cwd=tmp_path)
    assert (result.returncode, result.stderr) == (2, "config.toml: telegram.tokn: unknown key\n")


def test_run_without_a_token_says_where_to_put_it(tmp_path):
    config = write_config(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "bot", "run", "--config", str(config)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        # This checkout's code, whatever an editable install elsewhere points at.
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "PYTHONPATH": str(ROOT)},
        check=False,
    )
    assert result.returncode == 2
    assert "telegram.token: missing (set GRIDBOT_TOKEN or telegram.token)" in result.stderr


def test_console_script_is_installed():
    assert shutil.which("gridbot") or Path(sys.executable).with_name("gridbot").exists()
