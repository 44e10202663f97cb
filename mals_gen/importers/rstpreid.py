"""RSTPReid: `data_captions.json` (id, img_path under imgs/, captions, split) -> records."""
from __future__ import annotations

from pathlib import Path

from .common import Fields, Record, find_file, load_json_list, make_key

SOURCE = "rstpreid"


def read_records(root: Path, images: Path | None) -> tuple[list[Record], Path, Path]:
    annotation = find_file(root, ("data_captions.json",), "RSTPReid")
    images_root = images or annotation.parent / "imgs"
    records = []
    for i, raw in enumerate(load_json_list(annotation)):
        f = Fields(annotation, i, raw, "RSTPReid")
        rel = f.text("img_path")
        records.append(Record(
            key=make_key(SOURCE, rel), image=images_root / rel, captions=f.captions("captions"),
            person_id=f"{SOURCE}:{f.ident('id')}", image_id=rel, split=f.split("split"),
            source=SOURCE, where=f.where))
    return records, annotation, images_root
