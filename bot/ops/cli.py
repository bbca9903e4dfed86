"""The operator's command: ``gridbot`` (also ``python -m bot``).

    gridbot run --config PATH [--webhook] [--api-url URL] [--proxy URL] [--log-format text|json]
    gridbot db migrate --config PATH
    gridbot org import FILE --config PATH
    gridbot org show [CODE] --config PATH
    gridbot admin add TELEGRAM_ID --unit CODE --role admin --name NAME --config PATH
    gridbot tips import FILE.csv --config PATH
    gridbot tips table [--from DATE] [--to DATE] [--format text|md|csv|tsv] [--kpi] --config PATH
    gridbot sites import FILE.csv|FILE.xlsx [--progress] --config PATH
    gridbot sites export [--out FILE.csv|FILE.xlsx] --config PATH
    gridbot plans add NAME --category C --unit CODE [--tag T]
                 (--deadline DAY | --every N | --weekly) [--done any|done] --config PATH
    gridbot plans list --config PATH
    gridbot plans close ID --config PATH
    gridbot bulletin build --to DATE --out DIR [--unit CODE] --config PATH
    gridbot export KIND [--from DATE] [--to DATE] [--format xlsx|csv] [--out PATH] --config PATH
    gridbot audit [--since DATE] [--format text|jsonl] --config PATH
    gridbot backup DIR --config PATH
    gridbot check [--quick] [--backup DIR] --config PATH
    gridbot demo [--port 8080] [--lang zh|en] [--keep DIR]
    gridbot outlets list --config PATH
    gridbot outlets test NAME --config PATH

Problems are printed as plain lines on stderr (no traceback) with exit status 2 for a
bad config or command line, 1 for anything else that could not be done.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import math
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import date, timedelta
from typing import Any

from pydantic import SecretStr
from telegram.error import InvalidToken, TelegramError

from bot.config import Config, ConfigError, load_config, proxy_problem, proxy_secrets
from bot.core import arguments, periods
from bot.core.access import Role
from bot.core.clock import SystemClock
from bot.core.errors import Refused
from bot.domain.audit import ORIGIN, shell_origin
from bot.domain.exports import FORMATS as EXPORT_FORMATS
from bot.domain.exports import KINDS as EXPORT_KINDS
from bot.domain.org import OrgService, TreeNode
from bot.formats.orgfile import OrgFileError, read_org_file
from bot.i18n import Catalogue
from bot.ops.logs import FORMATS as LOG_FORMATS
from bot.ops.logs import RedactTokenFilter, configure_logging
from bot.outlets.robots import secrets_of as outlet_secrets
from bot.services import Services
from storage.db import Database, redact_url
from storage.migrations import MIGRATIONS

CONFIG_ENV = "GRIDBOT_CONFIG"


class CliError(Exception):
    def __init__(self, lines: list[str], status: int = 1) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.status = status


def _parser() -> argparse.ArgumentParser:
    config_help = f"config file (default: ${CONFIG_ENV} or ./config.toml)"
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config", default=os.environ.get(CONFIG_ENV, "config.toml"), help=config_help
    )

    parser = argparse.ArgumentParser(
        prog="gridbot", description="Grid-network field reporting bot."
    )
    top = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    run = top.add_parser("run", parents=[common], help="start the bot (long polling or webhook)")
    run.add_argument(
        "--webhook",
        action="store_true",
        help="receive updates on [webhook] listen:port behind an HTTPS proxy",
    )
    run.add_argument("--api-url", help="Bot API server root, e.g. http://127.0.0.1:8081")
    run.add_argument(
        "--proxy",
        metavar="URL",
        help="reach Telegram through this proxy (http://, https:// or socks5://host:port, "
        "credentials allowed); wins over [telegram] proxy",
    )
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    run.add_argument(
        "--log-format",
        default="text",
        choices=sorted(LOG_FORMATS),
        help="one line per event as text (default) or as a JSON object",
    )

    db = top.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("migrate", parents=[common], help="create or upgrade the database")
    copy = db.add_parser(
        "copy",
        parents=[common],
        help="copy this SQLite database into an empty PostgreSQL database, and verify it",
    )
    copy.add_argument("--to", required=True, metavar="URL", help="postgresql://…")

    org = top.add_parser("org", help="the unit tree").add_subparsers(dest="action", required=True)
    org_import = org.add_parser("import", parents=[common], help="import a .toml or .csv org file")
    org_import.add_argument("file")
    org_show = org.add_parser("show", parents=[common], help="print the tree (or a subtree)")
    org_show.add_argument("code", nargs="?")

    admin = top.add_parser("admin", help="members").add_subparsers(dest="action", required=True)
    add = admin.add_parser("add", parents=[common], help="add or re-place a member")
    add.add_argument("telegram_id", type=_telegram_id)
    add.add_argument("--unit", required=True, help="unit code")
    add.add_argument("--role", default="admin", choices=[r.value for r in Role])
    add.add_argument("--name", required=True)

    tips = top.add_parser("tips", help="tips: import, the official table").add_subparsers(
        dest="action", required=True
    )
    tips_import = tips.add_parser("import", parents=[common], help="import tips from a CSV file")
    tips_import.add_argument("file")
    table = tips.add_parser("table", parents=[common], help="print the official tip table")
    table.add_argument("--from", dest="start", help="first day (YYYY-MM-DD), local time")
    table.add_argument("--to", dest="end", help="last day (YYYY-MM-DD), local time; default today")
    table.add_argument(
        "--format",
        choices=["text", "md", "csv", "tsv"],
        default="text",
        help="aligned plain text (default), a Markdown table, CSV or TSV",
    )
    table.add_argument(
        "--kpi",
        action="store_true",
        help="the unit KPIs instead (on time, rework, extensions, satisfaction, working hours)",
    )

    sites = top.add_parser("sites", help="the site registry").add_subparsers(
        dest="action", required=True
    )
    sites_import = sites.add_parser(
        "import", parents=[common], help="import sites from a .csv or .xlsx file"
    )
    sites_import.add_argument("file")
    sites_import.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress bar on stderr (default: when stderr is a terminal)",
    )
    sites_export = sites.add_parser("export", parents=[common], help="write the registry out")
    sites_export.add_argument("--out", default="gridbot-sites.csv", help=".csv or .xlsx file")

    plans = top.add_parser("plans", help="inspection plans").add_subparsers(
        dest="action", required=True
    )
    plan_add = plans.add_parser("add", parents=[common], help="make a plan")
    plan_add.add_argument("name")
    plan_add.add_argument("--category", required=True, help="category code or name")
    plan_add.add_argument("--unit", required=True, help="scope: a unit code")
    plan_add.add_argument("--tag", help="only sites with this tag")
    when = plan_add.add_mutually_exclusive_group(required=True)
    when.add_argument("--deadline", help="one-off: every site reported by this day (YYYY-MM-DD)")
    when.add_argument("--every", type=int, help="cycle: every N days")
    when.add_argument("--weekly", action="store_true", help="cycle: every calendar week")
    plan_add.add_argument(
        "--done",
        choices=["any", "done"],
        default="any",
        help="what counts: any report (default) or one with a status marked done",
    )
    plans.add_parser("list", parents=[common], help="the open plans")
    plan_close = plans.add_parser("close", parents=[common], help="close a plan")
    plan_close.add_argument("id", type=int)

    bulletin = top.add_parser("bulletin", help="the bulletin document").add_subparsers(
        dest="action", required=True
    )
    build = bulletin.add_parser(
        "build",
        parents=[common],
        help="write the bulletin (DOCX, PDF, XLSX, PNG) without publishing",
    )
    build.add_argument("--to", dest="end", required=True, help="last day (YYYY-MM-DD), local time")
    build.add_argument("--out", required=True, help="folder to write the files into")
    build.add_argument("--unit", help="the issuing unit (default: the whole city)")

    export = top.add_parser("export", parents=[common], help="write a table of records")
    export.add_argument("kind", choices=EXPORT_KINDS)
    export.add_argument("--from", dest="start", help="first day (YYYY-MM-DD), local time")
    export.add_argument("--to", dest="end", help="last day (YYYY-MM-DD), local time")
    export.add_argument("--format", choices=EXPORT_FORMATS, default="xlsx")
    export.add_argument("--out", help="file to write (default: gridbot-KIND-UNIT.FORMAT here)")
    export.add_argument("--unit", help="only this unit's subtree (default: the whole city)")
    export.add_argument("--max-mb", type=float, help="split into files of at most this size")
    export.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="draw a progress bar on stderr (default: when stderr is a terminal)",
    )

    audit = top.add_parser("audit", parents=[common], help="print the audit log")
    audit.add_argument("--since", help="first day (YYYY-MM-DD), local time; default: 7 days ago")
    audit.add_argument("--format", choices=["text", "jsonl"], default="text")

    backup = top.add_parser(
        "backup", parents=[common], help="copy the database and new evidence files into DIR"
    )
    backup.add_argument("dir")

    check = top.add_parser(
        "check", parents=[common], help="verify the database and every evidence file"
    )
    check.add_argument("--quick", action="store_true", help="compare sizes, not SHA-256s")
    check.add_argument(
        "--backup", metavar="DIR", help="check the newest backup in DIR instead (no config needed)"
    )
    demo = top.add_parser(
        "demo",
        help="try gridbot without Telegram: the real bot on the built-in Bot API server, "
        "with a web chat on loopback (no token, no network)",
    )
    demo.add_argument(
        "--port", type=int, default=8080, help="loopback port of the web chat (0: any free one)"
    )
    demo.add_argument("--lang", choices=["zh", "en"], default="zh", help="the demo's language")
    demo.add_argument(
        "--keep",
        metavar="DIR",
        help="build the demo in DIR and keep it (default: a temporary folder, removed at the end)",
    )

    outlets = top.add_parser(
        "outlets", help="group robots of WeCom, DingTalk and Feishu ([[outlets]])"
    ).add_subparsers(dest="action", required=True)
    outlets.add_parser(
        "list", parents=[common], help="the outlets, their state and their last sends"
    )
    outlet_test = outlets.add_parser(
        "test", parents=[common], help="send a short test message and print the platform's answer"
    )
    outlet_test.add_argument("name")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    ORIGIN.set(shell_origin())  # audit entries written from here come from the shell
    try:
        if args.command == "check" and args.backup:
            return _check_backup(args)
        if args.command == "demo":
            from bot.ops.demo import run as run_demo

            return run_demo(args.port, args.lang, args.keep)
        config = load_config(args.config)
        if args.command == "run":
            return _run(config, args)
        if args.command in ("backup", "check"):
            return _MAINTENANCE[args.command](config, args)
        handler = _COMMANDS[(args.command, getattr(args, "action", None))]
        return asyncio.run(handler(config, args))
    except ConfigError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return 2
    except CliError as exc:
        for line in exc.lines:
            print(line, file=sys.stderr)
        return exc.status
    except BrokenPipeError:  # e.g. `gridbot org show | head`
        sys.stderr.close()
        return 1


def _run(config: Config, args: argparse.Namespace) -> int:
    from bot.app import run_polling, run_webhook
    from bot.runtime.webhook import secret_for

    if args.api_url:
        root = args.api_url.rstrip("/")
        config = config.model_copy(
            update={
                "telegram": config.telegram.model_copy(
                    update={"base_url": f"{root}/bot", "base_file_url": f"{root}/file/bot"}
                )
            }
        )
    if args.proxy is not None:
        problem = proxy_problem(args.proxy)
        if problem:
            raise CliError([f"--proxy: {problem}"], 2)
        config = config.model_copy(
            update={"telegram": config.telegram.model_copy(update={"proxy": SecretStr(args.proxy)})}
        )
    token = config.token() or ""
    source = config.source.name if config.source else "config"
    if args.webhook and not config.webhook.url:
        raise CliError([f"{source}: webhook.url: required for --webhook"], 2)
    secret = secret_for(config) if args.webhook else ""
    secrets = [token, secret, *proxy_secrets(config.telegram.proxy_url())]
    secrets += [found for outlet in config.outlets for found in outlet_secrets(outlet)]
    configure_logging(args.log_level, secrets=secrets, format=args.log_format)
    # What is loaded by now lives as long as the process: the collector need not walk it
    # again and again, and the exit after a SIGTERM does not wait for it to be walked.
    gc.freeze()
    try:
        if args.webhook:
            run_webhook(config, secret)
        else:
            run_polling(config)
    except InvalidToken:
        raise CliError(
            [f"{source}: telegram.token: the Bot API server rejected the token"], 2
        ) from None
    except TelegramError as exc:
        raise CliError(
            [f"the Bot API failed: {RedactTokenFilter(secrets).redact(str(exc))}"]
        ) from None
    return 0


async def _migrate(config: Config, args: argparse.Namespace) -> int:
    async with await Database.open(config.database.target) as db:
        report = await db.migrate()
    where = config.database.display
    if report.applied:
        print(f"{where}: schema {report.before} → {report.after}")
        for name in report.applied:
            print(f"  applied {name}")
    else:
        print(f"{where}: schema {report.after}, up to date")
    return 0


async def _db_copy(config: Config, args: argparse.Namespace) -> int:
    """SQLite → an empty PostgreSQL database: migrate it, copy every row in one
    transaction, then compare each table's row count and checksum (README, Moving over)."""
    from storage import transfer
    from storage.db import is_postgres_url

    url = args.to
    if not is_postgres_url(url):
        raise CliError([f"--to: {url!r} is not a postgresql:// URL"], 2)
    if config.database.is_postgres:
        raise CliError([f"{config.database.display}: the source must be a SQLite database"], 2)
    source = config.database.path
    if not source.is_file():
        raise CliError([f"{source}: no database to copy"])
    async with await Database.open(source) as db:
        version = await db.schema_version()
    latest = MIGRATIONS[-1].version
    if version != latest:
        raise CliError(
            [f"{source}: schema {version}, not {latest}: run `gridbot db migrate` first"]
        )
    names = await asyncio.to_thread(transfer.tables_of, source)
    try:
        filled = {
            t: n
            for t, n in (await asyncio.to_thread(transfer.target_rows, url, names)).items()
            if n
        }
        if filled:
            listed = ", ".join(f"{t} ({n})" for t, n in sorted(filled.items()))
            raise CliError([f"{redact_url(url)}: not empty: {listed}"])
        async with await Database.open(url) as target:
            await target.migrate()
        checks = await asyncio.to_thread(transfer.copy, source, url)
    except transfer.DATABASE_ERRORS as exc:
        raise CliError([f"{redact_url(url)}: {exc}"]) from None
    width = max(len(c.table) for c in checks)
    for check in checks:
        verdict = "ok" if check.ok else "MISMATCH"
        print(
            f"{check.table:<{width}}  {check.source_rows:>9} rows  "
            f"{check.target_sum[:16]}  {verdict}"
        )
    bad = [c.table for c in checks if not c.ok]
    if bad:
        print(f"copy differs from the source in: {', '.join(bad)}", file=sys.stderr)
        return 1
    rows = sum(c.source_rows for c in checks)
    print(f"copied {rows} rows of {len(checks)} tables to {redact_url(url)}: verified")
    return 0


