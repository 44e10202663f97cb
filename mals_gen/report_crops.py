"""The report's person-crops section: source images with their crop boxes, crops with keypoints.

For an import with `--detect-persons` every crop knows its source file and box (generate manifest);
the source is drawn with all its boxes and scores, then each crop with the pose model's keypoints
when the filter ran one. Returns the PNG's name for `report.py` (None when the run has no crops).
"""
from __future__ import annotations

from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from .contact_sheet import save_contact_sheet
from .filter.checks import LIMB_PAIRS
from .tario import PartTars

MAX_SOURCES = 8
MAX_CROPS_SHOWN = 24
THUMB_HEIGHT = 256
TORSO = ((5, 6), (11, 12), (5, 11), (6, 12))


def _listed(value) -> list | None:
    return None if value is None or isinstance(value, float) else list(value)


def _source_cell(ref: str, rows: pd.DataFrame) -> tuple[Image.Image, str] | None:
    from .images_import.sources import SourceReader

    reader = SourceReader()
    try:
        image = Image.open(BytesIO(reader.read(ref))).convert("RGB")
    except OSError:
        return None   # the source moved or changed since the import: show the crops only
    finally:
        reader.close()
    draw = ImageDraw.Draw(image)
    width = max(2, image.height // 60)   # still visible once the source is shrunk to a thumbnail
    for _, row in rows.iterrows():
        box = [int(v) for v in row["source_box"]]
        draw.rectangle(box, outline=(230, 0, 0), width=width)
        draw.text((box[0] + 4, box[1] + 4), f"{row['detect_score']:.2f}", fill=(255, 255, 0))
    image.thumbnail((THUMB_HEIGHT * 2, THUMB_HEIGHT))
    return image, f"{Path(ref.split('::')[-1]).name}: {len(rows)} crop(s)"


def draw_keypoints(image: Image.Image, keypoints, min_score: float = 0.3) -> None:
    """Visible keypoints as dots, joined by the limb and torso segments whose ends are both visible."""
    kp = np.asarray(keypoints, dtype=np.float32).reshape(-1, 3)
    draw = ImageDraw.Draw(image)
    segments = [seg for pair in LIMB_PAIRS for seg in pair] + list(TORSO)
    for a, b in segments:
        if kp[a, 2] >= min_score and kp[b, 2] >= min_score:
            draw.line([tuple(kp[a, :2]), tuple(kp[b, :2])], fill=(0, 200, 255), width=2)
    for x, y, s in kp:
        if s >= min_score:
            draw.ellipse([x - 2, y - 2, x + 2, y + 2], fill=(255, 60, 200))


def _crop_cell(tars: PartTars, row) -> tuple[Image.Image, str]:
    image = Image.open(BytesIO(tars.read(row["image_path"], row["image_member"]))).convert("RGB")
    keypoints = _listed(row.get("keypoints"))
    if keypoints is not None:
        draw_keypoints(image, keypoints)
    reason = row.get("reason")
    return image, f"{row['key']}" + (f" [{reason}]" if isinstance(reason, str) and reason != "ok" else "")


def crops_figure(run: Path, frame: pd.DataFrame, path: Path) -> str | None:
    """Source images with their boxes, then the crops (keypoints drawn); the PNG's name or None."""
    if "source_box" not in frame:
        return None
    crops = frame[frame["source_box"].map(lambda v: _listed(v) is not None) & (frame["status"] == "ok")]
    if crops.empty:
        return None
    items = []
    for ref, rows in list(crops.groupby("source_image", sort=True))[:MAX_SOURCES]:
        cell = _source_cell(ref, rows)
        if cell is not None:
            items.append(cell)
    with PartTars(run) as tars:
        items += [_crop_cell(tars, row) for _, row in crops.head(MAX_CROPS_SHOWN).iterrows()]
    save_contact_sheet(path, items, columns=8, title="person crops: source boxes (red, detector score), "
                                                      "crops with keypoints")
    return path.name
