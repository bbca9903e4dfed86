"""Backups and checks of a gridbot installation: the database and its evidence folder.

Both run from the shell, synchronously, while the bot may be running.

``backup`` writes ``DIR/gridbot-<UTC time>.sqlite3`` with SQLite's online backup API,
then copies into ``DIR/evidence`` (the same ``<2 hex>/<sha256>`` layout) every photo the
copied database refers to that ``DIR`` does not hold yet. Files are content-addressed,
so "not yet there" is decided by name and size; each copied file is hashed on the way
and refused if its bytes do not match its name. A backup therefore never holds a row
whose photo it lacks, and the next run copies only what is new.

``check`` answers "is this installation (or this backup) whole?": ``PRAGMA
integrity_check``, ``PRAGMA foreign_key_check``, every evidence row's file present with
the right size and SHA-256, and files in the folder that no row knows (orphans). A file
is written before the transaction that records it commits, so files younger than
``ORPHAN_GRACE`` are in flight, not orphans.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from storage import maintenance as repo
from storage.db import is_postgres_url
from storage.evidence import EvidenceFiles

ORPHAN_GRACE = timedelta(minutes=10)
_CHUNK = 1 << 20

Progress = Callable[[int, int], None]


@dataclass
class BackupResult:
    database: Path
    database_size: int
    evidence_total: int = 0
    copied: int = 0
    copied_bytes: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def already(self) -> int:
        return self.evidence_total - self.copied - len(self.problems)


@dataclass(frozen=True)
class Problem:
    kind: str  # integrity | foreign_key | missing | damaged | orphan
    text: str


@dataclass
class CheckResult:
    database: Path
    evidence: Path
    schema: int = 0
    files_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def backup(
    database: Path | str,
    evidence: Path,
    target: Path,
    *,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> BackupResult:
    """Copy the database and the evidence it refers to into the folder ``target``. A
    PostgreSQL database (a URL) is dumped with ``pg_dump --format=custom`` into
    ``gridbot-<UTC time>.pgdump`` (restore it with ``pg_restore``, README)."""
    target.mkdir(parents=True, exist_ok=True)
    # Fixed width, so names sort in time order; microseconds, so two runs never collide.
    stamp = (now or datetime.now(UTC)).astimezone(UTC).strftime("%Y%m%d-%H%M%S-%f")
    suffix = "pgdump" if is_postgres_url(database) else "sqlite3"
    final = target / f"gridbot-{stamp}.{suffix}"
    if final.exists():
        raise FileExistsError(errno.EEXIST, "a backup of that moment exists", str(final))
    partial = target / f".gridbot-{stamp}.{suffix}.partial"
    partial.unlink(missing_ok=True)
    try:
        if is_postgres_url(database):
            _pg_dump(str(database), partial)
        else:
            repo.backup(Path(database), partial)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    result = BackupResult(final, final.stat().st_size)

    source = EvidenceFiles(evidence)
    copies = EvidenceFiles(target / "evidence")
    # the dump's evidence rows are among those the database has now (rows only grow)
    conn = repo.connect(database if is_postgres_url(database) else final)
    try:
        result.evidence_total = repo.evidence_count(conn)
        for done, (sha256, size) in enumerate(repo.evidence_files(conn), 1):
            there = copies.path_for(sha256)
            if not (there.is_file() and there.stat().st_size == size):
                problem = _copy(source.path_for(sha256), copies, sha256)
                if problem:
                    result.problems.append(problem)
                else:
                    result.copied += 1
                    result.copied_bytes += size
            if progress:
                progress(done, result.evidence_total)
    finally:
        conn.close()
    return result


class DumpError(Exception):
    """pg_dump is missing or failed."""


def _pg_dump(url: str, out: Path) -> None:
    """A consistent snapshot of the deployment (one transaction, as pg_dump always
    takes), in its custom format: its schema only — a deployment may be one schema of a
    database that others share (their tables neither dumped nor locked)."""
    from storage.postgres import connect_sync

    with connect_sync(url) as conn:
        schema = conn.execute("SELECT current_schema()").fetchone()[0]
    program = shutil.which("pg_dump") or next(
        (str(p) for p in sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"))), None
    )
    if program is None:
        raise DumpError("pg_dump not found: install the PostgreSQL client (postgresql-client)")
    done = subprocess.run(
        [
            program,
            "--format=custom",
            "--no-owner",
            f"--schema={schema}",
            f"--file={out}",
            f"--dbname={url}",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise DumpError(f"pg_dump failed: {done.stderr.strip()}")


def _copy(source: Path, copies: EvidenceFiles, sha256: str) -> str | None:
    """Copy one evidence file, verifying its hash; a problem's description, or None."""
    try:
        data = source.read_bytes()
    except FileNotFoundError:
        return f"missing in the evidence folder, not copied: {source}"
    if hashlib.sha256(data).hexdigest() != sha256:
        return f"damaged (content does not match its name), not copied: {source}"
    copies.write(sha256, data)
    return None


