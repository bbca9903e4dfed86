"""gridbot sites import / export and gridbot plans add / list / close, run as the real
command: every mistake of a file listed at once with nothing imported, a re-import that
changes nothing, the registry written back out and read in again, plans from the shell."""

from __future__ import annotations

import csv

from bot.config import load_config
from tests.cli_helpers import gridbot
from tests.conftest import EXAMPLE_ORG, sql_rows, write_config


def _sites(config) -> list[tuple]:
    return [
        tuple(row)
        for row in sql_rows(
            load_config(config),
            "SELECT category, code, name, address, unit_id, latitude, longitude, tags, status, "
            "updated_at FROM site ORDER BY id",
        )
    ]


def test_sites_import_export_and_plans_from_the_shell(tmp_path):
    config = str(write_config(tmp_path))
    assert (
        gridbot("org", "import", str(EXAMPLE_ORG), "--config", config, cwd=tmp_path).returncode == 0
    )
    good = tmp_path / "sites.csv"
    good.write_text(
        "category,code,name,address,unit,lat,lon,tags,status\n"
        "自备井,J-1,一号井,建设路1号,WL-WH-CZ-01,33.001,112.501,重点用水户;洗浴中心,已封停\n"
        "well,J-2,二号井,,卧龙区/武侯街道/崔庄社区,,,重点用水户,\n",
        encoding="utf-8",
    )
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "category,code,name,address,unit,lat,lon,tags,status\n"
        "well,J-1,,,NOPE,,,,\n"
        "well,J-2,,,WL-WH-CZ-01,95,200,,\n"
        "well,J-2,,,WL-WH-CZ-01,,,,\n",
        encoding="utf-8",
    )
    failed = gridbot("sites", "import", str(bad), "--config", config, cwd=tmp_path)
    assert failed.returncode == 2
    assert failed.stderr.splitlines() == [
        f"{bad}: line 2: unknown unit 'NOPE'",
        f"{bad}: line 3: coordinates 95.0, 200.0 out of range",
        f"{bad}: line 4: code 'J-2' twice in the file (first on line 3)",
        f"{bad}: 3 problem(s), nothing imported",
    ]
    db = config
    assert _sites(db) == []

    first = gridbot("sites", "import", str(good), "--config", config, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "2 sites — 2 added, 0 updated, 0 unchanged" in first.stdout
    before = _sites(db)
    again = gridbot("sites", "import", str(good), "--config", config, cwd=tmp_path)
    assert "0 added, 0 updated, 2 unchanged" in again.stdout
    assert _sites(db) == before

    out = tmp_path / "out.csv"
    written = gridbot("sites", "export", "--out", str(out), "--config", config, cwd=tmp_path)
    assert written.returncode == 0 and "2 sites" in written.stdout
    with out.open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == [
        "category",
        "code",
        "name",
        "address",
        "unit",
        "lat",
        "lon",
        "tags",
        "status",
    ]
    assert rows[1] == [
        "well",
        "J-1",
        "一号井",
        "建设路1号",
        "WL-WH-CZ-01",
        "33.001",
        "112.501",
        "重点用水户;洗浴中心",
        "sealed",
    ]
    back = gridbot("sites", "import", str(out), "--config", config, cwd=tmp_path)
    assert "0 added, 0 updated, 2 unchanged" in back.stdout, back.stdout + back.stderr

    past = gridbot(
        "plans",
        "add",
        "回头看",
        "--category",
        "自备井",
        "--unit",
        "WL-WH",
        "--tag",
        "重点用水户",
        "--deadline",
        "2000-01-01",
        "--config",
        config,
        cwd=tmp_path,
    )
    assert past.returncode == 1 and "has passed" in past.stderr
    zero = gridbot(
        "plans",
        "add",
        "轮检",
        "--category",
        "well",
        "--unit",
        "WL-WH",
        "--every",
        "0",
        "--config",
        config,
        cwd=tmp_path,
    )
    assert zero.returncode == 1 and "1–366 days" in zero.stderr
    made = gridbot(
        "plans",
        "add",
        "回头看",
        "--category",
        "自备井",
        "--unit",
        "WL-WH",
        "--tag",
        "重点用水户",
        "--deadline",
        "2099-01-01",
        "--config",
        config,
        cwd=tmp_path,
    )
    assert made.returncode == 0, made.stderr
    assert "回头看: 2 sites" in made.stdout
    listed = gridbot("plans", "list", "--config", config, cwd=tmp_path)
    assert "回头看" in listed.stdout and "0/2 done" in listed.stdout
    plan_id = made.stdout.split()[1]
    closed = gridbot("plans", "close", plan_id, "--config", config, cwd=tmp_path)
    assert "closed" in closed.stdout
    assert "回头看" not in gridbot("plans", "list", "--config", config, cwd=tmp_path).stdout
    exported = gridbot(
        "export",
        "sites",
        "--format",
        "csv",
        "--out",
        str(tmp_path / "s.csv"),
        "--config",
        config,
        cwd=tmp_path,
    )
    assert exported.returncode == 0 and "2 rows" in exported.stdout
