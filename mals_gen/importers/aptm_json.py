"""APTM's processed downstream files: train lists (one record per caption) and test lists.

Train: `{"image", "caption": str, "image_id": person id}` per caption; test/val: `{"image",
"caption": [str, ...], "image_id"}` per image; PA-100K: `{"image", "label": [26 ints]}`. ROOT is
one file or a folder of them; the split comes from the file name (`*train*`, `*val*`, `*test*`)
and the source from its prefix (`cuhk_train.json` -> `aptm-cuhk`). Records of the same image
are merged into one sample holding all its captions.
"""
from __future__ import annotations

import re
from pathlib import Path

from ..contract import NUM_PA100K_ATTRIBUTES
from ..errors import UserError
from .common import Fields, Record, load_json_list, make_key

_SPLIT_WORD = re.compile(r"(train|val|test)")


def _split_and_source(path: Path) -> tuple[str, str]:
    match = _SPLIT_WORD.search(path.stem)
    if not match:
        raise UserError(f"{path}: cannot tell the split from the file name; name it like cuhk_train.json, "
                        "cuhk_val.json or cuhk_test.json")
    prefix = path.stem[:match.start()].strip("_-") or "data"
    return match.group(1), f"aptm-{prefix}"


def _read_file(path: Path, images_root: Path) -> list[Record]:
    split, source = _split_and_source(path)
    by_image: dict[str, Record] = {}
    for i, raw in enumerate(load_json_list(path)):
        f = Fields(path, i, raw, "APTM processed json")
        rel = f.text("image")
        if "label" in f.record:
            labels = f.labels("label", NUM_PA100K_ATTRIBUTES, (0, 1))
            rec = Record(make_key(source, rel), images_root / rel, [], f"{source}:{rel}", rel, split,
                         source, f.where, pa100k_attrs=labels)
            if rel in by_image:
                raise UserError(f"{f.where}: image {rel} is listed twice; remove the repeated record")
            by_image[rel] = rec
            continue
        captions = f.captions("caption")
        person = f"{source}:{f.ident('image_id')}"
        rec = by_image.get(rel)
        if rec is None:
            by_image[rel] = Record(make_key(source, rel), images_root / rel, captions, person, rel, split,
                                   source, f.where)
        elif rec.person_id != person:
            raise UserError(f"{f.where}: image {rel} is person {person} here but {rec.person_id} in {rec.where}")
        else:
            rec.captions.extend(c for c in captions if c not in rec.captions)
    return list(by_image.values())


def read_records(root: Path, images: Path | None) -> tuple[list[Record], Path, Path]:
    files = [root] if root.is_file() else sorted(root.glob("*.json"))
    if not files:
        raise UserError(f"{root}: no *.json files; pass APTM's processed json file(s)")
    images_root = images or files[0].parent
    records = [r for path in files for r in _read_file(path, images_root)]
    return records, files[0], images_root
