"""`gridbot tips import` and `gridbot tips table`, checked against counts computed here
from the CSV rows themselves."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta

from bot.config import load_config
from bot.formats.tiptable import TableRow
from tests.cli_helpers import gridbot
from tests.conftest import EXAMPLE_ORG, sql_rows, write_config

DISTRICTS = {"WL": "卧龙区", "WC": "宛城区", "GX": "高新区", "SF": "城乡一体化示范区"}
PLACES = {
    "WL": ["WL-WH-CZ", "WL-WH-CZ-01", "卧龙区/武侯街道/崔庄社区", "WL"],
    "WC": ["WC-XH-XH", "WC-XH-XH-02", "WC"],
    "GX": ["GX"],
    "SF": ["SF"],
}
HEADER = (
    "number,received_at,unit,description,source,assigned_at,assigned_unit,deadline,closed_at,valid"
)


def _rows(
    seed: int = 7, count: int = 40, start: datetime = datetime(2026, 11, 2, 8, 0)
) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = []
    for n in range(1, count + 1):
        district = rng.choice(list(DISTRICTS))
        received = start + timedelta(hours=rng.randrange(0, 24 * 14))
        row = {
            "number": f"T-IMP-{n:03d}",
            "received_at": received.isoformat(timespec="minutes"),
            "unit": district,
            "description": f"群众反映自备井 {n}",
            "source": rng.choice(["热线", "网络", "来访", "其他", "hotline"]),
            "assigned_at": "",
            "assigned_unit": "",
            "deadline": "",
            "closed_at": "",
            "valid": "",
            "_district": district,
        }
        if rng.random() < 0.85:
            assigned = received + timedelta(hours=rng.randrange(1, 30))
            row["assigned_at"] = assigned.isoformat(timespec="minutes")
            row["assigned_unit"] = rng.choice(PLACES[district])
            row["deadline"] = (assigned + timedelta(hours=72)).isoformat(timespec="minutes")
            if rng.random() < 0.75:
                row["closed_at"] = (assigned + timedelta(hours=rng.randrange(1, 200))).isoformat(
                    timespec="minutes"
                )
                row["valid"] = rng.choice(["1", "0", "1", ""])
        rows.append(row)
    return rows


def _write(path, rows) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER.split(","))
        for row in rows:
            writer.writerow([row[c] for c in HEADER.split(",")])


def _expected(rows, first: datetime | None, end: datetime) -> list[list[str]]:
    """The official table, computed from the CSV rows alone."""
    table = {d: [0, 0, 0, 0] for d in DISTRICTS}
    for row in rows:
        received = datetime.fromisoformat(row["received_at"])
        if received >= end or (first and received < first):
            continue
        counts = table[row["_district"]]
        counts[0] += 1
        if row["assigned_at"] and datetime.fromisoformat(row["assigned_at"]) < end:
            counts[1] += 1
        if row["closed_at"] and datetime.fromisoformat(row["closed_at"]) < end:
            counts[2] += 1
            counts[3] += row["valid"] == "1"
    total = [sum(c[i] for c in table.values()) for i in range(4)]

    def line(name, c):
        rate = f"{c[2] * 100 // c[0]}%" if c[0] else "—"  # 办结 ÷ 受理, truncated
        return [name, str(c[0]), str(c[1]), str(c[2]), rate, str(c[3])]

    return [line("合计", total)] + [line(DISTRICTS[d], table[d]) for d in DISTRICTS]


def _parse(stdout: str) -> list[list[str]]:
    lines = stdout.strip().splitlines()
    assert [c.strip() for c in lines[0].split("|")] == [
        "区域", "受理(件)", "交办(件)", "办结(件)", "办结率", "有效(件)"
    ]  # fmt: skip
    return [[c.strip() for c in line.split("|")] for line in lines[1:]]


def test_closure_rate_is_closed_over_received_truncated():
    assert TableRow("卧龙区", 49, 49, 46, 30).rate == "93%"  # 93.88 is not rounded up
    assert TableRow("卧龙区", 50, 49, 46, 30).rate == "92%"  # received, not assigned
    assert TableRow("卧龙区", 3, 0, 0, 0).rate == "0%"
    assert TableRow("卧龙区", 0, 0, 0, 0).rate == "—"


def test_import_then_table_matches_counts_computed_from_the_csv(tmp_path):
    config = write_config(tmp_path)
    assert (
        gridbot("org", "import", str(EXAMPLE_ORG), "--config", str(config), cwd=tmp_path).returncode
        == 0
    )
    rows = _rows()
    _write(tmp_path / "tips.csv", rows)
    done = gridbot("tips", "import", "tips.csv", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "40 tips imported" in done.stdout

    everything = gridbot(
        "tips", "table", "--to", "2026-12-31", "--config", str(config), cwd=tmp_path
    )
    assert everything.returncode == 0, everything.stderr
    expected = _expected(rows, None, datetime(2027, 1, 1))
    assert _parse(everything.stdout) == expected
    header = ["区域", "受理(件)", "交办(件)", "办结(件)", "办结率", "有效(件)"]
    for fmt, parse in [
        ("csv", lambda out: list(csv.reader(out.splitlines()))),
        ("tsv", lambda out: list(csv.reader(out.splitlines(), delimiter="\t"))),
        ("md", lambda out: [[c.strip() for c in ln[1:-1].split("|")] for ln in out.splitlines()]),
    ]:  # fmt: skip
        shown = gridbot(
            "tips", "table", "--to", "2026-12-31", "--format", fmt, "--config", str(config),
            cwd=tmp_path,
        )  # fmt: skip
        assert shown.returncode == 0, shown.stderr
        table = parse(shown.stdout)
        if fmt == "md":
            assert table.pop(1) == ["---", "---:", "---:", "---:", "---:", "---:"]
        assert table == [header, *expected], fmt
    # One week, cut off at its end: later assignments and closures do not count yet.
    week = gridbot(
        "tips", "table", "--from", "2026-11-09", "--to", "2026-11-15", "--config", str(config),
        cwd=tmp_path,
    )  # fmt: skip
    assert _parse(week.stdout) == _expected(rows, datetime(2026, 11, 9), datetime(2026, 11, 16))
    assert any(r[4] not in ("—", "100%", "0%") for r in _parse(week.stdout))  # a real rate

    # --kpi: the second table, the official one untouched: due (every imported deadline)
    # and closed on time, computed from the CSV; nothing was reworked, extended or called.
    kpi = gridbot(
        "tips", "table", "--to", "2026-12-31", "--kpi", "--format", "csv",
        "--config", str(config), cwd=tmp_path,
    )  # fmt: skip
    assert kpi.returncode == 0, kpi.stderr
    header, total, *_ = list(csv.reader(kpi.stdout.splitlines()))
    assert header[:4] == ["区域", "到期(件)", "按期办结(件)", "按期办结率"]
    due = [r for r in rows if r["deadline"]]
    on_time = [r for r in due if r["closed_at"] and r["closed_at"] <= r["deadline"]]
    assert total[:4] == [
        "合计",
        str(len(due)),
        str(len(on_time)),
        f"{len(on_time) * 100 // len(due)}%",
    ]
    assert total[5:8] == ["0", "0%", "0"] and 0 < len(on_time) < len(due)

    again = gridbot("tips", "import", "tips.csv", "--config", str(config), cwd=tmp_path)
    assert again.returncode == 2 and "T-IMP-001 exists" in again.stderr
    assert sql_rows(load_config(config), "SELECT COUNT(*) FROM tip")[0][0] == 40
    events = sql_rows(load_config(config), "SELECT COUNT(*) FROM tip_event")[0][0]
    assert events == 40 + sum(bool(r["assigned_at"]) for r in rows) + sum(
        bool(r["closed_at"]) for r in rows
    )


def test_a_bad_csv_names_every_line_and_imports_nothing(tmp_path):
    config = write_config(tmp_path)
    gridbot("org", "import", str(EXAMPLE_ORG), "--config", str(config), cwd=tmp_path)
    rows = _rows(count=6)
    rows[1]["unit"] = "XX-NOPE"
    rows[2]["received_at"] = "yesterday"
    rows[3]["valid"] = "yes"
    rows[4]["number"] = rows[0]["number"]
    rows[5]["source"] = "传真"
    _write(tmp_path / "bad.csv", rows)
    bad = gridbot("tips", "import", "bad.csv", "--config", str(config), cwd=tmp_path)
    assert bad.returncode == 2
    err = bad.stderr
    for line, what in [
        (3, "XX-NOPE"),
        (4, "yesterday"),
        (5, "'yes'"),
        (6, "repeats line 2"),
        (7, "传真"),
    ]:
        assert f"bad.csv:{line}: " in err and what in err, (line, err)
    assert "nothing imported" in err
    assert sql_rows(load_config(config), "SELECT COUNT(*) FROM tip")[0][0] == 0


def test_table_days_at_the_calendars_edge_or_reversed_are_refused(tmp_path):
    config = write_config(tmp_path)
    gridbot("org", "import", str(EXAMPLE_ORG), "--config", str(config), cwd=tmp_path)
    for flags, said in [
        (("--to", "9999-12-31"), "--to '9999-12-31' is not a date"),
        (("--from", "2026-11-01", "--to", "9999-12-31"), "is not a date"),
        (("--from", "2026-11-20", "--to", "2026-11-01"), "--from must not be later than --to"),
        (("--from", "2026-11-0²"), "is not a date"),
    ]:
        shown = gridbot("tips", "table", *flags, "--config", str(config), cwd=tmp_path)
        assert shown.returncode == 2 and said in shown.stderr, (flags, shown.stderr)
        assert "Traceback" not in shown.stderr


def test_import_finds_a_district_by_its_name_and_refuses_a_shared_name(tmp_path):
    config = write_config(tmp_path)
    # 宛城区's 新华社区 renamed 崔庄社区: the name now fits two communities.
    org = EXAMPLE_ORG.read_text(encoding="utf-8").replace(
        'code = "WC-XH-XH"\nname = "新华社区"', 'code = "WC-XH-XH"\nname = "崔庄社区"'
    )
    assert org.count('name = "崔庄社区"') == 2
    (tmp_path / "org.toml").write_text(org, encoding="utf-8")
    done = gridbot("org", "import", "org.toml", "--config", str(config), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    rows = _rows(count=4)
    for row, unit in zip(rows, ["卧龙区", "卧龙区/武侯街道", "宛城区", "WL-WH-CZ"], strict=True):
        row.update(unit=unit, assigned_at="", assigned_unit="", deadline="")
        row.update(closed_at="", valid="")
    _write(tmp_path / "tips.csv", rows)
    shown = gridbot("tips", "import", "tips.csv", "--config", str(config), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "4 tips imported" in shown.stdout
    units = sql_rows(
        load_config(config),
        "SELECT u.code FROM tip t JOIN org_unit u ON u.id = t.unit_id ORDER BY t.number",
    )
    assert [code for (code,) in units] == ["WL", "WL-WH", "WC", "WL-WH-CZ"]

    shared = _rows(count=1)
    shared[0].update(number="T-IMP-900", unit="崔庄社区")
    _write(tmp_path / "shared.csv", shared)
    refused = gridbot("tips", "import", "shared.csv", "--config", str(config), cwd=tmp_path)
    assert refused.returncode == 2
    assert "'崔庄社区' names several units" in refused.stderr
    assert "卧龙区/武侯街道/崔庄社区" in refused.stderr
    assert "宛城区/新华街道/崔庄社区" in refused.stderr
