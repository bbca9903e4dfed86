"""Every key the code looks up exists in both catalogues: the literal ones (found in the
source) and the ones built at run time (``f"role.{role}"``), each enumerated from the
enum or table its values come from. A key pattern the code builds that is not listed
here fails, so a new one is checked from the start."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import bot.app  # noqa: F401  (registers every handler module's flows)
from bot.config import OUTLET_PLATFORMS
from bot.core import periods
from bot.core.access import Role
from bot.core.policy import COMMANDS
from bot.domain import (
    audit,
    briefs,
    bulletin,
    digest,
    exports,
    groups,
    invites,
    report_history,
    status_updates,
)
from bot.domain import outlets as outlet_domain
from bot.domain import plans as plan_domain
from bot.domain import reports as report_domain
from bot.domain import tips as tip_domain
from bot.formats import kpitable, orgfile, tiptable
from bot.i18n import Catalogue
from bot.ops import demo
from handlers import flows
from handlers import tips as tip_handlers
from storage.tips import Declined, EventKind, RewardState, Satisfaction, TipState, Urgency

ROOT = Path(__file__).resolve().parent.parent
_FLOWS = (
    report_domain.REPORT_FLOW,
    tip_domain.RECEIVE_FLOW,
    tip_domain.CLOSE_FLOW,
    tip_domain.RETURN_FLOW,
    status_updates.UPDATE_FLOW,
    invites.JOIN_FLOW,
    plan_domain.PLAN_FLOW,
)


def _flow_keys(prefix: str) -> set[str]:
    """The keys of every flow table's steps (prompt, expect, label) under ``prefix``."""
    keys = {k for flow in _FLOWS for s in flow for k in (s.prompt, s.expect, s.label) if k}
    return {key for key in keys if key.startswith(prefix)}


def _literal_arguments(function: str, index: int) -> set[str]:
    """The literal values the code passes to ``function`` at position ``index``."""
    found = set()
    for _, tree in _modules():
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) == function
                and len(node.args) > index
                and isinstance(node.args[index], ast.Constant)
            ):
                found.add(node.args[index].value)
    return found


def _modules() -> list[tuple[Path, ast.Module]]:
    files = [*(ROOT / "bot").rglob("*.py"), *(ROOT / "handlers").rglob("*.py")]
    return [
        (path, ast.parse(path.read_text(encoding="utf-8")))
        for path in sorted(files)
        if "i18n" not in path.relative_to(ROOT).parts
    ]


def _keys(pattern: str, values) -> set[str]:
    return {pattern.format(value) for value in values}


# Each pattern the code builds a key from ("{}" where a value goes), with every key it
# can give, from the enum or table the value comes from.
DYNAMIC: dict[str, set[str]] = {
    "role.{}": _keys("role.{}", Role),
    "role.word.{}": _keys("role.word.{}", Role),
    "command.{}": {c.description_key for c in COMMANDS},
    "unit.word.{}": _keys("unit.word.{}", orgfile.LEVELS),
    "digest.children.{}": _keys("digest.children.{}", orgfile.LEVELS),
    "digest.column.{}": _keys("digest.column.{}", digest._COLUMNS),
    "period.word.{}": _keys("period.word.{}", periods.WORDS),
    "bulletin.column.{}": _keys(
        "bulletin.column.{}", (*bulletin._REPORT_COLUMNS, *bulletin._XLSX_REPORT_COLUMNS)
    ),
    "tiptable.column.{}": _keys("tiptable.column.{}", tiptable.COLUMNS),
    "brief.doc.rank.{}": _keys("brief.doc.rank.{}", briefs.RANK_COLUMNS),
    "brief.doc.plan.{}": _keys("brief.doc.plan.{}", briefs.PLAN_COLUMNS),
    "export.kind.{}": _keys("export.kind.{}", exports.KINDS),
    "export.word.{}": _keys("export.word.{}", exports.KINDS),
    "export.col.{}": _keys("export.col.{}", {c for cs in exports._COLUMNS.values() for c in cs}),
    "export.reward.{}": _keys("export.reward.{}", RewardState),
    "audit.action.{}": _keys("audit.action.{}", audit.ACTIONS),
    "cancel.done.{}": _keys("cancel.done.{}", flows._CANCELLERS),
    "group.state.{}": _keys("group.state.{}", groups.END_REASONS),
    "report.ask.{}": _flow_keys("report.ask."),
    "plan.ask.{}": _flow_keys("plan.ask."),
    "plan.expect.{}": _flow_keys("plan.expect."),
    "plan.rule.{}": _keys("plan.rule.{}", plan_domain.RULES),
    "site_plans.{}": _keys("site_plans.{}", ("done", "overdue", "due")),
    "plan.column.{}": _keys("plan.column.{}", plan_domain.PROGRESS_COLUMNS),
    "report.step.{}": _flow_keys("report.step."),
    "plan.step.{}": _flow_keys("plan.step."),
    "report.expect.{}": _flow_keys("report.expect."),
    "report.flag_name.{}": _keys("report.flag_name.{}", report_domain.FLAGS),
    "report.flag.{}": _keys("report.flag.{}", report_domain.FLAGS)
    | _keys("report.flag.{}_elsewhere", report_domain.PHOTO_FLAGS),
    "report.check.{}": _keys("report.check.{}", report_domain.PHOTO_FLAGS)
    | _keys("report.check.{}_elsewhere", report_domain.PHOTO_FLAGS),
    "reports.period.{}": _keys("reports.period.{}", report_history.PERIODS),
    "tip.source.{}": _keys("tip.source.{}", tip_domain.SOURCES),
    "tip.state.{}": _keys("tip.state.{}", TipState),
    "tip.event.{}": _keys("tip.event.{}", EventKind),
    "tip.note.{}": _keys("tip.note.{}", tip_domain.EventNote),
    "tip.ask.{}": _flow_keys("tip.ask."),
    "tip.expect.{}": _flow_keys("tip.expect."),
    # checked_text(text, limit, "tip.description") refuses with "tip.description_needed"…
    "{}_needed": _keys("{}_needed", _literal_arguments("checked_text", 2)),
    "{}_too_long": _keys("{}_too_long", _literal_arguments("checked_text", 2)),
    "reward.state.{}": _keys("reward.state.{}", RewardState),
    "reward.word.{}": _keys("reward.word.{}", tip_handlers.SETTLED),
    "demo.persona.{}": _keys("demo.persona.{}", demo.PERSONAS),
    "demo.people.{}": _keys("demo.people.{}", demo.PEOPLE),
    "kpitable.column.{}": _keys("kpitable.column.{}", kpitable.COLUMNS),
    "tip.urgency.{}": _keys("tip.urgency.{}", Urgency),
    "tip.declined_reason.{}": _keys("tip.declined_reason.{}", Declined),
    "tip.declined_word.{}": _keys("tip.declined_word.{}", Declined),
    "tip.satisfaction.{}": _keys("tip.satisfaction.{}", Satisfaction),
    "tip.satisfaction_word.{}": _keys("tip.satisfaction_word.{}", Satisfaction),
    "outlet.platform.{}": _keys("outlet.platform.{}", OUTLET_PLATFORMS),
    "outlet.overdue_column.{}": _keys("outlet.overdue_column.{}", outlet_domain.OVERDUE_COLUMNS),
}

