"""Keeping a photo as evidence: read it, write it under its hash, record it.

Shared by reports and tips. ``keep`` does the slow parts (decoding, writing the file)
outside any transaction; ``record`` adds the row inside the caller's transaction — so
the file always exists before a row points at it.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.core.errors import Refused
from bot.formats import images
from storage import evidence as evidence_repo
from storage.db import Connection
from storage.evidence import Evidence, EvidenceFiles


class EvidenceStore:
    def __init__(self, files: EvidenceFiles, zone: ZoneInfo) -> None:
        self.files = files
        self.zone = zone

    async def keep(self, data: bytes) -> images.ImageFacts:
        """Inspect and store the bytes; ``Refused`` ('report.not_an_image' or
        'report.image_too_large') when they are not a photo we accept."""
        try:
            facts = await asyncio.to_thread(images.inspect, data, self.zone)
        except images.NotAnImage as exc:
            raise Refused(
                "report.image_too_large" if exc.reason == "too_large" else "report.not_an_image"
            ) from None
        await asyncio.to_thread(self.files.write, facts.sha256, data)
        return facts

    @staticmethod
    async def record(conn: Connection, facts: images.ImageFacts, now: datetime) -> None:
        """Add the row of a photo ``keep`` stored, first seen at ``now``, in the caller's
        transaction; a photo already recorded keeps its first row."""
        await evidence_repo.insert(
            conn,
            Evidence(
                sha256=facts.sha256,
                size=facts.size,
                format=facts.format,
                width=facts.width,
                height=facts.height,
                phash=facts.phash,
                taken_at=facts.taken_at,
                gps_lat=facts.gps[0] if facts.gps else None,
                gps_lon=facts.gps[1] if facts.gps else None,
                created_at=now,
            ),
        )
