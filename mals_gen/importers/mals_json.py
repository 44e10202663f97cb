"""MALS as released with APTM: JSON lists of {image, caption, image_id, label (27 ints)}.

ROOT is one such file or a folder of them (`*.json`, read in name order). Image paths are
relative to the MALS image root (`--images`; default: the folder of the JSON files). MALS is a
pre-training set: every image goes to the train split and is its own person.
"""
from __future__ import annotations

from pathlib import Path

from ..contract import NUM_MALS_ATTRIBUTES
from ..errors import UserError
from .common import Fields, Record, load_json_list, make_key

SOURCE = "mals"


def json_files(root: Path) -> list[Path]:
    if root.is_file():
        return [root]
    files = sorted(root.glob("*.json"))
    if not files:
        raise UserError(f"{root}: no *.json files; pass a MALS json file or the folder of *_attrs.json files")
    return files


def read_records(root: Path, images: Path | None) -> tuple[list[Record], Path, Path]:
    files = json_files(root)
    images_root = images or files[0].parent
    records = []
    for path in files:
        for i, raw in enumerate(load_json_list(path)):
            f = Fields(path, i, raw, "MALS json")
            rel = f.text("image")
            records.append(Record(
                key=make_key(SOURCE, rel), image=images_root / rel, captions=f.captions("caption"),
                person_id=f"{SOURCE}:{f.ident('image_id')}", image_id=f.ident("image_id"), split="train",
                source=SOURCE, where=f.where,
                attrs=f.labels("label", NUM_MALS_ATTRIBUTES, (0, 1, -1))))
    return records, files[0], images_root
