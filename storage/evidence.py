"""Photo evidence: content-addressed files on disk and their rows in ``evidence``.

A file's name is the SHA-256 of its bytes, never anything a user sent, and it lives in
``<root>/<first two hex digits>/<sha256>``; the path is built only from a validated hash
and always resolves inside the root. Files are written to a temporary name, flushed to
disk and renamed, so a crash never leaves half a photo under a real name; writing the
same bytes twice is a no-op.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from storage.db import Connection, fetch_all, fetch_one
from storage.times import from_text, from_text_or_none, to_text, to_text_or_none

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class EvidenceFiles:
    """The evidence folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()

    def path_for(self, sha256: str) -> Path:
        if not _SHA256.fullmatch(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        path = (self.root / sha256[:2] / sha256).resolve()
        if not path.is_relative_to(self.root):  # pragma: no cover - the regex forbids it
            raise ValueError("evidence path escapes its folder")
        return path

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def write(self, sha256: str, data: bytes) -> Path:
        """Store ``data`` (whose digest the caller computed) under its hash."""
        path = self.path_for(sha256)
        if path.is_file() and path.stat().st_size == len(data):
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".incoming-")
        try:
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return path

    def read(self, sha256: str) -> bytes:
        return self.path_for(sha256).read_bytes()


@dataclass(frozen=True)
class Evidence:
    sha256: str
    size: int
    format: str
    width: int
    height: int
    phash: str
    taken_at: datetime | None
    gps_lat: float | None
    gps_lon: float | None
    created_at: datetime


async def insert(conn: Connection, evidence: Evidence) -> None:
    """Record a file; a file already known keeps its first row."""
    await conn.execute(
        "INSERT INTO evidence (sha256, size, format, width, height, phash, taken_at, "
        "gps_lat, gps_lon, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
        "ON CONFLICT (sha256) DO NOTHING",
        (
            evidence.sha256,
            evidence.size,
            evidence.format,
            evidence.width,
            evidence.height,
            evidence.phash,
            to_text_or_none(evidence.taken_at),
            evidence.gps_lat,
            evidence.gps_lon,
            to_text(evidence.created_at),
        ),
    )


async def get(conn: Connection, sha256: str) -> Evidence | None:
    row = await fetch_one(conn, "SELECT * FROM evidence WHERE sha256 = ?", (sha256,))
    if row is None:
        return None
    data = dict(row)
    data["taken_at"] = from_text_or_none(data["taken_at"])
    data["created_at"] = from_text(data["created_at"])
    return Evidence(**data)


async def phashes(conn: Connection, sha256s: list[str]) -> list[str]:
    """The perceptual hashes of these files (those recorded), in one query."""
    marks = ",".join("?" * len(sha256s))
    rows = await fetch_all(conn, f"SELECT phash FROM evidence WHERE sha256 IN ({marks})", sha256s)
    return [row["phash"] for row in rows]


async def submitted_hashes(conn: Connection) -> list[tuple[str, int]]:
    """(phash, first report id) of every distinct file in a submitted report."""
    rows = await fetch_all(
        conn,
        "SELECT e.phash, MIN(p.report_id) AS report_id "
        "FROM report_photo p JOIN evidence e ON e.sha256 = p.sha256 GROUP BY e.sha256",
    )
    return [(row["phash"], row["report_id"]) for row in rows]
