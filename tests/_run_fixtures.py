"""Hand-built run folders: plan.json and finished stage parts, written through the shared runner.

Tests of a later stage (caption, attrs, filter, shard, report) start from these instead of running
the earlier stages, so they do not depend on them. Rows follow the schemas in `mals_gen.contract`;
generate rows look as `mals generate` writes them.
"""
from __future__ import annotations

import tarfile
from functools import partial
from pathlib import Path

from mals_gen.contract import NUM_MALS_ATTRIBUTES, STAGE_SCHEMAS
from mals_gen.manifest import write_part
from mals_gen.plan import RunPlan, write_or_check_plan
from mals_gen.runner import run_stage
from mals_gen.stages import MANIFEST_STAGES
from mals_gen.tario import add_member

STAGES = MANIFEST_STAGES  # every manifest a run can hold, in pipeline order
UNKNOWN_ATTRS = [-1] * NUM_MALS_ATTRIBUTES


def write_run(run: Path, samples: list[dict], *, part_size: int = 4, seed: int = 0, backend: str = "sketch",
              size: tuple[int, int] = (96, 48), stages: tuple[str, ...] = STAGES) -> RunPlan:
    """Write plan.json and the finished parts of `stages` for `samples` (keys t_000000000, ...).

    Each sample is a dict with what its stages need: "image" (bytes stored as they are, or None:
    generation failed), "caption", "filter" (the filter row without its key); "prompt",
    "prompt_attrs" and "mined_attrs" have defaults. Every image is `size` (height, width)."""
    run.mkdir(parents=True, exist_ok=True)
    plan = write_or_check_plan(run, RunPlan(n=len(samples), part_size=part_size, seed=seed, key_prefix="t",
                                            config={"backend": backend}))

    def plan_row(ctx, i, key, sample):
        return {"key": key, "index": i, "part": ctx.part.index, "seed": plan.sample_seed(i),
                "prompt": sample.get("prompt", f"a person number {i}"),
                "prompt_attrs": sample.get("prompt_attrs", UNKNOWN_ATTRS), "prompt_source": "test"}

    def generate_row(ctx, i, key, sample):
        # As mals_gen/generate/part_writer.py writes it: a failed sample has no member, size or byte count.
        row = {"key": key, "image_path": ctx.images_rel, "image_member": None, "width": None,
               "height": None, "image_bytes": None, "backend": backend, "model": "test", "status": "failed",
               "error": "boom"}
        if sample["image"] is not None:
            row.update(image_member=f"{key}.jpg", width=size[1], height=size[0],
                       image_bytes=len(sample["image"]), status="ok", error="")
        return row

    def caption_row(ctx, i, key, sample):
        return {"key": key, "caption": sample["caption"], "captioner": "prompt", "caption_settings": "{}"}

    def attrs_row(ctx, i, key, sample):
        return {"key": key, "mined_attrs": sample.get("mined_attrs", UNKNOWN_ATTRS), "attr_source": "test",
                "attr_agreement": 1.0}

    def filter_row(ctx, i, key, sample):
        return {"key": key, **sample["filter"]}

    row_makers = {"plan": plan_row, "generate": generate_row, "caption": caption_row, "attrs": attrs_row,
                  "filter": filter_row}
    for stage in stages:
        run_stage(stage, run, plan.parts, partial(_write_stage_part, plan, samples, row_makers[stage]),
                  progress=False)
    return plan


def _write_stage_part(plan: RunPlan, samples: list[dict], make_row, ctx) -> None:
    """One part's parquet rows (and, for generate, its tar of images)."""
    picked = [(i, plan.key(i), samples[i]) for i in range(ctx.part.start, ctx.part.stop)]
    if ctx.stage == "generate":
        with ctx.output(".tar") as tmp, tarfile.open(tmp, "w") as tar:
            for _, key, sample in picked:
                if sample["image"] is not None:
                    add_member(tar, f"{key}.jpg", sample["image"])
    with ctx.output(".parquet") as tmp:
        write_part(tmp, [make_row(ctx, *p) for p in picked], STAGE_SCHEMAS[ctx.stage])