# f-strings that look like keys but name something else.
NOT_TEXT = {"reward.{}": "an audit action (bot.domain.audit.ACTIONS), not a text"}

# The functions that take a catalogue key; a literal argument of theirs that looks like a
# key must be one (``checked_text`` takes the stem of two keys, enumerated above).
_TAKES_KEYS = {
    "text",
    "reply",
    "Refused",
    "keywords",
    "means",
    "has",
    "tell_admins",
    "Notice",
    "_render",
}
_KEY = re.compile(r"^[a-z_]+(\.[a-z_0-9]+)+$")


@pytest.fixture(scope="module")
def catalogue() -> Catalogue:
    return Catalogue.load()


def _pattern(node: ast.JoinedStr) -> str:
    return "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)


def _built_patterns(tops: set[str]) -> dict[str, list[str]]:
    """The key patterns the code builds with f-strings: those that start with one of the
    catalogue's top-level names."""
    found: dict[str, list[str]] = {}
    for path, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.JoinedStr):
                pattern = _pattern(node)
                keyish = pattern.split(".")[0] in tops and "." in pattern
                if "{}" in pattern and (keyish or re.fullmatch(r"\{\}_[a-z_]+", pattern)):
                    where = f"{path.relative_to(ROOT)}:{node.lineno}"
                    found.setdefault(pattern, []).append(where)
    return found


def _literals(node: ast.AST) -> list[ast.Constant]:
    """String constants an argument may be: itself, or either branch of an ``if``."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node]
    if isinstance(node, ast.IfExp):
        return _literals(node.body) + _literals(node.orelse)
    return []


def _literal_keys() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for path, tree in _modules():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = getattr(func, "id", None) or getattr(func, "attr", None)
            if name not in _TAKES_KEYS:
                continue
            arguments = [*node.args, *(k.value for k in node.keywords if k.arg == "key")]
            for argument in arguments:
                for constant in _literals(argument):
                    if _KEY.match(constant.value):
                        where = f"{path.relative_to(ROOT)}:{constant.lineno}"
                        found.setdefault(constant.value, []).append(where)
    return found


def test_every_key_built_at_run_time_exists_in_both_catalogues(catalogue):
    for pattern, keys in DYNAMIC.items():
        assert keys, f"{pattern}: nothing enumerated"
        for language in ("zh", "en"):
            missing = sorted(keys - catalogue.messages[language].keys())
            assert not missing, f"{language}: {pattern}: {missing}"


def test_every_key_pattern_in_the_code_is_enumerated(catalogue):
    """A new f-string key must be added to DYNAMIC with the enum or table of its values."""
    tops = {key.split(".")[0] for key in catalogue.messages["zh"]}
    built = _built_patterns(tops)
    assert len(built) > 30
    unknown = {p: w for p, w in built.items() if p not in DYNAMIC and p not in NOT_TEXT}
    assert not unknown, unknown
    assert not DYNAMIC.keys() - built.keys(), "listed but no longer built"


def test_every_literal_key_in_the_code_exists_in_both_catalogues(catalogue):
    found = _literal_keys()
    assert len(found) > 200
    for language in ("zh", "en"):
        missing = {k: w for k, w in found.items() if k not in catalogue.messages[language]}
        assert not missing, f"{language}: {missing}"


def test_every_key_of_every_flow_table_exists_in_both_catalogues(catalogue):
    """Each step's prompt, answer-expected text and 修改 label, as the tables name them."""
    keys = {k for flow in _FLOWS for s in flow for k in (s.prompt, s.expect, s.label) if k}
    assert len(keys) > 20
    for language in ("zh", "en"):
        assert not sorted(keys - catalogue.messages[language].keys()), language
