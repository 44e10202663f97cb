"""Tiny WebDataset shard folders for the trainer's tests (tests/test_data.py, tests/test_train.py).

Written by the product's shard writer (`mals_gen.shard.dataset.write_dataset`), so they have the
real layout: tars that never mix splits, sizes.json, splits.json, manifest.parquet. Each image is
flat noise tinted by its upper-clothes colour, and the caption names that colour, so a model can learn.
"""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from mals_gen.contract import NUM_MALS_ATTRIBUTES, UPPER_COLOUR_SLOTS, UPPER_COLOURS, ShardSample
from mals_gen.shard.dataset import Sample, write_dataset
from mals_gen.shard.images import ImageSpec

RGB = {"black": (20, 20, 20), "white": (235, 235, 235), "red": (220, 30, 30), "purple": (130, 40, 160),
       "yellow": (230, 220, 40), "blue": (30, 60, 220), "green": (30, 170, 60), "gray": (128, 128, 128)}


def split_of(i: int) -> str:
    return {8: "val", 9: "test"}.get(i % 10, "train")


def sample(i: int, size=(48, 16), with_attrs=True, source="mals-sketch") -> tuple[bytes, ShardSample]:
    """(JPEG bytes, the sample holding them) of sample i; persons are pairs of images (p0, p0, p1, ...)."""
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
    fields = ShardSample(key=f"s_{i:09d}", split=split_of(i), source=source, captions=captions,
                         person_id=f"p{i // 2}", mals_attrs=attrs if with_attrs else None, attr_source="test",
                         prompt=captions[0], image=buf.getvalue())
    return fields.image, fields


def write_samples(folder: Path, samples: list[ShardSample], per_tar: int) -> Path:
    """Write samples (image bytes inside) as a shard folder, images untouched."""
    write_dataset([Sample(s) for s in samples], folder, spec=ImageSpec(crop=False, height=None),
                  samples_per_shard=per_tar, progress=False)
    return folder


def write_shards(folder: Path, n: int = 40, per_tar: int = 10, *, with_attrs: bool = True, size=(48, 16),
                 source: str = "mals-sketch") -> Path:
    return write_samples(folder, [sample(i, size, with_attrs, source)[1] for i in range(n)], per_tar)


def train_keys(n: int) -> set[str]:
    """Every training pair's id ("KEY#caption") of a `write_shards(n=n)` folder."""
    return {f"s_{i:09d}#{j}" for i in range(n) if split_of(i) == "train" for j in range(1 + i % 2)}
