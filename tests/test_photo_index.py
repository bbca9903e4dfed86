"""The near-copy photo index gives what a plain loop over every photo gives."""

from __future__ import annotations

import random

from bot.domain.photo_index import PhotoIndex
from bot.formats.images import hash_distance


def _brute(photos: list[tuple[str, int]], phash: str, limit: int) -> tuple[int, int] | None:
    near = [(hash_distance(phash, h), r) for h, r in photos if hash_distance(phash, h) <= limit]
    return min(near) if near else None


def test_nearest_matches_a_plain_loop_past_the_first_growth():
    rng = random.Random(20261123)
    base = [rng.getrandbits(64) for _ in range(40)]
    photos: list[tuple[str, int]] = []
    index = PhotoIndex()
    for report in range(1, 3001):  # several photos near each base picture, and noise
        near = base[report % len(base)] ^ (1 << rng.randrange(64)) ^ (1 << rng.randrange(64))
        value = near if report % 3 else rng.getrandbits(64)
        photos.append((f"{value:016x}", report))
        index.add(f"{value:016x}", report)
    assert len(index) == 3000
    for probe in [*base, *(rng.getrandbits(64) for _ in range(40))]:
        for limit in (0, 3, 6, 10):
            assert index.nearest(f"{probe:016x}", limit) == _brute(photos, f"{probe:016x}", limit)


def test_equally_close_photos_name_the_earliest_report_and_an_empty_index_none():
    index = PhotoIndex()
    assert index.nearest("0" * 16, 64) is None
    index.add("ffffffffffffffff", 9)  # the top bit matters: hashes are unsigned
    index.add("00000000000000ff", 7)
    index.add("00000000000000ff", 5)
    assert index.nearest("00000000000000fe", 6) == (1, 5)
    assert index.nearest("fffffffffffffffe", 1) == (1, 9)
    assert index.nearest("0f0f0f0f0f0f0f0f", 6) is None
