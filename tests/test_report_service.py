"""The report service without Telegram: areas, sites in scope, the images module."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from bot.config import AreaConfig, load_config
from bot.core import geo
from bot.core.access import Role
from bot.core.errors import Refused
from bot.domain.reports import IncomingPhoto
from bot.formats import images
from bot.formats.orgfile import read_org_file
from bot.services import Services
from tests.conftest import EXAMPLE_ORG, add_member, write_config
from tests.photos import photo, png, recompressed

AREAS = """
[[reports.areas]]
unit = "WL-WH-CZ"
centre = [33.0, 112.5]
radius_m = 1000

[[reports.areas]]
unit = "WL-WH-CZ-02"
polygon = [[33.10, 112.60], [33.10, 112.62], [33.12, 112.62], [33.12, 112.60]]
"""


@pytest.fixture
async def city(tmp_path, clock):
    config = load_config(write_config(tmp_path, AREAS))
    services = await Services.open(config, clock=clock)
    await services.org.import_rows(read_org_file(EXAMPLE_ORG), str(EXAMPLE_ORG))
    try:
        yield services
    finally:
        await services.close()


async def _submit(services, member, site, point, seed, message_id):
    reports = services.reports
    opened = await reports.open(member)
    draft = opened.view.draft.id
    await reports.new_site(member, draft, site)
    await reports.choose_status(member, draft, 0)
    await reports.add_photo(
        member, message_id, IncomingPhoto(photo(seed), f"f{seed}", f"u{seed}", False), None
    )
    await reports.photos_done(member, draft)
    if point:
        await reports.set_location(member, draft, *point)
    else:
        await reports.skip_location(member, draft)
    await reports.set_note(member, draft, None)
    return await reports.submit(member, draft)


async def test_a_location_outside_the_units_area_is_flagged(city):
    worker = await add_member(city, 1, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    inside = await _submit(city, worker, "A-1", (33.005, 112.5), 1, 10)
    assert inside.flags == []
    outside = await _submit(city, worker, "A-2", (33.05, 112.5), 2, 11)
    assert [f.kind for f in outside.flags] == ["location"]
    assert outside.flags[0].detail.endswith(" m")
    # Grid 02 has its own polygon, which wins over the community's circle.
    other = await add_member(city, 2, "WL-WH-CZ-02", Role.WORKER, "网格员乙")
    assert (await _submit(city, other, "B-1", (33.11, 112.61), 3, 12)).flags == []
    flagged = await _submit(city, other, "B-2", (33.005, 112.5), 4, 13)
    assert [f.kind for f in flagged.flags] == ["location"]


async def test_sites_outside_scope_cannot_be_reported_on_or_taken(city):
    a = await add_member(city, 1, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    b = await add_member(city, 2, "WL-WH-CZ-02", Role.WORKER, "网格员乙")
    await _submit(city, a, "井-7", None, 1, 10)
    opened = await city.reports.open(b)
    with pytest.raises(Refused) as refused:
        await city.reports.new_site(b, opened.view.draft.id, "井-7")
    assert refused.value.key == "report.site_out_of_scope"
    search = await city.reports.search_sites(b, opened.view.draft.id, "井")
    assert search.matches == []
    # A lead of the community sees both grids' sites.
    lead = await add_member(city, 3, "WL-WH-CZ", Role.LEAD, "社区负责人")
    opened = await city.reports.open(lead)
    found = await city.reports.search_sites(lead, opened.view.draft.id, "井")
    assert [s.code for s in found.matches] == ["井-7"]


def test_difference_hash_sees_copies_and_tells_pictures_apart():
    zone = ZoneInfo("Asia/Shanghai")
    original = images.inspect(photo(1), zone)
    copy = images.inspect(recompressed(photo(1)), zone)
    other = images.inspect(photo(2), zone)
    assert original.sha256 != copy.sha256
    assert images.hash_distance(original.phash, copy.phash) <= 4
    assert images.hash_distance(original.phash, other.phash) > 12
    assert images.inspect(png(3), zone).format == "png"
    for junk in (b"", b"GIF89a", b"%PDF-1.4", b"\xff\xd8\xff\xe0broken"):
        with pytest.raises(images.NotAnImage):
            images.inspect(junk, zone)


def test_geometry():
    assert geo.distance_m((33.0, 112.5), (33.0, 112.5)) == 0
    assert 1100 < geo.distance_m((33.0, 112.5), (33.01, 112.5)) < 1120
    square = [(0.0, 0.0), (0.0, 1.0), (1.0, 1.0), (1.0, 0.0)]
    assert geo.inside_polygon((0.5, 0.5), square)
    assert not geo.inside_polygon((1.5, 0.5), square)
    circle = AreaConfig(unit="X", centre=(33.0, 112.5), radius_m=500)
    assert geo.outside_by(circle, (33.001, 112.5)) is None
    assert geo.outside_by(circle, (33.01, 112.5)) == pytest.approx(612, abs=5)


async def test_evidence_paths_are_built_from_hashes_only(city):
    files = city.reports.files
    with pytest.raises(ValueError):
        files.path_for("../../etc/passwd")
    with pytest.raises(ValueError):
        files.path_for("A" * 64)
    sha = "ab" + "0" * 62
    assert files.path_for(sha).parent.parent == files.root


async def test_report_after_a_draft_expired_drops_it_and_starts_a_new_one(city, clock):
    member = await add_member(city, 3201, "WL-WH-CZ-01", Role.WORKER, "网格员甲")
    first = await city.reports.open(member)
    assert not first.resumed and not first.expired
    again = await city.reports.open(member)
    assert again.resumed and again.view.draft.id == first.view.draft.id
    clock.advance(timedelta(hours=city.config.reports.draft_hours, seconds=1))
    fresh = await city.reports.open(member)
    assert fresh.expired and not fresh.resumed
    assert fresh.view.draft.id > first.view.draft.id and fresh.view.step == "site"
    with pytest.raises(Refused):
        await city.reports.new_site(member, first.view.draft.id, "WL-1")  # the old one is gone
