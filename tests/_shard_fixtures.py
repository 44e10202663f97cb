"""Hand-built run folders for the shard / verify / pipeline tests, and the JPEGs they hold.

The run folders come from `_run_fixtures.write_run`, so the shard tests do not depend on the
generate, caption, attrs or filter stages.
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from mals_gen.contract import NUM_MALS_ATTRIBUTES, ShardSample, read_sample

from ._run_fixtures import write_run


def jpeg_bytes(seed: int, size=(96, 48), quality: int = 90) -> bytes:
    """A small deterministic JPEG (height, width) with some structure."""
    rng = np.random.default_rng(seed)
    h, w = size
    pixels = np.zeros((h, w, 3), np.uint8)
    pixels[:] = rng.integers(0, 255, 3)
    pixels[h // 4: 3 * h // 4, w // 3: 2 * w // 3] = rng.integers(0, 255, 3)  # a "person"
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def tar_samples(tar: Path) -> list[ShardSample]:
    """The samples of one shard tar in tar order, read back with the contract's reader."""
    found: dict[str, dict] = {}
    with tarfile.open(tar) as tf:
        for m in tf.getmembers():
            key, _, ext = m.name.partition(".")
            found.setdefault(key, {"__key__": key})[ext] = tf.extractfile(m).read()
    return [read_sample(files) for files in found.values()]


def build_run(run: Path, n: int = 30, part_size: int = 10, *, failed=(), filtered=(), with_attrs=True,
              with_filter=True, size=(96, 48)) -> Path:
    """A run folder with n samples; `failed` indices fail generation, `filtered` ones are dropped."""
    samples = [{"image": None if i in failed else jpeg_bytes(i, size),
                "caption": f"a person wearing colour {i} walks",
                "mined_attrs": [(i + j) % 3 - 1 for j in range(NUM_MALS_ATTRIBUTES)],
                "filter": _filter_row(i, i not in filtered and i not in failed, size)} for i in range(n)]
    stages = ("plan", "generate", "caption") + ("attrs",) * with_attrs + ("filter",) * with_filter
    write_run(run, samples, part_size=part_size, size=size, stages=stages)
    return run


def _filter_row(i: int, keep: bool, size: tuple[int, int]) -> dict:
    """Odd samples carry a person box of half the width and 3/4 of the height."""
    h, w = size
    return {"keep": keep, "reason": "ok" if keep else "blurry", "clip_score": 25.0 + i,
            "person_box": [w // 4, h // 8, 3 * w // 4, 7 * h // 8] if i % 2 else None,
            "phash": "0" * 16, "blur": 100.0, "colourfulness": 10.0}