def check(
    database: Path | str,
    evidence: Path,
    *,
    hashes: bool = True,
    now: datetime | None = None,
    progress: Progress | None = None,
) -> CheckResult:
    """Everything wrong with a database and its evidence folder (``hashes=False`` checks
    sizes only, which is much faster on a large folder)."""
    result = CheckResult(database if is_postgres_url(database) else Path(database), Path(evidence))
    files = EvidenceFiles(evidence)
    conn = repo.connect(database)
    try:
        result.schema = repo.schema_version(conn)
        for line in repo.integrity_problems(conn):
            result.problems.append(Problem("integrity", f"integrity_check: {line}"))
        for table, rowid, parent in repo.foreign_key_problems(conn):
            result.problems.append(
                Problem("foreign_key", f"{table} row {rowid} refers to a missing {parent} row")
            )
        known: set[str] = set()
        total = repo.evidence_count(conn)
        for done, (sha256, size) in enumerate(repo.evidence_files(conn), 1):
            known.add(sha256)
            problem = _check_file(files, sha256, size, hashes)
            if problem:
                uses = ", ".join(repo.evidence_uses(conn, sha256)) or "no report or tip"
                result.problems.append(Problem(problem[0], f"{problem[1]} (used by {uses})"))
            result.files_checked = done
            if progress:
                progress(done, total)
    finally:
        conn.close()
    cutoff = (now or datetime.now(UTC)) - ORPHAN_GRACE
    for path in _orphans(files.root, known, cutoff):
        result.problems.append(Problem("orphan", f"orphaned file (no row refers to it): {path}"))
    return result


def _check_file(
    files: EvidenceFiles, sha256: str, size: int, hashes: bool
) -> tuple[str, str] | None:
    try:
        path = files.path_for(sha256)
    except ValueError:
        return ("damaged", f"evidence row with an invalid hash {sha256[:80]!r}")
    if not path.is_file():
        return ("missing", f"missing evidence file: {path}")
    if path.stat().st_size != size:
        return ("damaged", f"evidence file of the wrong size: {path}")
    if hashes and sha256_of(path) != sha256:
        return ("damaged", f"evidence file whose content does not match its hash: {path}")
    return None


def _orphans(root: Path, known: set[str], cutoff: datetime) -> Iterator[Path]:
    """Files under the folder that no row refers to and that are older than ``cutoff``
    (including temporary files a crash left behind)."""
    if not root.is_dir():
        return
    for folder in sorted(root.iterdir()):
        if not folder.is_dir():
            if _older(folder, cutoff):
                yield folder
            continue
        for path in sorted(folder.iterdir()):
            if path.name in known and folder.name == path.name[:2]:
                continue
            if _older(path, cutoff):
                yield path


def _older(path: Path, cutoff: datetime) -> bool:
    return datetime.fromtimestamp(path.stat().st_mtime, UTC) < cutoff


def newest_backup(folder: Path) -> Path | None:
    """The newest backup in a folder, for ``gridbot check --backup DIR``."""
    found = sorted(folder.glob("gridbot-*.sqlite3"))
    return found[-1] if found else None
