"""Conversations as data: the flow names and, per drafted conversation, one table of steps.

Telegram-free. A drafted conversation (a report, a status update, receiving, closing or
returning a tip, joining) asks one thing at a time and keeps the answers in a draft row,
so a restart resumes it. Each is described by one ``FlowTable``: its steps in order, each
a ``StepSpec`` saying which question asks it, what is said when a message does not answer
it, when the draft has answered it, how typed text is checked, and whether 修改 may go
back to it (and what going back clears). The step the draft is at is the first step not
yet answered; the last step is the card answered by a button (submit, verdict…).

The services read these tables for the step order and the checks; the handlers hold one
entry per step for how it is asked. Adding a step is one ``StepSpec`` here (its enum
member, its catalogue keys in both languages, its parse function if it takes text) and
one asking entry in the area's handler module; ``tests/test_flow_tables.py`` fails until
all of them exist.

Flow names, step names and stored draft values are ``StrEnum`` members whose values are
the strings stored in ``active_flow`` and used in catalogue keys, so rows written before
the enums still resume.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from bot.core.errors import Refused


class Flow(StrEnum):
    """A multi-step conversation; the value is what ``active_flow`` stores (and the key of
    its ``cancel.done.*`` text)."""

    REPORT = "report"
    UPDATE = "update"
    TIP_RECEIVE = "tip"
    TIP_CLOSE = "tipclose"
    TIP_RETURN = "tipreturn"
    JOIN = "join"
    PLAN = "plan"


S = TypeVar("S", bound=StrEnum)


@dataclass(frozen=True)
class StepSpec(Generic[S]):
    """One step of a flow.

    ``done`` tells whether a draft has answered the step (None: the last step, a card
    answered by a button). ``parse`` checks typed text for the step and returns what it
    means (raising ``Refused`` with a catalogue key); None: the step takes no text.
    ``clears`` is what going back to the step with 修改 resets (None: 修改 does not offer
    it) and ``label`` the catalogue key of its name on the 修改 keyboard.
    """

    step: S
    prompt: str
    expect: str
    done: Callable[[Any], bool] | None = None
    parse: Callable[[str], Any] | None = None
    clears: Mapping[str, object] | None = None
    label: str | None = None

    @property
    def editable(self) -> bool:
        """Whether 修改 may return to this step."""
        return self.clears is not None


@dataclass(frozen=True)
class FlowTable(Generic[S]):
    """A flow's steps in the order they are asked; the last one has no ``done``."""

    flow: Flow
    enum: type[S]
    steps: tuple[StepSpec[S], ...]
    _by_step: dict[str, StepSpec[S]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_step = {spec.step: spec for spec in self.steps}
        if len(by_step) != len(self.steps):
            raise ValueError(f"flow {self.flow}: a step is listed twice")
        if any(spec.done is None for spec in self.steps[:-1]) or self.steps[-1].done:
            raise ValueError(f"flow {self.flow}: only the last step may lack 'done'")
        object.__setattr__(self, "_by_step", by_step)

    def __iter__(self) -> Iterator[StepSpec[S]]:
        return iter(self.steps)

    def __getitem__(self, step: str) -> StepSpec[S]:
        """The spec of ``step`` (a member or its stored value)."""
        return self._by_step[step]

    @property
    def last(self) -> S:
        """The final step: the card answered by a button."""
        return self.steps[-1].step

    def next_step(self, draft: Any) -> S:
        """The first step ``draft`` has not answered (the last step when all are)."""
        for spec in self.steps[:-1]:
            assert spec.done is not None
            if not spec.done(draft):
                return spec.step
        return self.last

    @property
    def editable(self) -> tuple[S, ...]:
        """The steps 修改 offers, in order (a button carries the index into this)."""
        return tuple(spec.step for spec in self.steps if spec.editable)

    def parse(self, step: str, text: str, **fields: Any) -> Any:
        """Typed text at ``step``, checked: what it means for the draft.

        Raises ``Refused`` with the step's ``expect`` key (filled with ``fields``) when
        the step takes no text.
        """
        spec = self[step]
        if spec.parse is None:
            raise Refused(spec.expect, **fields)
        return spec.parse(text)
