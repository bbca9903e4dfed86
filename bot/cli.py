"""The operator's command: ``gridbot`` (also ``python -m bot``).

    gridbot run --config PATH [--api-url URL]
    gridbot db migrate --config PATH
    gridbot org import FILE --config PATH
    gridbot org show [CODE] --config PATH
    gridbot admin add TELEGRAM_ID --unit CODE --role admin --name NAME --config PATH
    gridbot tips import FILE.csv --config PATH
    gridbot tips table [--from DATE] [--to DATE] [--format text|md|csv|tsv] --config PATH

Problems are printed as plain lines on stderr (no traceback) with exit status 2 for a
bad config or command line, 1 for anything else that could not be done.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any

from telegram.error import InvalidToken, TelegramError

from bot.access import Role
from bot.clock import SystemClock
from bot.config import Config, ConfigError, load_config
from bot.errors import Refused
from bot.i18n import Catalogue
from bot.logs import RedactTokenFilter, configure_logging
from bot.org import OrgService, TreeNode
from bot.orgfile import OrgFileError, read_org_file
from bot.services import Services
from storage.db import Database

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

    run = top.add_parser("run", parents=[common], help="start the bot (long polling)")
    run.add_argument("--api-url", help="Bot API server root, e.g. http://127.0.0.1:8081")
    run.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])

    db = top.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("migrate", parents=[common], help="create or upgrade the database")

    org = top.add_parser("org", help="the unit tree").add_subparsers(dest="action", required=True)
    org_import = org.add_parser("import", parents=[common], help="import a .toml or .csv org file")
    org_import.add_argument("file")
    org_show = org.add_parser("show", parents=[common], help="print the tree (or a subtree)")
    org_show.add_argument("code", nargs="?")

    admin = top.add_parser("admin", help="members").add_subparsers(dest="action", required=True)
    add = admin.add_parser("add", parents=[common], help="add or re-place a member")
    add.add_argument("telegram_id", type=int)
    add.add_argument("--unit", required=True, help="unit code")
    add.add_argument("--role", default="admin", choices=[r.value for r in Role])
    add.add_argument("--name", required=True)

    tips = top.add_parser("tips", help="tips (举报线索)").add_subparsers(
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
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        config = load_config(args.config)
        if args.command == "run":
            return _run(config, args)
        handler = _COMMANDS[(args.command, args.action)]
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
    from bot.app import run_polling

    if args.api_url:
        root = args.api_url.rstrip("/")
        config = config.model_copy(
            update={
                "telegram": config.telegram.model_copy(
                    update={"base_url": f"{root}/bot", "base_file_url": f"{root}/file/bot"}
                )
            }
        )
    token = config.token() or ""
    configure_logging(args.log_level, secrets=[token])
    source = config.source.name if config.source else "config"
    try:
        run_polling(config)
    except InvalidToken:
        raise CliError(
            [f"{source}: telegram.token: the Bot API server rejected the token"], 2
        ) from None
    except TelegramError as exc:
        raise CliError(
            [f"the Bot API failed: {RedactTokenFilter([token]).redact(str(exc))}"]
        ) from None
    return 0


async def _migrate(config: Config, args: argparse.Namespace) -> int:
    async with await Database.open(config.database.path) as db:
        report = await db.migrate()
    if report.applied:
        print(f"{config.database.path}: schema {report.before} → {report.after}")
        for name in report.applied:
            print(f"  applied {name}")
    else:
        print(f"{config.database.path}: schema {report.after}, up to date")
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

    from bot.tipfile import TipFileError, read_tip_file

    async def work(services: Services) -> int:
        try:
            rows = read_tip_file(Path(args.file), await services.tips.units(), config.locale.zone)
            count = await services.tips.import_rows(rows)
        except TipFileError as exc:
            raise CliError([*exc.problems, f"{args.file}: nothing imported"], 2) from None
        print(f"{args.file}: {count} tips imported")
        return 0

    return await _with_services(config, work)


def _day(text: str | None, flag: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise CliError([f"{flag} {text!r} is not a date (YYYY-MM-DD)"], 2) from None


async def _tips_table(config: Config, args: argparse.Namespace) -> int:
    from bot.tiptable import FORMATS, tip_table

    zone = config.locale.zone
    first, last = _day(args.start, "--from"), _day(args.end, "--to")

    async def work(services: Services) -> int:
        final = last or services.clock.now().astimezone(zone).date()
        start = datetime.combine(first, time(0), zone) if first else None
        end = datetime.combine(final + timedelta(days=1), time(0), zone)
        print(FORMATS[args.format](await tip_table(services.db, start, end)))
        return 0

    return await _with_services(config, work)


_COMMANDS: dict[
    tuple[str, str], Callable[[Config, argparse.Namespace], Coroutine[Any, Any, int]]
] = {
    ("db", "migrate"): _migrate,
    ("org", "import"): _org_import,
    ("org", "show"): _org_show,
    ("admin", "add"): _admin_add,
    ("tips", "import"): _tips_import,
    ("tips", "table"): _tips_table,
}


if __name__ == "__main__":  # pragma: no cover
    logging.basicConfig(level=logging.WARNING)
    sys.exit(main())
