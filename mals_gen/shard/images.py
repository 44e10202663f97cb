"""Image bytes for a shard sample: JPEG passthrough when nothing changes, else crop/resize/encode.

Passthrough (the source is a JPEG and neither a crop nor a resize is needed) copies the bytes
untouched after a fast 1/8-scale decode check (`decode_problem`): no generation loss, and a
fraction of a full decode. Otherwise the image is
cropped to the person box `(x0, y0, x1, y1)` in pixels (clamped to the image), resized to the
target height keeping the person's aspect, and encoded as baseline JPEG at the given quality
(deterministic: same input, same bytes).
"""
from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass

from PIL import Image

JPEG_MAGIC = b"\xff\xd8\xff"
# What PIL raises for bytes it cannot decode: truncated (OSError), not an image
# (UnidentifiedImageError, an OSError), damaged headers (SyntaxError, ValueError, EOFError ...).
DECODE_ERRORS = (OSError, ValueError, SyntaxError, EOFError, IndexError, struct.error, Image.DecompressionBombError)


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


def decode_problem(data: bytes, *, fast: bool = True) -> str | None:
    """Why `data` does not decode as an image, or None when it does.

    `fast` decodes JPEGs at 1/8 scale (libjpeg's DCT scaling): every byte of the entropy-coded
    data is still read, so a truncated or garbled file fails, at a fraction of a full decode.
    The shard writer and plain `mals verify` use `fast`; `mals verify --decode` decodes fully.
    """
    try:
        with Image.open(io.BytesIO(data)) as img:
            if fast and img.format == "JPEG":
                img.draft("RGB", (max(1, img.width // 8), max(1, img.height // 8)))
            img.load()
    except DECODE_ERRORS as err:
        return decode_reason(err)
    return None


def decode_reason(err: BaseException) -> str:
    """One line for a decode failure (PIL's messages name a BytesIO object: dropped)."""
    text = str(err)
    if text.startswith("image does not decode"):
        return text
    text = re.sub(r"\s*<_io\.BytesIO object at 0x[0-9a-f]+>", "", text)
    return f"image does not decode ({type(err).__name__}: {text})" if text else f"image does not decode ({type(err).__name__})"


def prepare_image(data: bytes, box, spec: ImageSpec) -> PreparedImage:
    """Turn source image bytes into the shard's JPEG bytes (see the module docstring).

    Raises one of DECODE_ERRORS when the bytes are not a decodable image; a passthrough copy is
    decode-checked too (`decode_problem`), so no shard ever holds an image that does not decode.
    """
    size = jpeg_size(data)
    img = None
    if size is None:  # not a JPEG (PNG ...) or an odd one: let PIL read the header
        img = Image.open(io.BytesIO(data))
        size = img.size
    width, height = size
    crop = clamp_box(box, width, height) if spec.crop else None
    cw, ch = (crop[2] - crop[0], crop[3] - crop[1]) if crop else (width, height)
    out_w, out_h = target_size(cw, ch, spec)
    if crop is None and (out_w, out_h) == (width, height) and img is None:
        problem = decode_problem(data)
        if problem:
            raise OSError(problem)
        return PreparedImage(data, width, height, reencoded=False)
    img = (img or Image.open(io.BytesIO(data))).convert("RGB")
    if crop is not None:
        img = img.crop(crop)
    if (out_w, out_h) != img.size:
        img = img.resize((out_w, out_h), Image.Resampling.BICUBIC)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=spec.quality)
    return PreparedImage(buf.getvalue(), out_w, out_h, reencoded=True)


_SOF = {0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a JPEG's start-of-frame marker, without decoding; None if not found.

    Walking the markers is ~50x faster than `PIL.Image.open`, which matters for passthrough.
    """
    if data[:3] != JPEG_MAGIC:
        return None
    pos, end = 2, len(data) - 9
    while pos < end:
        if data[pos] != 0xFF:
            return None
        marker = data[pos + 1]
        if marker == 0xFF:          # fill byte
            pos += 1
            continue
        if marker in (0xD8, 0x01) or 0xD0 <= marker <= 0xD7:  # markers without a length
            pos += 2
            continue
        if marker in _SOF:
            height = int.from_bytes(data[pos + 5:pos + 7], "big")
            width = int.from_bytes(data[pos + 7:pos + 9], "big")
            return (width, height) if width and height else None
        pos += 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
    return None
