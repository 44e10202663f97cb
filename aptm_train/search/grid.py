"""Search results as pictures: a PNG grid and a self-contained HTML page (images inlined).

Both show the query as the title and, per hit, the image, its rank, its ITM score (when the hit
was re-ranked) and ITC score. A shard gallery also gives each hit's captions and mined attributes
(read from the sample's KEY.json); a folder gallery has neither, so its hits show the file name.
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from pathlib import Path

from mals_gen.contract import describe_mals_attrs
from mals_gen.fsutil import atomic_path

from .index import Gallery, iter_images, iter_samples, pil_image
from .search import Hit

THUMB_H = 224       # px: a person crop stays recognisable; small gallery images are scaled up


@dataclass(frozen=True)
class HitView:
    hit: Hit
    image: object                 # PIL image, THUMB_H high
    name: str                     # file name (folder) or "KEY (split)" (shards)
    captions: tuple[str, ...]
    attrs: str                    # mined attributes in words ("" when none)


def hit_views(gallery: Gallery, hits: list[Hit]) -> list[HitView]:
    wanted = {h.index for h in hits}
    if gallery.kind == "shards":
        samples = dict(iter_samples(gallery, wanted))
        raw = {i: (s.image, f"{s.key} ({s.split})", s.captions, describe_mals_attrs(s.mals_attrs))
               for i, s in samples.items()}
    else:
        raw = {i: (jpg, Path(gallery.items[i]).name, (), "") for i, jpg in iter_images(gallery, wanted)}
    return [HitView(h, _scaled(pil_image(raw[h.index][0])), *raw[h.index][1:]) for h in hits]


def _scaled(im):
    from PIL import Image

    width = max(1, round(im.width * THUMB_H / im.height))
    return im.resize((width, THUMB_H), Image.Resampling.BICUBIC)


def _scores(h: Hit) -> str:
    itm = f"ITM {h.itm:.2f}" if h.itm is not None else "ITM -"
    return f"{itm}  ITC {h.itc:.3f}"


def _tile(v: HitView, width: int):
    """The hit's image with its rank on the corner and its scores in a band beneath, `width` wide."""
    from PIL import Image, ImageDraw

    from mals_gen.contact_sheet import _font

    tile = Image.new("RGB", (width, THUMB_H + 26), "white")
    x = (width - v.image.width) // 2
    tile.paste(v.image, (x, 0))
    draw = ImageDraw.Draw(tile)
    rank, font = f"#{v.hit.rank}", _font(20)
    box = draw.textbbox((0, 0), rank, font=font)
    draw.rectangle((x, 0, x + box[2] + 10, box[3] + 8), fill="black")
    draw.text((x + 5, 3), rank, fill="white", font=font)
    score = _font(15)
    text = _scores(v.hit)
    left = max(0, (width - draw.textlength(text, font=score)) // 2)
    draw.text((left, THUMB_H + 5), text, fill=(20, 20, 20), font=score)
    return tile


def write_png(path: str | Path, query: str, hits: list[Hit], gallery: Gallery, columns: int = 5) -> Path:
    """A grid of the hits, `columns` wide: rank on each image, ITM / ITC beneath, then caption or name."""
    from mals_gen.contact_sheet import save_contact_sheet

    views = hit_views(gallery, hits)
    width = max([200, *(min(v.image.width, 2 * THUMB_H) for v in views)])
    items = [(_tile(v, width), " / ".join(v.captions[:1]) or v.name) for v in views]
    return save_contact_sheet(path, items, columns=min(columns, max(1, len(items))),
                              thumb=(THUMB_H + 26, width), text_lines=4, font_size=14,
                              title=f"\u201c{query}\u201d")


_CSS = ("body{font-family:system-ui,sans-serif;margin:24px;color:#222;background:#fafafa}"
        "h1{font-size:22px;margin:0 0 4px}p.legend{color:#555;margin:0 0 16px;font-size:14px}"
        ".grid{display:flex;flex-wrap:wrap;gap:14px}"
        ".hit{background:#fff;border:1px solid #ddd;border-radius:6px;padding:8px;width:230px}"
        ".hit img{display:block;height:224px;margin:0 auto 6px;image-rendering:auto}"
        ".rank{font-weight:700;font-size:18px}.scores{font-family:monospace;font-size:13px;color:#333}"
        ".name{font-size:12px;color:#777;word-break:break-all}.cap{font-size:13px;margin:4px 0}"
        ".attrs{font-size:12px;color:#35618f}")


def _cell(v: HitView) -> str:
    buf = io.BytesIO()
    v.image.save(buf, format="JPEG", quality=88)
    src = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
    caps = "".join(f"<p class='cap'>{html.escape(c)}</p>" for c in v.captions)
    attrs = f"<div class='attrs'>attributes: {html.escape(v.attrs)}</div>" if v.attrs else ""
    return (f"<div class='hit'><img src='{src}' alt='{html.escape(v.name)}'>"
            f"<span class='rank'>#{v.hit.rank}</span> <span class='scores'>{html.escape(_scores(v.hit))}</span>"
            f"<div class='name'>{html.escape(v.name)}</div>{caps}{attrs}</div>")


def write_html(path: str | Path, query: str, hits: list[Hit], gallery: Gallery) -> Path:
    """One HTML file (images inlined as base64) that reads well opened alone in a browser."""
    cells = "".join(_cell(v) for v in hit_views(gallery, hits))
    legend = (f"{len(hits)} best of {len(gallery.items):,} images in {html.escape(str(gallery.root))}. "
              "ITM: the fusion encoder's match score of the re-ranked candidates (higher = better match; "
              "'-' = not re-ranked). ITC: cosine similarity of the text and image embeddings.")
    page = (f"<!doctype html><html lang='en'><meta charset='utf-8'><title>search: {html.escape(query)}</title>"
            f"<style>{_CSS}</style><h1>\u201c{html.escape(query)}\u201d</h1><p class='legend'>{legend}</p>"
            f"<div class='grid'>{cells}</div></html>\n")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        Path(tmp).write_text(page, encoding="utf-8")
    return path
