"""The drafted conversations as tables (``bot.domain.flows``): Telegram-free and fast.

Adding a step to a flow is one ``StepSpec`` in its table, its catalogue keys in both
languages and one asking entry in the area's handler module; ``test_every_step_is_complete``
fails until all of them exist (``test_a_step_added_to_a_table_alone_is_reported`` shows it).
"""

from __future__ import annotations

from dataclasses import replace
from enum import StrEnum
from typing import Any

import pytest

import handlers.onboarding
import handlers.plans
import handlers.reports
import handlers.status_updates
import handlers.tips
from bot.core.errors import Refused
from bot.domain.flows import Flow, FlowTable, StepSpec
from bot.domain.invites import JOIN_FLOW, JoinStep
from bot.domain.plans import PLAN_FLOW
from bot.domain.reports import REPORT_FLOW, STEPS, ReportStep, next_step
from bot.domain.status_updates import UPDATE_FLOW, StatusUpdateStep
from bot.domain.tips import (
    CLOSE_FLOW,
    RECEIVE_FLOW,
    RETURN_FLOW,
    CloseStep,
    ReceiveStep,
    ReturnStep,
    close_step,
    receive_step,
)
from bot.i18n import LANGUAGES, Catalogue
from handlers import flows
from handlers.callbacks import (
    BriefAction,
    MoveAction,
    NoticeAction,
    ReportAction,
    ReportButton,
    TipActionButton,
    TipDraftAction,
    TipDraftButton,
    decode,
)
from storage.report_drafts import Draft

CATALOGUE = Catalogue.load()

# Each flow table with the asking entries of its handler module.
TABLES: list[tuple[FlowTable[Any], dict[Any, Any]]] = [
    (REPORT_FLOW, handlers.reports.ASKERS),
    (UPDATE_FLOW, handlers.status_updates.ASKERS),
    (RECEIVE_FLOW, handlers.tips.ASKERS[Flow.TIP_RECEIVE]),
    (CLOSE_FLOW, handlers.tips.ASKERS[Flow.TIP_CLOSE]),
    (RETURN_FLOW, handlers.tips.ASKERS[Flow.TIP_RETURN]),
    (JOIN_FLOW, handlers.onboarding.ASKERS),
    (PLAN_FLOW, handlers.plans.ASKERS),
]


def problems(table: FlowTable[Any], askers: dict[Any, Any]) -> list[str]:
    """What a flow table lacks: steps missing from it or its enum, catalogue keys missing in
    a language, steps with no asking entry."""
    found = []
    listed = [spec.step for spec in table]
    if set(listed) != set(table.enum) or len(listed) != len(table.enum):
        found.append(f"{table.flow}: table steps {listed} != enum {list(table.enum)}")
    for spec in table:
        keys = [spec.prompt, spec.expect] + ([spec.label] if spec.label else [])
        for key in keys:
            for language in LANGUAGES:
                if key not in CATALOGUE.messages[language]:
                    found.append(f"{table.flow}.{spec.step}: {key} missing in {language}")
        if spec.step not in askers:
            found.append(f"{table.flow}.{spec.step}: no asking entry")
    if set(askers) - set(table.enum):
        found.append(f"{table.flow}: asking entries for no step {set(askers) - set(table.enum)}")
    return found


def test_every_flow_has_one_table():
    assert {table.flow for table, _ in TABLES} == set(Flow)


@pytest.mark.parametrize("table,askers", TABLES, ids=[str(t.flow) for t, _ in TABLES])
def test_every_step_is_complete(table, askers):
    assert problems(table, askers) == []


def test_a_step_added_to_a_table_alone_is_reported():
    class Grown(StrEnum):
        NAME = "name"
        AGE = "age"

    grown = FlowTable(
        Flow.JOIN,
        Grown,
        (
            StepSpec(Grown.NAME, "join.ask_name", "join.send_text", done=lambda d: "name" in d),
            StepSpec(Grown.AGE, "join.ask_age", "join.expect_age"),
        ),
    )
    found = problems(grown, handlers.onboarding.ASKERS)
    assert "join.age: join.ask_age missing in zh" in found
    assert "join.age: join.expect_age missing in en" in found
    assert "join.age: no asking entry" in found


def test_stored_values_are_unchanged():
    """``active_flow`` rows and draft kinds written before the enums still resume."""
    assert {flow.value for flow in Flow} == {
        "report",
        "update",
        "tip",
        "tipclose",
        "tipreturn",
        "join",
        "plan",
    }
    assert [str(step) for step in STEPS] == [
        "category",
        "site",
        "status",
        "photos",
        "location",
        "note",
    ]
    assert REPORT_FLOW["note"].step is ReportStep.NOTE  # looked up by a stored string


def test_every_active_flow_is_routed_and_cancellable():
    for flow in Flow:
        if flow is Flow.JOIN:  # the join draft is not an active flow: it has no member yet
            continue
        assert flow in flows._FLOWS and flow in flows._CANCELLERS
        for language in LANGUAGES:
            assert f"cancel.done.{flow}" in CATALOGUE.messages[language]


def test_every_button_action_has_an_entry():
    assert set(handlers.reports.PRESSES) == set(ReportAction)
    assert set(handlers.tips.DRAFT_PRESSES) == set(TipDraftAction)
    assert set(handlers.tips.ACTION_PRESSES) == set(NoticeAction)


