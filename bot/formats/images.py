"""What a photo's bytes say about it: format, size, EXIF capture time and position, and a
perceptual hash for spotting resized or re-compressed copies. Pure functions on bytes.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from PIL import Image, UnidentifiedImageError

# Formats a phone or camera produces that Pillow reads without plugins.
ACCEPTED_FORMATS = frozenset({"JPEG", "PNG", "WEBP"})
# Formats that are one of those with extras: a JPEG carrying more pictures in an MPF block
# (iPhone HDR, Samsung and Fuji cameras), which Pillow calls MPO. Its first frame is the photo.
SAME_AS = {"MPO": "JPEG"}
# EXIF capture times outside this range are a camera clock that was never set or a
# forged value (year 1, year 9999); they are ignored, not stored.
_EARLIEST_CAPTURE = datetime(1900, 1, 1, tzinfo=UTC)
_LATEST_CAPTURE = datetime(9999, 1, 1, tzinfo=UTC)
# Refuse images that would take more than ~200 MB to decode (a decompression bomb).
MAX_PIXELS = 50_000_000

_EXIF_IFD = 0x8769
_GPS_IFD = 0x8825
_DATETIME_ORIGINAL = 36867
_OFFSET_TIME_ORIGINAL = 36881
_DATETIME = 306


class NotAnImage(ValueError):
    """The bytes are not a photo we accept; ``reason`` is 'format' or 'too_large'."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class ImageFacts:
    sha256: str
    size: int
    format: str
    width: int
    height: int
    phash: str
    taken_at: datetime | None
    gps: tuple[float, float] | None


def inspect(data: bytes, zone: ZoneInfo) -> ImageFacts:
    """Read a photo; EXIF times without an offset are taken to be in ``zone``."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            kind = SAME_AS.get(image.format or "", image.format or "")
            if kind not in ACCEPTED_FORMATS:
                raise NotAnImage("format")
            if image.width * image.height > MAX_PIXELS:
                raise NotAnImage("too_large")
            image.load()
    except NotAnImage:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise NotAnImage("too_large") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError):
        raise NotAnImage("format") from None
    taken_at, gps = _exif(image, zone)
    return ImageFacts(
        sha256=hashlib.sha256(data).hexdigest(),
        size=len(data),
        format=kind.lower(),
        width=image.width,
        height=image.height,
        phash=difference_hash(image),
        taken_at=taken_at,
        gps=gps,
    )


def difference_hash(image: Image.Image) -> str:
    """A 64-bit dHash as 16 hex digits: each bit says whether a pixel of a 9×8 grey
    thumbnail is brighter than its right neighbour. Resizing and re-compression keep
    almost all bits; a different picture flips about half."""
    small = image.convert("L").resize((9, 8), Image.Resampling.LANCZOS)
    pixels = small.tobytes()  # one byte per pixel in mode "L"
    bits = 0
    for row in range(8):
        for col in range(8):
            left = pixels[row * 9 + col]
            right = pixels[row * 9 + col + 1]
            bits = (bits << 1) | (left > right)
    return f"{bits:016x}"


def hash_distance(a: str, b: str) -> int:
    """How many of the 64 bits differ."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def _exif(image: Image.Image, zone: ZoneInfo) -> tuple[datetime | None, tuple[float, float] | None]:
    try:
        exif = image.getexif()
        details = exif.get_ifd(_EXIF_IFD)
        gps_ifd = exif.get_ifd(_GPS_IFD)
    except Exception:  # a damaged EXIF block must not cost the photo
        return None, None
    raw_time = details.get(_DATETIME_ORIGINAL) or exif.get(_DATETIME)
    return _exif_time(raw_time, details.get(_OFFSET_TIME_ORIGINAL), zone), _exif_gps(gps_ifd)


def _exif_time(raw: object, offset: object, zone: ZoneInfo) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        local = datetime.strptime(raw.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    tz: timezone | ZoneInfo = zone
    if isinstance(offset, str) and len(offset.strip()) == 6:
        try:
            sign = -1 if offset.strip()[0] == "-" else 1
            hours, minutes = offset.strip()[1:].split(":")
            tz = timezone(sign * timedelta(hours=int(hours), minutes=int(minutes)))
        except ValueError:
            tz = zone
    try:
        moment = local.replace(tzinfo=tz).astimezone(UTC)
    except OverflowError:  # year 1 or 9999 moved past the calendar's end
        return None
    return moment if _EARLIEST_CAPTURE <= moment < _LATEST_CAPTURE else None


def _exif_gps(gps: dict[int, object]) -> tuple[float, float] | None:
    try:
        lat = _degrees(gps[2], gps.get(1, "N"), "S")
        lon = _degrees(gps[4], gps.get(3, "E"), "W")
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return None
    return lat, lon


def _degrees(value: object, ref: object, negative: str) -> float:
    d, m, s = (float(part) for part in value)  # type: ignore[attr-defined]
    degrees = d + m / 60 + s / 3600
    if isinstance(ref, bytes):
        ref = ref.decode(errors="ignore")
    return -degrees if str(ref).strip().upper() == negative else degrees
