"""Tiny WebDataset shard folders for the trainer's tests (tests/test_data.py, tests/test_train.py).

Written with webdataset.TarWriter in the shard layout of BRIEF.md: KEY.jpg, KEY.txt, KEY.json per
sample, plus sizes.json and manifest.parquet (SHARD_MANIFEST_SCHEMA). Each image is flat noise
tinted by its upper-clothes colour, and the caption names that colour, so a model can learn.
"""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import webdataset as wds
from PIL import Image

from mals_gen.contract import NUM_MALS_ATTRIBUTES, SHARD_MANIFEST_SCHEMA, UPPER_COLOUR_SLOTS, UPPER_COLOURS

RGB = {"black": (20, 20, 20), "white": (235, 235, 235), "red": (220, 30, 30), "purple": (130, 40, 160),
       "yellow": (230, 220, 40), "blue": (30, 60, 220), "green": (30, 170, 60), "gray": (128, 128, 128)}


def split_of(i: int) -> str:
    return {8: "val", 9: "test"}.get(i % 10, "train")


def sample(i: int, size=(48, 16), with_attrs=True, source="mals-sketch") -> tuple[bytes, dict]:
    colour = UPPER_COLOURS[i % len(UPPER_COLOURS)]
    rng = np.random.default_rng(i)
    h, w = size
    pixels = rng.integers(0, 40, (h, w, 3)) + np.array(RGB[colour]) * 0.8
    buf = io.BytesIO()
    Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(buf, format="JPEG", quality=90)
    captions = [f"a person wearing {colour} upper clothes and dark pants"]
    if i % 2:
        captions.append(f"the pedestrian has a {colour} shirt")
    attrs = [1] * NUM_MALS_ATTRIBUTES
    attrs[UPPER_COLOUR_SLOTS[colour]] = 0
    key = f"s_{i:09d}"
    meta = {"key": key, "captions": captions, "attrs": attrs if with_attrs else None,
            "attr_source": "test", "prompt": captions[0], "person_id": f"p{i // 2}", "image_id": key,
            "split": split_of(i), "source": source, "scores": {}, "provenance": {}}
    return buf.getvalue(), meta


def write_shards(folder: Path, n: int = 40, per_tar: int = 10, *, with_attrs: bool = True, size=(48, 16),
                 source: str = "mals-sketch") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rows, sizes = [], {}
    for t, start in enumerate(range(0, n, per_tar)):
        name = f"{t:06d}.tar"
        with wds.TarWriter(str(folder / name)) as sink:
            for i in range(start, min(n, start + per_tar)):
                jpg, meta = sample(i, size, with_attrs, source)
                sink.write({"__key__": meta["key"], "jpg": jpg, "txt": meta["captions"][0],
                            "json": json.dumps(meta).encode()})
                rows.append({"key": meta["key"], "shard": name, "split": meta["split"],
                             "caption": meta["captions"][0], "captions": meta["captions"], "attrs": meta["attrs"],
                             "person_id": meta["person_id"], "image_id": meta["image_id"], "source": source,
                             "width": size[1], "height": size[0]})
        sizes[name] = min(n, start + per_tar) - start
    pq.write_table(pa.Table.from_pylist(rows, schema=SHARD_MANIFEST_SCHEMA), folder / "manifest.parquet")
    (folder / "sizes.json").write_text(json.dumps(sizes))
    return folder


def train_keys(n: int) -> set[str]:
    """Every training pair's id ("KEY#caption") of a `write_shards(n=n)` folder."""
    return {f"s_{i:09d}#{j}" for i in range(n) if split_of(i) == "train" for j in range(1 + i % 2)}
