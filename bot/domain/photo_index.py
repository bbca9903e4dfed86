"""The perceptual hashes of every submitted photo, searched for near copies.

Each photo is its 64-bit dHash and the number of the first report that used it, kept
in two numpy arrays: 16 bytes a photo, so a city's million photos take 16 MB, and a
search compares them all at once (XOR, then count the differing bits) in a few
milliseconds instead of a Python loop over a dict.
"""

from __future__ import annotations

import numpy as np

_START = 1024


class PhotoIndex:
    def __init__(self) -> None:
        self._hashes = np.zeros(_START, dtype=np.uint64)
        self._reports = np.zeros(_START, dtype=np.int64)
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, phash: str, report_id: int) -> None:
        """Remember a submitted photo (``phash`` as 16 hex digits)."""
        if self._size == len(self._hashes):
            grown = 2 * len(self._hashes)
            self._hashes = np.resize(self._hashes, grown)
            self._reports = np.resize(self._reports, grown)
        self._hashes[self._size] = int(phash, 16)
        self._reports[self._size] = report_id
        self._size += 1

    def nearest(self, phash: str, limit: int) -> tuple[int, int] | None:
        """(bits that differ, report id) of the closest photo within ``limit`` bits — of
        equally close ones, the earliest report — or None."""
        if not self._size:
            return None
        distances = np.bitwise_count(self._hashes[: self._size] ^ np.uint64(int(phash, 16)))
        near = np.flatnonzero(distances <= limit)
        if not near.size:
            return None
        return min(zip(distances[near].tolist(), self._reports[near].tolist(), strict=True))
