"""Test photos: distinct, structured pictures (so perceptual hashes mean something),
re-compressed and resized copies, and files with EXIF capture time and GPS."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw


def picture(seed: int, size: tuple[int, int] = (640, 480)) -> Image.Image:
    rng = random.Random(seed)
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(image)
    width, height = size
    for _ in range(12):
        x0, y0 = rng.randrange(width), rng.randrange(height)
        x1, y1 = x0 + rng.randrange(40, width // 2), y0 + rng.randrange(40, height // 2)
        shape = draw.ellipse if rng.random() < 0.5 else draw.rectangle
        shape((x0, y0, x1, y1), fill=tuple(rng.randrange(256) for _ in range(3)))
    return image


def jpeg(image: Image.Image, quality: int = 90, exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=quality, **({"exif": exif} if exif is not None else {}))
    return out.getvalue()


def photo(seed: int) -> bytes:
    """A distinct JPEG photo for each seed."""
    return jpeg(picture(seed))


def recompressed(data: bytes, quality: int = 35, scale: float = 0.7) -> bytes:
    """The same picture, smaller and at a lower JPEG quality: other bytes, same look."""
    image = Image.open(io.BytesIO(data))
    small = image.resize((int(image.width * scale), int(image.height * scale)))
    return jpeg(small, quality)


def with_exif(seed: int, taken: str, lat: float, lon: float) -> bytes:
    """A JPEG carrying EXIF DateTimeOriginal (``YYYY:MM:DD HH:MM:SS``) and GPS."""

    def dms(value: float) -> tuple[float, float, float]:
        value = abs(value)
        degrees = int(value)
        minutes = int((value - degrees) * 60)
        return (float(degrees), float(minutes), round(((value - degrees) * 60 - minutes) * 60, 4))

    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = taken
    gps = exif.get_ifd(0x8825)
    gps[1], gps[2] = ("N" if lat >= 0 else "S"), dms(lat)
    gps[3], gps[4] = ("E" if lon >= 0 else "W"), dms(lon)
    return jpeg(picture(seed), exif=exif)


def png(seed: int) -> bytes:
    out = io.BytesIO()
    picture(seed, (320, 240)).save(out, "PNG")
    return out.getvalue()


def mpo(seed: int, exif: Image.Exif | None = None) -> bytes:
    """A phone-style JPEG with a second picture in an MPF block (Pillow reads it as MPO)."""
    out = io.BytesIO()
    extra = {"exif": exif} if exif is not None else {}
    picture(seed).save(out, "MPO", save_all=True, append_images=[picture(seed + 1)], **extra)
    return out.getvalue()


def with_capture_time(seed: int, taken: str, offset: str | None = None) -> bytes:
    """A JPEG whose EXIF DateTimeOriginal is ``taken`` (and OffsetTimeOriginal ``offset``)."""
    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = taken
    if offset is not None:
        exif.get_ifd(0x8769)[36881] = offset
    return jpeg(picture(seed), exif=exif)
