"""Is a shared location where the unit's reports are expected? Pure geometry."""

from __future__ import annotations

import math

from bot.config import AreaConfig

EARTH_RADIUS_M = 6_371_008.8


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Great-circle distance between two (latitude, longitude) points, in metres."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def inside_polygon(point: tuple[float, float], polygon: list[tuple[float, float]]) -> bool:
    """Ray casting on (latitude, longitude); fine for a city-sized polygon."""
    lat, lon = point
    inside = False
    for (lat1, lon1), (lat2, lon2) in zip(polygon, polygon[1:] + polygon[:1], strict=True):
        if (lon1 > lon) != (lon2 > lon):
            crossing = lat1 + (lon - lon1) * (lat2 - lat1) / (lon2 - lon1)
            if lat < crossing:
                inside = not inside
    return inside


def outside_by(area: AreaConfig, point: tuple[float, float]) -> float | None:
    """None when ``point`` is within the area; else how far outside it is, in metres
    (for a polygon, the distance to its nearest corner, a fair lower bound to show)."""
    if area.centre is not None and area.radius_m is not None:
        distance = distance_m(area.centre, point)
        return None if distance <= area.radius_m else distance - area.radius_m
    assert area.polygon is not None
    if inside_polygon(point, list(area.polygon)):
        return None
    return min(distance_m(corner, point) for corner in area.polygon)
