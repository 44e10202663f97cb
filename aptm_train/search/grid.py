"""Search results as a picture: a PNG contact sheet or a self-contained HTML page."""
from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from mals_gen.fsutil import atomic_path

from .index import Gallery, load_images, pil_image
from .search import Hit


def _label(h: Hit) -> str:
    score = f"itm {h.itm:.2f}" if h.itm is not None else f"itc {h.itc:.3f}"
    return f"#{h.rank} {score} {h.item}"


def write_png(path: str | Path, query: str, hits: list[Hit], gallery: Gallery, columns: int = 10) -> Path:
    from mals_gen.contact_sheet import save_contact_sheet

    jpgs = load_images(gallery, [h.index for h in hits])
    items = [(pil_image(jpgs[h.index]), _label(h)) for h in hits]
    return save_contact_sheet(path, items, columns=min(columns, max(1, len(items))), thumb=(192, 64),
                              text_lines=4, title=query)


def write_html(path: str | Path, query: str, hits: list[Hit], gallery: Gallery) -> Path:
    jpgs = load_images(gallery, [h.index for h in hits])
    cells = []
    for h in hits:
        im = pil_image(jpgs[h.index])
        im.thumbnail((96, 256))
        buf = io.BytesIO()
        im.save(buf, format="JPEG", quality=85)
        src = "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()
        cells.append(f"<figure><img src='{src}'><figcaption>{html.escape(_label(h))}</figcaption></figure>")
    page = ("<!doctype html><meta charset='utf-8'><title>search</title><style>body{font-family:sans-serif}"
            "figure{display:inline-block;margin:4px;width:110px;vertical-align:top}"
            "figcaption{font-size:10px;word-break:break-all}</style>"
            f"<h2>{html.escape(query)}</h2>" + "".join(cells))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        tmp.write_text(page)
    return path
