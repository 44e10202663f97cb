"""Hand-built run folders and shard folders for the shard / verify / pipeline tests.

They write exactly the run-folder contract (plan.json, plan / generate / caption / attrs / filter
parts with done markers through the shared runner), so the shard tests do not depend on the
generate, caption, attrs or filter stages.
"""
from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image

from mals_gen.contract import (
    ATTRS_SCHEMA,
    CAPTION_SCHEMA,
    FILTER_SCHEMA,
    GENERATE_SCHEMA,
    NUM_MALS_ATTRIBUTES,
    PLAN_SCHEMA,
)
from mals_gen.manifest import write_part
from mals_gen.plan import RunPlan, write_or_check_plan
from mals_gen.runner import run_stage


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


def build_run(run: Path, n: int = 30, part_size: int = 10, *, failed=(), filtered=(), with_attrs=True,
              with_filter=True, size=(96, 48)) -> Path:
    """A run folder with n samples; `failed` indices fail generation, `filtered` ones are dropped."""
    run.mkdir(parents=True, exist_ok=True)
    plan = write_or_check_plan(run, RunPlan(n=n, part_size=part_size, key_prefix="t",
                                            config={"backend": "sketch", "n": n}))

    def plan_part(ctx):
        idx = range(ctx.part.start, ctx.part.stop)
        rows = [{"key": plan.key(i), "index": i, "part": ctx.part.index, "prompt": f"a person number {i}",
                 "seed": plan.sample_seed(i), "prompt_attrs": [-1] * NUM_MALS_ATTRIBUTES,
                 "prompt_source": "composer"} for i in idx]
        with ctx.output(".parquet") as tmp:
            write_part(tmp, rows, PLAN_SCHEMA)
        return {"samples": len(rows)}

    def generate_part(ctx):
        rows = []
        with ctx.output(".tar") as tmp, tarfile.open(tmp, "w") as tf:
            for i in range(ctx.part.start, ctx.part.stop):
                key = plan.key(i)
                ok = i not in failed
                data = jpeg_bytes(i, size) if ok else b""
                if ok:
                    info = tarfile.TarInfo(f"{key}.jpg")
                    info.size = len(data)
                    tf.addfile(info, io.BytesIO(data))
                rows.append({"key": key, "image_path": f"generate/{ctx.part.name}.tar",
                             "image_member": f"{key}.jpg", "width": size[1], "height": size[0],
                             "image_bytes": len(data), "backend": "sketch", "model": "sketch-v1",
                             "status": "ok" if ok else "failed", "error": None if ok else "boom"})
        with ctx.output(".parquet") as tmp:
            write_part(tmp, rows, GENERATE_SCHEMA)
        return {"samples": len(rows)}

    def caption_part(ctx):
        rows = [{"key": plan.key(i), "caption": f"a person wearing colour {i} walks", "captioner": "prompt",
                 "caption_settings": "{}"} for i in range(ctx.part.start, ctx.part.stop)]
        with ctx.output(".parquet") as tmp:
            write_part(tmp, rows, CAPTION_SCHEMA)
        return {"samples": len(rows)}

    def attrs_part(ctx):
        rows = [{"key": plan.key(i), "attrs": [(i + j) % 3 - 1 for j in range(NUM_MALS_ATTRIBUTES)],
                 "attr_source": "miner", "attr_agreement": 0.5} for i in range(ctx.part.start, ctx.part.stop)]
        with ctx.output(".parquet") as tmp:
            write_part(tmp, rows, ATTRS_SCHEMA)
        return {"samples": len(rows)}

    def filter_part(ctx):
        h, w = size
        rows = [{"key": plan.key(i), "keep": i not in filtered and i not in failed,
                 "reason": "ok" if i not in filtered and i not in failed else "blurry",
                 "clip_score": 25.0 + i, "person_box": [w // 4, h // 8, 3 * w // 4, 7 * h // 8] if i % 2 else None,
                 "phash": "0" * 16, "blur": 100.0, "colourfulness": 10.0}
                for i in range(ctx.part.start, ctx.part.stop)]
        with ctx.output(".parquet") as tmp:
            write_part(tmp, rows, FILTER_SCHEMA)
        return {"samples": len(rows)}

    stages = [("plan", plan_part), ("generate", generate_part), ("caption", caption_part)]
    if with_attrs:
        stages.append(("attrs", attrs_part))
    if with_filter:
        stages.append(("filter", filter_part))
    for name, fn in stages:
        run_stage(name, run, plan.parts, fn, progress=False)
    return run
