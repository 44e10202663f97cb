"""Image bytes for a shard sample: JPEG passthrough when nothing changes, else crop/resize/encode.

Passthrough (the source is a JPEG and neither a crop nor a resize is needed) copies the bytes
untouched: no decode, no generation loss, and the speed of a plain copy. Otherwise the image is
cropped to the person box `(x0, y0, x1, y1)` in pixels (clamped to the image), resized to the
target height keeping the person's aspect, and encoded as baseline JPEG at the given quality
(deterministic: same input, same bytes).
"""
from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True)
class ImageSpec:
    crop: bool = True            # crop to the person box when the sample has one
    height: int | None = 384     # target height in pixels (width follows the aspect); None = native
    upscale: bool = False        # also enlarge images smaller than `height`
    quality: int = 95            # JPEG quality when (re-)encoding


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    width: int
    height: int
    reencoded: bool


def clamp_box(box, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The box clamped to the image, or None when it is missing, degenerate or the whole image."""
    if box is None or len(box) != 4:
        return None
    x0, y0, x1, y1 = (int(v) for v in box)
    x0, x1 = max(0, min(x0, width)), max(0, min(x1, width))
    y0, y1 = max(0, min(y0, height)), max(0, min(y1, height))
    if x1 - x0 < 2 or y1 - y0 < 2 or (x0, y0, x1, y1) == (0, 0, width, height):
        return None
    return x0, y0, x1, y1


def target_size(width: int, height: int, spec: ImageSpec) -> tuple[int, int]:
    """(width, height) after the resize rule; unchanged when no resize applies."""
    if not spec.height or height == spec.height or (height < spec.height and not spec.upscale):
        return width, height
    new_w = max(1, round(width * spec.height / height))
    return new_w, spec.height


def prepare_image(data: bytes, box, spec: ImageSpec) -> PreparedImage:
    """Turn source image bytes into the shard's JPEG bytes (see the module docstring)."""
    img = Image.open(io.BytesIO(data))  # lazy: reads the header only, until pixels are needed
    width, height = img.size
    crop = clamp_box(box, width, height) if spec.crop else None
    cw, ch = (crop[2] - crop[0], crop[3] - crop[1]) if crop else (width, height)
    out_w, out_h = target_size(cw, ch, spec)
    if crop is None and (out_w, out_h) == (width, height) and data[:3] == JPEG_MAGIC:
        return PreparedImage(data, width, height, reencoded=False)
    img = img.convert("RGB")
    if crop is not None:
        img = img.crop(crop)
    if (out_w, out_h) != img.size:
        img = img.resize((out_w, out_h), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=spec.quality)
    return PreparedImage(buf.getvalue(), out_w, out_h, reencoded=True)
