"""Contact sheets: a grid of thumbnails, each with a few lines of wrapped text under it.

Used by `mals inspect`, `mals report` and the sketch gallery, so every picture of samples looks alike.
"""
from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

_FONT_CANDIDATES = ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def _font(size: int) -> ImageFont.ImageFont:
    for name in _FONT_CANDIDATES:
        try:
            return ImageFont.truetype(name, size)
        except OSError:
            continue
    return ImageFont.load_default(size=size)


def contact_sheet(items: Sequence[tuple[Image.Image, str]], columns: int = 8, thumb: tuple[int, int] = (192, 96),
                  text_lines: int = 7, font_size: int = 11, title: str | None = None) -> Image.Image:
    """Grid of (image, caption) pairs; `thumb` is (height, width) of each image cell."""
    th, tw = thumb
    font = _font(font_size)
    line_h = font_size + 3
    cell_w = tw + 96  # text wider than the person-shaped thumbnail stays readable
    chars = max(12, int(cell_w / (font_size * 0.55)))
    thumbs = []
    for image, _ in items:
        im = image.convert("RGB")
        im.thumbnail((tw, th))
        thumbs.append(im)
    # text starts under the tallest thumbnail actually drawn, not under the empty rest of `thumb`
    th = max((im.height for im in thumbs), default=th)
    cell_h = th + text_lines * line_h + 8
    rows = max(1, -(-len(items) // columns))
    top = 28 if title else 0
    sheet = Image.new("RGB", (columns * cell_w, top + rows * cell_h), "white")
    draw = ImageDraw.Draw(sheet)
    if title:
        draw.text((8, 6), title, fill="black", font=_font(font_size + 5))
    for i, (im, (_, text)) in enumerate(zip(thumbs, items)):
        x, y = (i % columns) * cell_w, top + (i // columns) * cell_h
        sheet.paste(im, (x + (cell_w - im.width) // 2, y + 2))
        lines = textwrap.wrap(text, chars)[:text_lines]
        for j, line in enumerate(lines):
            draw.text((x + 4, y + th + 4 + j * line_h), line, fill=(30, 30, 30), font=font)
    return sheet


def save_contact_sheet(path: str | Path, items: Sequence[tuple[Image.Image, str]], **kwargs) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    contact_sheet(items, **kwargs).save(path)
    return path
