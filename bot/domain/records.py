"""The records the domain hands to the layers above: units, members, groups, reports,
tips and their events as the repositories return them (``storage``). Handlers take them
from here, never from ``storage`` (the import contract in ``pyproject.toml``)."""

from __future__ import annotations

from storage.groups import Group
from storage.members import Member
from storage.reports import Report
from storage.tips import Event, Tip
from storage.units import Unit

__all__ = ["Event", "Group", "Member", "Report", "Tip", "Unit"]
