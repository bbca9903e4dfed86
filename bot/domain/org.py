"""The unit tree as a service: import an org file, look units up, describe a subtree."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bot.core.clock import Clock
from bot.core.codes import typed_code
from bot.domain import audit
from bot.formats.orgfile import OrgFileError, OrgProblem, UnitRow
from storage import members as member_repo
from storage import units as unit_repo
from storage.db import Connection, Database
from storage.times import to_text
from storage.units import NewUnit, Unit


@dataclass
class ImportResult:
    added: list[str] = field(default_factory=list)
    renamed: list[tuple[str, str, str]] = field(default_factory=list)  # code, old, new
    moved: list[str] = field(default_factory=list)
    reordered: int = 0
    reactivated: list[str] = field(default_factory=list)
    deactivated: list[Unit] = field(default_factory=list)
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(
            self.added
            or self.renamed
            or self.moved
            or self.reordered
            or self.reactivated
            or self.deactivated
        )


@dataclass(frozen=True)
class TreeNode:
    unit: Unit
    depth: int
    members: int


class OrgService:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def import_rows(self, rows: list[UnitRow], source: str) -> ImportResult:
        """Bring the database in line with ``rows`` (already validated), in one transaction.

        Renames, moves and new units are applied; units missing from the file are marked
        inactive, never deleted. Importing the same file twice changes nothing.
        """
        now = to_text(self.clock.now())
        result = ImportResult()
        async with self.db.transaction() as conn:
            existing = {unit.code: unit for unit in await unit_repo.all_units(conn)}
            root = next((row for row in rows if row.parent_code is None), None)
            current_root = next((u for u in existing.values() if u.parent_id is None), None)
            if root and current_root and root.code != current_root.code:
                raise OrgFileError(
                    source,
                    [
                        OrgProblem(
                            root.line,
                            f"the file's city {root.code!r} is not the database's city "
                            f"{current_root.code!r}",
                        )
                    ],
                )
            ids = {code: unit.id for code, unit in existing.items()}
            tree_changed = False
            for order, row in enumerate(rows):
                parent_id = ids[row.parent_code] if row.parent_code else None
                unit = existing.get(row.code)
                if unit is None:
                    ids[row.code] = await unit_repo.insert(
                        conn, NewUnit(row.code, row.name, row.level, parent_id, order), now
                    )
                    result.added.append(row.code)
                    tree_changed = True
                    continue
                same = (
                    unit.name == row.name
                    and unit.level == row.level
                    and unit.parent_id == parent_id
                    and unit.sort_order == order
                    and unit.active
                )
                if same:
                    result.unchanged += 1
                    continue
                if unit.name != row.name:
                    result.renamed.append((row.code, unit.name, row.name))
                if unit.parent_id != parent_id:
                    result.moved.append(row.code)
                    tree_changed = True
                if unit.sort_order != order:
                    result.reordered += 1
                if not unit.active:
                    result.reactivated.append(row.code)
                await unit_repo.update(
                    conn,
                    unit.id,
                    name=row.name,
                    level=row.level,
                    parent_id=parent_id,
                    sort_order=order,
                    active=True,
                    now=now,
                )
            in_file = {row.code for row in rows}
            for code, unit in existing.items():
                if code not in in_file and unit.active:
                    await unit_repo.set_active(conn, unit.id, False, now)
                    result.deactivated.append(unit)
            if tree_changed:
                await _rebuild_paths(conn)
            if result.added or result.renamed or result.moved or result.deactivated:
                await audit.record(
                    conn,
                    self.clock,
                    "org.imported",
                    actor=None,
                    target=Path(source).name,
                    unit_id=None,
                    added=len(result.added),
                    renamed=len(result.renamed),
                    moved=len(result.moved),
                    deactivated=len(result.deactivated),
                )
        return result

    async def unit(self, code: str) -> Unit | None:
        async with self.db.read() as conn:
            return await unit_repo.get_by_code(conn, typed_code(code))

    async def root(self) -> Unit | None:
        async with self.db.read() as conn:
            return await unit_repo.root(conn)

    async def ancestry(self, unit: Unit) -> list[Unit]:
        async with self.db.read() as conn:
            return await unit_repo.ancestors(conn, unit)

    async def tree(self, top: Unit) -> list[TreeNode]:
        """``top`` and its subtree in tree order, with the member count of each unit."""
        async with self.db.read() as conn:
            nodes = await unit_repo.subtree(conn, top)
            counts = await member_repo.active_counts_by_unit(conn, top.path)
        kids: dict[int | None, list[Unit]] = {}
        for unit in nodes[1:]:
            kids.setdefault(unit.parent_id, []).append(unit)
        ordered: list[TreeNode] = []
        stack: list[tuple[Unit, int]] = [(top, 0)]
        while stack:  # depth first, children in file order
            unit, depth = stack.pop()
            ordered.append(TreeNode(unit, depth, counts.get(unit.id, 0)))
            children = sorted(kids.get(unit.id, []), key=lambda u: (u.sort_order, u.code))
            stack.extend((child, depth + 1) for child in reversed(children))
        return ordered


async def _rebuild_paths(conn: Connection) -> None:
    """Recompute every materialised path from the parent links (one pass, parents first)."""
    all_units = await unit_repo.all_units(conn)
    by_parent: dict[int | None, list[Unit]] = {}
    for unit in all_units:
        by_parent.setdefault(unit.parent_id, []).append(unit)
    stack: list[tuple[Unit, str]] = [(u, f"/{u.id}/") for u in by_parent.get(None, [])]
    while stack:
        unit, path = stack.pop()
        if unit.path != path:
            await unit_repo.set_path(conn, unit.id, path)
        stack.extend((child, f"{path}{child.id}/") for child in by_parent.get(unit.id, []))