async def _with_services(
    config: Config, work: Callable[[Services], Coroutine[Any, Any, int]]
) -> int:
    services = await Services.open(config, clock=SystemClock())
    try:
        return await work(services)
    except Refused as refusal:
        catalogue: Catalogue = services.catalogue
        raise CliError([catalogue.text("en", refusal.key, **refusal.fields)]) from None
    finally:
        await services.close()


async def _org_import(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    try:
        rows = read_org_file(Path(args.file))
    except OrgFileError as exc:
        raise CliError(exc.lines()) from None

    async def work(services: Services) -> int:
        try:
            result = await services.org.import_rows(rows, args.file)
        except OrgFileError as exc:
            raise CliError(exc.lines()) from None
        print(
            f"{args.file}: {len(rows)} units — {len(result.added)} added, "
            f"{len(result.renamed)} renamed, {len(result.moved)} moved, "
            f"{len(result.reactivated)} reactivated, {len(result.deactivated)} deactivated, "
            f"{result.reordered} reordered, {result.unchanged} unchanged"
        )
        for code, old, new in result.renamed:
            print(f"  renamed {code}: {old} → {new}")
        for code in result.moved:
            print(f"  moved {code}")
        for unit in result.deactivated:
            print(f"  not in the file, marked inactive: {unit.code} {unit.name}")
        return 0

    return await _with_services(config, work)


async def _org_show(config: Config, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        org: OrgService = services.org
        top = await org.unit(args.code) if args.code else await org.root()
        if top is None:
            if args.code:
                raise CliError([f"no unit with the code {args.code!r}"])
            raise CliError(["the unit tree is empty: run 'gridbot org import FILE' first"])
        for line in render_tree(await org.tree(top)):
            print(line)
        return 0

    return await _with_services(config, work)


def render_tree(nodes: list[TreeNode]) -> list[str]:
    """Box-drawing lines for a subtree in path order."""
    lines: list[str] = []
    # For each node, is it the last child of its parent? Look ahead for a sibling.
    for index, node in enumerate(nodes):
        label = f"{node.unit.code}  {node.unit.name}  ({node.unit.level}"
        label += f", {node.members} members)" if node.members else ")"
        if not node.unit.active:
            label += "  [inactive]"
        if node.depth == 0:
            lines.append(label)
            continue
        prefix = ""
        for depth in range(1, node.depth):
            prefix += "│   " if _has_later_sibling(nodes, index, depth) else "    "
        prefix += "├── " if _has_later_sibling(nodes, index, node.depth) else "└── "
        lines.append(prefix + label)
    return lines


def _has_later_sibling(nodes: list[TreeNode], index: int, depth: int) -> bool:
    """Whether the ancestor of ``nodes[index]`` at ``depth`` has a later sibling."""
    for later in nodes[index + 1 :]:
        if later.depth < depth:
            return False
        if later.depth == depth:
            return True
    return False


async def _admin_add(config: Config, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        member = await services.members.add_by_operator(
            args.telegram_id, args.unit, Role(args.role), args.name
        )
        print(
            f"member {member.telegram_id}: {member.name}, {member.role} of "
            f"{member.unit_code} {member.unit_name}"
        )
        return 0

    return await _with_services(config, work)


async def _tips_import(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.formats.tipfile import TipFileError, read_tip_file

    async def work(services: Services) -> int:
        try:
            rows = read_tip_file(Path(args.file), await services.tips.units(), config.locale.zone)
            count = await services.tips.import_rows(rows)
        except TipFileError as exc:
            raise CliError([*exc.problems, f"{args.file}: nothing imported"], 2) from None
        print(f"{args.file}: {count} tips imported")
        return 0

    return await _with_services(config, work)


async def _sites_import(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.domain.sites import SiteFileProblems
    from bot.formats.sitefile import SiteFileError

    path = Path(args.file)

    async def work(services: Services) -> int:
        bar = ProgressBar(f"sites {path.name}", _progress_wanted(args.progress))
        try:
            result = await services.sites.import_file(path, progress=bar)
        except SiteFileError as exc:
            raise CliError([str(exc), f"{path}: nothing imported"], 2) from None
        except OSError as exc:
            raise CliError([f"{path}: {exc.strerror or exc}"], 2) from None
        except SiteFileProblems as exc:
            raise CliError(
                [*exc.problems, f"{path}: {exc.count} problem(s), nothing imported"], 2
            ) from None
        finally:
            bar.close()
        print(
            f"{path}: {result.rows} sites — {result.added} added, {result.updated} updated, "
            f"{result.unchanged} unchanged; {result.joined} joined open plans"
        )
        if result.missing:
            print(f"{len(result.missing)} registered site(s) not in the file (kept):")
            for code in result.missing[:50]:
                print(f"  {code}")
            if len(result.missing) > 50:
                print(f"  … and {len(result.missing) - 50} more")
        return 0

    return await _with_services(config, work)


async def _sites_export(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.formats.sitefile import write_rows

    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".xlsx"):
        raise CliError([f"--out {out}: the file name should end in .csv or .xlsx"], 2)

    async def work(services: Services) -> int:
        rows = await services.sites.export_rows()
        count = await asyncio.to_thread(write_rows, out, rows)
        print(f"{out}: {count} sites")
        return 0

    return await _with_services(config, work)


async def _plans_add(config: Config, args: argparse.Namespace) -> int:
    from bot.domain.plans import PlanSpec

    deadline = _day(args.deadline, "--deadline") if args.deadline else None

    async def work(services: Services) -> int:
        category = next(
            (
                c.code
                for c in config.campaign.categories
                if args.category in (c.code, c.name, c.name_en)
            ),
            args.category,
        )
        spec = PlanSpec(
            name=args.name,
            category=category,
            unit_code=args.unit,
            tag=args.tag,
            deadline=deadline,
            cycle_days=7 if args.weekly else args.every,
            weekly=bool(args.weekly),
            done_rule=args.done,
        )
        plan, joined = await services.plans.create(None, spec)
        print(f"plan {plan.id} {plan.name}: {joined} sites")
        return 0

    return await _with_services(config, work)


async def _plans_list(config: Config, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        for progress in (await services.plans.progress_many([(await services.org.root()).code]))[
            (await services.org.root()).code
        ]:
            plan, total = progress.plan, progress.total
            when = (
                f"due {plan.deadline.astimezone(config.locale.zone):%Y-%m-%d %H:%M}"
                if plan.deadline
                else f"every {plan.cycle_days} days"
            )
            print(
                f"{plan.id}\t{plan.name}\t{plan.category}\t{plan.unit_code}\t{plan.tag or '-'}\t"
                f"{when}\t{total.done}/{total.due} done\t{total.overdue} overdue"
            )
        return 0

    return await _with_services(config, work)


async def _plans_close(config: Config, args: argparse.Namespace) -> int:
    async def work(services: Services) -> int:
        plan = await services.plans.close(None, args.id)
        print(f"plan {plan.id} {plan.name}: closed")
        return 0

    return await _with_services(config, work)


def _telegram_id(text: str) -> int:
    value = arguments.number(text, arguments.INT64_MIN)
    if value is None:
        raise argparse.ArgumentTypeError(f"{text!r} is not a Telegram ID (ASCII digits)")
    return value


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    day = periods.day(text)
    if day is None:
        first, last = periods.FIRST_DAY, periods.LAST_DAY
        raise CliError([f"{flag} {text!r} is not a date (YYYY-MM-DD, {first} to {last})"], 2)
    return day


async def _tips_table(config: Config, args: argparse.Namespace) -> int:
    from bot.formats.tiptable import FORMATS, labels, tip_table

    first, last = _day(args.start, "--from"), _day(args.end, "--to")

    async def work(services: Services) -> int:
        final = last or services.calendar.today()
        if first and first > final:
            raise CliError(["--from must not be later than --to"], 2)
        start, end = periods.span(first, final, config.locale.zone)
        catalogue = services.catalogue

        def said(key: str, **fields: object) -> str:
            return catalogue.text(catalogue.default, key, **fields)

        if args.kpi:  # the second table: what units are judged on
            from bot.domain.tip_kpis import kpi_table
            from bot.formats import kpitable

            kpis = await kpi_table(services.db, services.tips.workdays, start, end)
            print(kpitable.FORMATS[args.format](kpis, kpitable.labels(said)))
            return 0
        print(FORMATS[args.format](await tip_table(services.db, start, end), labels(said)))
        return 0

    return await _with_services(config, work)


def _write_files(out: Any, files: dict[str, bytes]) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (out / name).write_bytes(data)
    except OSError as exc:
        raise CliError([f"{out}: {exc.strerror or exc}"]) from None


async def _bulletin_build(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.domain.bulletin import workbook
    from bot.formats.briefdoc import docx_bytes, pdf_bytes, table_png

    last = _day(args.end, "--to")
    assert last is not None
    out = Path(args.out)

    async def work(services: Services) -> int:
        catalogue = services.catalogue

        def say(key: str, **fields: Any) -> str:
            return catalogue.text(catalogue.default, key, **fields)

        edition = await services.briefs.edition(args.unit, last)
        document = services.briefs.document(edition, say)
        fields = {"number": edition.number, "unit": edition.unit.code, "last": last.isoformat()}
        first = edition.bulletin.period.first.isoformat()
        files = {
            say("brief.pdf_name", **fields): pdf_bytes(document),
            say("brief.docx_name", **fields): docx_bytes(document),
            say("brief.png_name", **fields): table_png(document.tips, document.tips.caption),
            say("bulletin.file_name", unit=edition.unit.code, first=first, last=last.isoformat()): (
                workbook(edition.bulletin, say)
            ),
        }
        _write_files(out, files)
        state = "published" if edition.published else "not published yet"
        print(f"issue {edition.number} ({state}), {edition.period.first} to {last}:")
        for name in files:
            print(f"  {out / name}")
        return 0

    return await _with_services(config, work)


class ProgressBar:
    """``label [#####-----]  42%  420/1000`` redrawn in place on stderr, at most ten
    times a second."""

    WIDTH = 30

    def __init__(self, label: str, enabled: bool) -> None:
        self.label = label
        self.enabled = enabled
        self.best = 0
        self.drawn_at = 0.0

    def __call__(self, done: int, total: int) -> None:
        import time as clock

        self.best = max(self.best, done)  # a part written again must not move it back
        now = clock.monotonic()
        if not self.enabled or (now - self.drawn_at < 0.1 and self.best < total):
            return
        self.drawn_at = now
        share = self.best / total if total else 1.0
        filled = round(share * self.WIDTH)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        sys.stderr.write(f"\r{self.label} [{bar}] {share:4.0%}  {self.best}/{total}")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled and self.drawn_at:
            sys.stderr.write("\n")
            sys.stderr.flush()


def _progress_wanted(flag: bool | None) -> bool:
    return sys.stderr.isatty() if flag is None else flag


async def _export(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.domain.exports import KPIS, Exporter, ExportRequest, export_kpis

    first, last = _day(args.start, "--from"), _day(args.end, "--to")
    if first and last and first > last:
        raise CliError(["--from must not be later than --to"], 2)
    if args.max_mb is not None and not (args.max_mb > 0 and math.isfinite(args.max_mb)):
        raise CliError(["--max-mb must be more than 0"], 2)

    async def work(services: Services) -> int:
        unit = await services.org.unit(args.unit) if args.unit else await services.org.root()
        if unit is None:
            if args.unit:
                raise CliError([f"no unit with the code {args.unit!r}"])
            raise CliError(["the unit tree is empty: run 'gridbot org import FILE' first"])
        start, end = periods.span(first, last, config.locale.zone)
        request = ExportRequest(args.kind, unit.path, start, end, config.locale.language)
        span = f"-{first:%Y%m%d}" if first else ""
        span += f"-{last:%Y%m%d}" if last else ""
        out = Path(args.out or f"gridbot-{args.kind}-{unit.code}{span}.{args.format}")
        if out.suffix.lower() != f".{args.format}":
            raise CliError([f"--out {out}: the file name should end in .{args.format}"], 2)
        bar = ProgressBar(f"{args.kind} {unit.code}", _progress_wanted(args.progress))
        max_bytes = int(args.max_mb * 1024 * 1024) if args.max_mb else None
        exporter = Exporter(config, services.catalogue)
        try:
            if args.kind == KPIS:  # the unit KPI table of the period, one small file
                result = await export_kpis(exporter, services.db, request, out, args.format)
            else:
                result = await asyncio.to_thread(
                    exporter.run, request, out, fmt=args.format, max_bytes=max_bytes, progress=bar
                )
        except OSError as exc:
            raise CliError([f"{out}: {exc.strerror or exc}"]) from None
        finally:
            bar.close()
        await services.audit.record(
            "export",
            actor=None,
            target=args.kind,
            unit_id=unit.id,
            rows=result.rows,
            parts=len(result.parts),
            start=first.isoformat() if first else None,
            end=last.isoformat() if last else None,
        )
        for part in result.parts:
            print(f"{part.path}: {part.rows} rows, {part.size:,} bytes")
        if not result.parts[0].rows:
            print(f"nothing to export: no {args.kind} in {unit.code} for that period")
        return 0

    return await _with_services(config, work)


async def _audit(config: Config, args: argparse.Namespace) -> int:
    import json

    zone = config.locale.zone
    first = _day(args.since, "--since")

    async def work(services: Services) -> int:
        day = first or (services.calendar.today() - timedelta(days=7))
        for entry in await services.audit.since(periods.start_of(day, zone)):
            when = entry.at.astimezone(zone)
            if args.format == "jsonl":
                row = {
                    "at": when.isoformat(),
                    "source": entry.source,
                    "actor": entry.actor_name,
                    "telegram_id": entry.telegram_id,
                    "chat_id": entry.chat_id,
                    "action": entry.action,
                    "target": entry.target,
                    "unit": entry.unit_code,
                    "detail": json.loads(entry.detail) if entry.detail else None,
                }
                print(json.dumps(row, ensure_ascii=False))
                continue
            where = f"chat {entry.chat_id}" if entry.chat_id is not None else entry.source
            fields = [
                f"{when:%Y-%m-%d %H:%M:%S}",
                where,
                entry.actor_name,
                entry.action,
                entry.target,
                entry.unit_code or "-",
                entry.detail or "",
            ]
            print("\t".join(fields).rstrip())
        return 0

    return await _with_services(config, work)


def _backup(config: Config, args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.ops import maintenance

    if not config.database.is_postgres and not config.database.path.is_file():
        raise CliError([f"{config.database.path}: no database to back up"])
    bar = ProgressBar("evidence", _progress_wanted(None))
    try:
        result = maintenance.backup(
            config.database.target, config.evidence.path, Path(args.dir), progress=bar
        )
    except maintenance.DumpError as exc:
        raise CliError([str(exc)]) from None
    except OSError as exc:
        raise CliError([f"{args.dir}: {exc.strerror or exc}"]) from None
    finally:
        bar.close()
    print(f"database: {result.database} ({result.database_size:,} bytes)")
    print(
        f"evidence: {result.evidence_total} files, {result.copied} copied "
        f"({result.copied_bytes:,} bytes), {result.already} already in the backup"
    )
    for problem in result.problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if result.problems else 0


def _check(config: Config, args: argparse.Namespace) -> int:
    if not config.database.is_postgres and not config.database.path.is_file():
        raise CliError([f"{config.database.path}: no database"])
    return _report_check(config.database.target, config.evidence.path, args.quick)


def _check_backup(args: argparse.Namespace) -> int:
    from pathlib import Path

    from bot.ops.maintenance import newest_backup

    folder = Path(args.backup)
    database = newest_backup(folder) if folder.is_dir() else None
    if database is None:
        raise CliError([f"{folder}: no gridbot-*.sqlite3 backup in this folder"])
    return _report_check(database, folder / "evidence", args.quick)


def _report_check(database: Any, evidence: Any, quick: bool) -> int:
    from bot.ops import maintenance

    bar = ProgressBar("evidence", _progress_wanted(None))
    try:
        result = maintenance.check(database, evidence, hashes=not quick, progress=bar)
    except Exception as exc:  # a file that is not a database, a locked or unreadable one
        raise CliError([f"{database}: cannot be checked: {exc}"]) from None
    finally:
        bar.close()
    how = "sizes" if quick else "SHA-256"
    print(f"database: {redact_url(str(result.database))} (schema {result.schema})")
    print(f"evidence: {result.evidence}, {result.files_checked} files checked ({how})")
    for problem in result.problems:
        print(f"{problem.kind}: {problem.text}")
    if result.ok:
        print("ok")
        return 0
    print(f"{len(result.problems)} problem(s)", file=sys.stderr)
    return 1


_MAINTENANCE: dict[str, Callable[[Config, argparse.Namespace], int]] = {
    "backup": _backup,
    "check": _check,
}


def _outlet_state(outlet: Any, state: Any) -> str:
    if state is None:
        return "new (known from the next start)"
    if state.failing_since is not None:
        since = state.failing_since.strftime("%Y-%m-%d %H:%M UTC")
        return f"FAILING since {since}: {state.failing_reason}"
    return "ok"


async def _outlets_list(config: Config, args: argparse.Namespace) -> int:
    from bot.outlets.robots import masked

    async def work(services: Services) -> int:
        if not config.outlets:
            print("no outlets ([[outlets]] in the config)")
            return 0
        for outlet in config.outlets:
            unit = await services.outlets.unit_name(outlet.unit)
            state = await services.outlets.state_of(outlet.name)
            sends = await services.outlets.sends_of(outlet.name)
            print(f"{outlet.name}  {outlet.kind}  {outlet.unit} {unit or '(NO SUCH UNIT)'}")
            print(f"  webhook  {masked(outlet.webhook_url())}")
            print(f"  signed   {'yes' if outlet.secret else 'no'}")
            print(f"  sends    {', '.join(outlet.sends)} (at most {outlet.per_minute} a minute)")
            print(f"  state    {_outlet_state(outlet, state)}")
            for send in sends[-3:]:
                when = send.done_at.strftime("%Y-%m-%d %H:%M UTC") if send.done_at else "-"
                detail = f" ({send.detail})" if send.detail else ""
                print(f"  last     {send.kind} {send.period} {send.state} {when}{detail}")
        return 0

    return await _with_services(config, work)


async def _outlets_test(config: Config, args: argparse.Namespace) -> int:
    from bot.outlets.hub import OutletHub

    async def work(services: Services) -> int:
        outlet = services.outlets.named(args.name)
        if outlet is None:
            known = ", ".join(o.name for o in config.outlets) or "none"
            raise CliError([f"no outlet named {args.name!r} (known: {known})"], 2)
        hub = OutletHub(services)
        try:
            answer = await hub.test(args.name)
        finally:
            await hub.close()
        assert answer is not None
        verdict = "ok" if answer.ok else f"FAILED ({answer.verdict.value})"
        print(f"{outlet.name} ({outlet.kind}): {verdict}: {answer.describe()}")
        return 0 if answer.ok else 1

    return await _with_services(config, work)


_COMMANDS: dict[
    tuple[str, str | None], Callable[[Config, argparse.Namespace], Coroutine[Any, Any, int]]
] = {
    ("db", "migrate"): _migrate,
    ("db", "copy"): _db_copy,
    ("outlets", "list"): _outlets_list,
    ("outlets", "test"): _outlets_test,
    ("org", "import"): _org_import,
    ("org", "show"): _org_show,
    ("admin", "add"): _admin_add,
    ("tips", "import"): _tips_import,
    ("tips", "table"): _tips_table,
    ("sites", "import"): _sites_import,
    ("sites", "export"): _sites_export,
    ("plans", "add"): _plans_add,
    ("plans", "list"): _plans_list,
    ("plans", "close"): _plans_close,
    ("bulletin", "build"): _bulletin_build,
    ("export", None): _export,
    ("audit", None): _audit,
}


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
