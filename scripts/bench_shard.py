"""Benchmark `mals shard` against the floor: the same bytes written with Python's `tarfile` alone.

Builds a synthetic run folder (plan, generate part tars of JPEGs, captions; no model needed),
then times in the same process:
  floor        tarfile.open(...).addfile() of the exact member bytes our shards hold, prepared in memory
  passthrough  run_shard with crop and resize off (JPEG bytes copied, the "no re-encoding" case)
  re-encode    run_shard cropping to a person box and resizing to 384 px high (decode + encode)
`mals shard` also loads and joins the manifests, indexes the part tars, builds every KEY.json,
hashes every byte, and writes sizes.json, manifest.parquet, the card and the checksums.

    .venv/bin/python scripts/bench_shard.py [--n 4000] [--repeat 3] [--workers 1]
"""
from __future__ import annotations

import io
import shutil
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np
from benchutil import int_options, seconds  # scripts/benchutil.py (the script's folder is on sys.path)
from PIL import Image

from mals_gen.contract import CAPTION_SCHEMA, FILTER_SCHEMA, GENERATE_SCHEMA, NUM_MALS_ATTRIBUTES, PLAN_SCHEMA
from mals_gen.manifest import write_part
from mals_gen.plan import RunPlan, write_or_check_plan
from mals_gen.runner import run_stage
from mals_gen.shard.select import ShardConfig, run_shard


def _jpeg(rng: np.random.Generator, h: int = 384, w: int = 160) -> bytes:
    base = rng.integers(0, 255, (h // 16, w // 16, 3), dtype=np.uint8)  # blocky content, ~real JPEG sizes
    img = Image.fromarray(base).resize((w, h), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def build_run(run: Path, n: int, part_size: int) -> None:
    run.mkdir(parents=True)
    plan = write_or_check_plan(run, RunPlan(n=n, part_size=part_size, key_prefix="b", config={"backend": "bench"}))

    def rows(ctx, make):
        return [make(i, plan.key(i)) for i in range(ctx.part.start, ctx.part.stop)]

    def write(ctx, data, schema):
        with ctx.output(".parquet") as tmp:
            write_part(tmp, data, schema)
        return {"samples": len(data)}

    def generate(ctx):
        rng = np.random.default_rng(ctx.part.index)
        with ctx.output(".tar") as tmp, tarfile.open(tmp, "w") as tf:
            for i in range(ctx.part.start, ctx.part.stop):
                data = _jpeg(rng)
                info = tarfile.TarInfo(f"{plan.key(i)}.jpg")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
        return write(ctx, rows(ctx, lambda i, k: {
            "key": k, "image_path": ctx.images_rel, "image_member": f"{k}.jpg", "width": 160,
            "height": 384, "image_bytes": 0, "backend": "bench", "model": "noise", "status": "ok", "error": None}),
            GENERATE_SCHEMA)

    stages = {
        "plan": lambda ctx: write(ctx, rows(ctx, lambda i, k: {
            "key": k, "index": i, "part": ctx.part.index, "prompt": f"a person {i} in a red shirt and blue jeans",
            "seed": i, "prompt_attrs": [-1] * NUM_MALS_ATTRIBUTES, "prompt_source": "bench"}), PLAN_SCHEMA),
        "generate": generate,
        "caption": lambda ctx: write(ctx, rows(ctx, lambda i, k: {
            "key": k, "caption": f"the person {i} wears a red shirt, blue jeans and white shoes, carrying a bag",
            "captioner": "bench", "caption_settings": "{}"}), CAPTION_SCHEMA),
        "filter": lambda ctx: write(ctx, rows(ctx, lambda i, k: {
            "key": k, "keep": True, "reason": "ok", "clip_score": 30.0, "person_box": [16, 8, 144, 376],
            "phash": "0" * 16, "blur": 50.0, "colourfulness": 20.0}), FILTER_SCHEMA),
    }
    for name, fn in stages.items():
        run_stage(name, run, plan.parts, fn, progress=False)


def members_of(folder: Path) -> list[list[tuple[str, bytes]]]:
    out = []
    for tar in sorted(folder.glob("*.tar")):
        with tarfile.open(tar) as tf:
            out.append([(m.name, tf.extractfile(m).read()) for m in tf.getmembers()])
    return out


def floor(shards: list[list[tuple[str, bytes]]], out: Path) -> float:
    out.mkdir()
    started = time.perf_counter()
    for i, members in enumerate(shards):
        with tarfile.open(out / f"{i:06d}.tar", "w") as tf:
            for name, data in members:
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    return time.perf_counter() - started


def main() -> None:
    ap = int_options(__doc__, n=4000, per_shard=1000, repeat=3, workers=1)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench_shard_"))
    try:
        build_run(tmp / "run", args.n, part_size=1000)
        passthrough = ShardConfig(samples_per_shard=args.per_shard, crop=False, resize=False, workers=args.workers)
        reencode = ShardConfig(samples_per_shard=args.per_shard, height=384, workers=args.workers)
        times: dict[str, list[float]] = {"floor": [], "passthrough": [], "re-encode": []}
        for r in range(args.repeat):
            times["passthrough"].append(seconds(run_shard, tmp / "run", tmp / f"pass{r}", passthrough,
                                               progress=False, echo=None))
            if r == 0:
                shards = members_of(tmp / "pass0")
                size_mb = sum(len(d) for s in shards for _, d in s) / 1e6
            times["floor"].append(floor(shards, tmp / f"floor{r}"))
            times["re-encode"].append(seconds(run_shard, tmp / "run", tmp / f"enc{r}", reencode,
                                             progress=False, echo=None))
        best = {k: min(v) for k, v in times.items()}
        print(f"{args.n} samples, {len(shards)} shards, {size_mb:.1f} MB of member bytes, workers={args.workers}, "
              f"best of {args.repeat}")
        print(f"{'method':<24}{'seconds':>10}{'samples/s':>12}{'vs floor':>10}")
        for name, label in (("floor", "tarfile alone (floor)"), ("passthrough", "mals shard, passthrough"),
                            ("re-encode", "mals shard, crop+resize")):
            print(f"{label:<24}{best[name]:>10.3f}{args.n / best[name]:>12.0f}{best['floor'] / best[name]:>10.2f}")
        ratio = best["floor"] / best["passthrough"]
        print(f"goal: passthrough >= 0.5 x floor speed -> {ratio:.2f} x ({'met' if ratio >= 0.5 else 'NOT met'})")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