def test_button_codes_on_the_wire_are_unchanged():
    assert [a.value for a in ReportAction] == [
        "cat",
        "site",
        "new",
        "st",
        "pd",
        "pc",
        "ns",
        "ok",
        "ed",
        "eg",
        "cx",
    ]
    assert [a.value for a in TipDraftAction] == [
        "src",
        "down",
        "here",
        "up",
        "pd",
        "nc",
        "ok",
        "cx",
        "cpd",
        "yes",
        "no",
        "urg",
        "dup",
    ]
    assert [a.value for a in NoticeAction] == ["ack", "pass", "back", "xok", "xno"]
    assert [a.value for a in BriefAction] == ["pub", "cx"]
    assert [a.value for a in MoveAction] == ["ok", "cx"]
    pressed = ReportButton(draft=5, act=ReportAction.EDIT_STEP, arg=len(STEPS))
    assert pressed.encode() == "1:r:5:eg:6"
    assert decode("1:r:5:eg:6") == pressed
    assert decode("1:td:9:cpd:0") == TipDraftButton(draft=9, act=TipDraftAction.CLOSE_PHOTOS_DONE)
    assert decode("1:ta:3:back") == TipActionButton(tip=3, act=NoticeAction.BACK)
    assert decode("1:r:5:zz:0") is None


def _draft(**fields: Any) -> Draft:
    base: dict[str, Any] = dict(
        id=1,
        telegram_id=7,
        member_id=1,
        category=None,
        site_id=None,
        new_site=None,
        site_query=None,
        status=None,
        photos_done=False,
        location_done=False,
        latitude=None,
        longitude=None,
        note=None,
        note_done=False,
        photos_unanswered=False,
        photo_count=0,
        created_at="",
        updated_at="",
        expires_at="",
    )
    return Draft(**{**base, **fields})


def test_report_steps_follow_the_table():
    draft = _draft()
    seen = [next_step(draft)]
    for changes in (
        {"category": "grid"},
        {"new_site": "A-1"},
        {"status": "ok"},
        {"photos_done": True},
        {"location_done": True},
        {"note_done": True},
    ):
        draft = replace(draft, **changes)
        seen.append(next_step(draft))
    assert seen == list(ReportStep)
    assert REPORT_FLOW.last is ReportStep.SUMMARY


def test_going_back_clears_what_the_step_and_later_ones_depend_on():
    clears = REPORT_FLOW[ReportStep.CATEGORY].clears
    assert clears is not None and {"category", "site_id", "new_site", "status"} <= set(clears)
    assert REPORT_FLOW.editable == STEPS
    assert REPORT_FLOW[ReportStep.SUMMARY].clears is None  # 修改 does not offer the card
    done = _draft(category="grid", site_id=3, status="ok", photos_done=True)
    site = REPORT_FLOW["site"].clears
    assert site is not None and next_step(replace(done, **site)) == "site"


def test_tip_steps_follow_the_tables():
    data: dict[str, Any] = {}
    seen = [receive_step(data)]
    for name in ("description", "source", "urgency", "place_done", "photos_done", "contact_done"):
        data[name] = True
        seen.append(receive_step(data))
    assert seen == list(ReceiveStep)
    assert [close_step({}), close_step({"result": "x"})] == [CloseStep.RESULT, CloseStep.PHOTOS]
    assert close_step({"result": "x", "photos_done": True}) is CloseStep.VERDICT
    assert RETURN_FLOW.next_step({}) is ReturnStep.REASON


def test_typed_text_is_parsed_by_its_step():
    assert RECEIVE_FLOW.parse(ReceiveStep.CONTACT, " 138 ") == {
        "contact": "138",
        "contact_done": True,
    }
    assert REPORT_FLOW.parse(ReportStep.NOTE, "  ") is None
    assert UPDATE_FLOW.parse(StatusUpdateStep.COUNTER, "1，200") == 1200
    assert JOIN_FLOW.parse(JoinStep.NAME, " 张  三 ") == "张 三"
    with pytest.raises(Refused) as refused:
        RECEIVE_FLOW.parse(ReceiveStep.SOURCE, "热线")  # a button step takes no text
    assert refused.value.key == "tip.expect.source"
    with pytest.raises(Refused) as refused:
        REPORT_FLOW.parse(ReportStep.PHOTOS, "hi", max=10)
    assert (refused.value.key, refused.value.fields) == ("report.expect.photos", {"max": 10})
    with pytest.raises(Refused) as refused:
        CLOSE_FLOW.parse(CloseStep.RESULT, " ")
    assert refused.value.key == "tip.result_needed"


def test_a_malformed_table_is_refused_when_built():
    class Two(StrEnum):
        A = "a"
        B = "b"

    with pytest.raises(ValueError, match="twice"):
        FlowTable(Flow.JOIN, Two, (StepSpec(Two.A, "k", "k", done=bool), StepSpec(Two.A, "k", "k")))
    with pytest.raises(ValueError, match="last step"):
        FlowTable(Flow.JOIN, Two, (StepSpec(Two.A, "k", "k"), StepSpec(Two.B, "k", "k")))
