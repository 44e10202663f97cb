"""`run_generate(run_dir, cfg, ...)`: plan the run, then draw each part's images with the chosen backend.

Two passes of the one stage runner: `plan` materialises each part's prompts and seeds, then
`generate` writes `RUN/images/part-NNNNN.tar` (KEY.jpg members) and its parquet manifest.
Both resume by rerunning the same command; several processes split the parts by rank.
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..backends.base import ImageBackend, SampleRequest
from ..config import to_dict
from ..contract import GENERATE_SCHEMA
from ..fsutil import ensure_writable_dir
from ..manifest import read_part, write_part
from ..plan import RunPlan, check_plan, write_or_check_plan
from ..ranks import ONE_PROCESS, Ranks
from ..runner import StageContext, StageSummary, run_stage
from .config import GenerateConfig
from .part_writer import PartImageWriter
from .planning import PromptProvider, plan_part, plan_source


def build_plan(cfg: GenerateConfig) -> RunPlan:
    source = plan_source(cfg.prompts, cfg.prompt_field, cfg.composer, cfg.lora, cfg.prompt_eda)
    return RunPlan(n=cfg.n, part_size=cfg.part_size, seed=cfg.seed, key_prefix=cfg.key_prefix,
                   source=source, config=to_dict(cfg))


def make_backend(cfg: GenerateConfig) -> ImageBackend:
    if cfg.backend == "sketch":
        from ..backends.sketch_backend import SketchBackend

        return SketchBackend(cfg.height, cfg.width)
    from ..backends.diffusion import DiffusionBackend

    return DiffusionBackend(cfg.model, steps=cfg.steps, guidance=cfg.guidance,
                            negative_prompt=cfg.negative_prompt, height=cfg.height, width=cfg.width,
                            dtype=cfg.dtype, device=cfg.device, compile=cfg.compile, lora=cfg.lora)


def generate_part(ctx: StageContext, backend: ImageBackend, cfg: GenerateConfig) -> dict:
    plan_rows = read_part(ctx.run_dir, "plan", ctx.part.index).to_pylist()
    with ctx.output(".tar") as tar_tmp:
        writer = PartImageWriter(tar_tmp, ctx.images_rel, backend.name, backend.model, cfg.jpeg_quality)
        try:
            for start in range(0, len(plan_rows), cfg.batch_size):
                batch = [SampleRequest(r["key"], r["prompt"], r["seed"], np.asarray(r["prompt_attrs"], np.int8))
                         for r in plan_rows[start:start + cfg.batch_size]]
                writer.submit(batch, backend.generate(batch))
                ctx.advance(len(batch))
        finally:
            rows = writer.close()
    with ctx.output(".parquet") as tmp:
        write_part(tmp, rows, GENERATE_SCHEMA)
    failed = sum(r["status"] != "ok" for r in rows)
    stats = {"samples": len(rows), "ok": len(rows) - failed}
    if failed:
        stats["dropped"] = {"generation_failed": failed}
    return stats


def run_generate(run_dir: str | Path, cfg: GenerateConfig, *, ranks: Ranks = ONE_PROCESS, progress: bool = True,
                 echo: Callable[[str], None] | None = print, dry_run: bool = False,
                 backend: ImageBackend | None = None) -> StageSummary | dict:
    """Plan and generate; with `dry_run` only print and return the plan's summary (nothing written).

    `backend` replaces the one `cfg` names (benchmarks pass a prepared one)."""
    cfg = cfg.resolved()
    if dry_run:
        summary = describe_plan(check_plan(run_dir, build_plan(cfg)), cfg, ranks)
        if echo:
            echo(format_plan_summary(summary))
        return summary
    run_dir = ensure_writable_dir(run_dir)
    plan = write_or_check_plan(run_dir, build_plan(cfg))
    backend = backend or make_backend(cfg)  # before any work: a model that cannot load fails fast
    provider = PromptProvider(plan.source)
    parts = plan.parts
    run_stage("plan", run_dir, parts, lambda ctx: plan_part(ctx, plan, provider), ranks=ranks,
              progress=progress, echo=echo)
    return run_stage("generate", run_dir, parts, lambda ctx: generate_part(ctx, backend, cfg), ranks=ranks,
                     requires="plan", progress=progress, echo=echo)


def describe_plan(plan: RunPlan, cfg: GenerateConfig, ranks: Ranks) -> dict:
    parts = plan.parts
    rate, how = _throughput(cfg)
    return {"samples": plan.n, "parts": len(parts), "part_size": plan.part_size,
            "this_rank_parts": parts.count_owned(ranks), "world_size": ranks.world_size, "backend": cfg.backend,
            "model": cfg.model, "prompt_source": plan.source["kind"], "images_per_second": rate,
            "rate_from": how, "estimated_hours_per_process": plan.n / ranks.world_size / rate / 3600}


def _throughput(cfg: GenerateConfig) -> tuple[float, str]:
    """Images/s for the estimate: measured on a few samples for sketch, a reference for diffusion."""
    if cfg.backend == "sketch":
        from ..backends.sketch_backend import SketchBackend

        backend = SketchBackend(cfg.height, cfg.width)
        attrs = np.full(27, -1, np.int8)
        batch = [SampleRequest(f"probe_{i}", "", i, attrs) for i in range(24)]
        started = time.perf_counter()
        backend.generate(batch)
        return len(batch) / (time.perf_counter() - started), "measured here on 24 samples"
    return cfg.images_per_second_reference(), f"reference figure for preset {cfg.preset} on one H100"


def format_plan_summary(s: dict) -> str:
    hours = s["estimated_hours_per_process"]
    return (f"plan: {s['samples']:,} samples in {s['parts']:,} parts of {s['part_size']:,} "
            f"({s['this_rank_parts']} for this process of {s['world_size']}); backend {s['backend']} "
            f"({s['model']}), prompts from {s['prompt_source']}; about {s['images_per_second']:.1f} images/s "
            f"per process ({s['rate_from']}) -> {hours:.2f} h per process")
