"""CUHK-PEDES: `reid_raw.json` (split, captions, file_path under imgs/, id) -> records.

ICFG-PEDES has the same record schema and reuses `read_pedes_json`.
"""
from __future__ import annotations

from pathlib import Path

from .common import Fields, Record, find_file, load_json_list, make_key

SOURCE = "cuhk-pedes"


def read_pedes_json(annotation: Path, images_root: Path, source: str, dataset: str) -> list[Record]:
    """Records of a `reid_raw.json`-style list: split, captions, file_path, id."""
    records = []
    for i, raw in enumerate(load_json_list(annotation)):
        f = Fields(annotation, i, raw, dataset)
        rel = f.text("file_path")
        records.append(Record(
            key=make_key(source, rel), image=images_root / rel, captions=f.captions("captions"),
            person_id=f"{source}:{f.ident('id')}", image_id=rel, split=f.split("split"),
            source=source, where=f.where))
    return records


def read_records(root: Path, images: Path | None) -> tuple[list[Record], Path, Path]:
    annotation = find_file(root, ("reid_raw.json",), "CUHK-PEDES")
    images_root = images or annotation.parent / "imgs"
    return read_pedes_json(annotation, images_root, SOURCE, "CUHK-PEDES"), annotation, images_root
