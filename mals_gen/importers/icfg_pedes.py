"""ICFG-PEDES: `ICFG-PEDES.json` (or `ICFG_PEDES.json`) with CUHK-PEDES's record schema.

Image folders under `imgs/` are named `train/` and `test/` but do not match the split field;
the split field rules, as in the released evaluation code.
"""
from __future__ import annotations

from pathlib import Path

from .common import Record, find_file
from .cuhk_pedes import read_pedes_json

SOURCE = "icfg-pedes"


def read_records(root: Path, images: Path | None) -> tuple[list[Record], Path, Path]:
    annotation = find_file(root, ("ICFG-PEDES.json", "ICFG_PEDES.json"), "ICFG-PEDES")
    images_root = images or annotation.parent / "imgs"
    return read_pedes_json(annotation, images_root, SOURCE, "ICFG-PEDES"), annotation, images_root
