"""Throughput of every GPU stage at full size, in one run of at most 8 minutes (random weights).

Weights do not change speed, so every model is built from its published architecture config with
random weights, directly on the GPU (no hub). Each row: samples/s, peak GPU memory
(`torch.cuda.max_memory_allocated`, reset per row), the setting, and where there is a baseline
the ratio to it. Rows, in the order they run (most important first):

  gen.sd-turbo.{1,4}step.eager.{bare,ours}   SD-Turbo-sized pipeline (SD-2.1 UNet + VAE + OpenCLIP-H
      text tower), 512x256, batch 16, no guidance, bf16. `bare` = a loop of `pipe(...)` calls;
      `ours` = `run_generate` with our DiffusionBackend (planning, seeded latents, JPEG + tar
      writer thread, parquet); ratio = ours / bare. Published: SDXL-Turbo with TensorRT takes
      83.8 ms per 512x512 image on an H100 (11.9 img/s, 1 step); SD-Turbo is smaller and our
      frames have half the pixels, so expect more.
  train.aptm-base.{fp32,bf16}   one mals-pretrain step (all six losses via Task, backward, AdamW,
      per-step loss logging) of aptm-base (Swin-B 384x128 + BERT-base 6/6) at batch 32 per GPU;
      fp32 (TF32 matmuls, as the trainer sets) vs bf16 autocast (accelerate's bf16 mode).
  eval.itc-images / eval.itc-texts / eval.rerank.{batched,per-query}   aptm-base in bf16 at the
      CUHK-PEDES test size (3,074 images, 6,156 queries, k = 128): JPEG decode + Swin encoding,
      text encoding, then ITM re-ranking batched across queries vs the original's per-query loop
      (timed on 200 queries and extrapolated, stated in the row); ratio = batched / loop.
  loader.webdataset   the training loader alone (WebDataset shards of 2,000 JPEGs at 384x128
      written here, train augmentation, min(16, cores) workers), samples/s after the first batch:
      it must outrun the train rows.
  caption.blip-large.{bare,ours}   BLIP-large-sized captioner (ViT-L/16 at 384 + bert-base decoder),
      batch 64, the caption stage's default preset (3 beams, up to 40 new tokens); our caption
      stage's part loop (tar -> decode -> processor -> generate -> parquet) vs a bare
      `model.generate` loop on the same, prepared batches.
  clip.vit-b-32.{bare,ours}   open_clip ViT-B-32, batch 256 image-caption pairs: our ClipScorer
      (PIL preprocessing included) vs bare encode_image + encode_text on prepared tensors.
  gen.sd15.25step-cfg.eager.{bare,ours}   SD-1.5-sized pipeline with classifier-free guidance
      7.5, 25 PNDM steps (the mals-faithful preset). Published: SD-1.5 at 50 steps, 512x512, about
      1.5 images/s on an A100; half the steps and half the pixels should give roughly 4x that.
  tune.sd15.lora.bf16   one `mals tune-diffusion` step (our loop's step function: VAE + text encoding,
      LoRA rank 16 UNet forward/backward under bf16 autocast, AdamW) of an SD-1.5-sized pipeline at
      512x256, batch 16 (scripts/gpu_bench/tuning.py).
  gen.sd-turbo.{1,4}step.compiled.{ours,bare}   as the eager rows with the UNet compiled by our
      backend (`compile=True` -> `unet.compile()`); `first_batch_s` holds the compile time.
Inputs are made here: random captions over a bert-base-sized WordPiece vocab written by the script
(the real vocab is not on the GPU machine; sizes and token counts are what matter), smooth random
images at each stage's size, WebDataset shards on local disk. Setting "params_m" in each row shows
the size that ran (SD-2.1 UNet 865.9 M, OpenCLIP-H text 340.4 M, SD-1.5 UNet 859.5 M, VAE 83.7 M,
BLIP-large 446.3 M with tied embeddings, ViT-B-32 151.3 M, aptm-base 214.5 M).
A row the budget (--budget-s, counted from the start) cannot cover is reported as skipped, and a
row that raises as failed, with the reason; the JSON is rewritten after every row, so a run that
is killed still leaves its numbers. The table is printed last.

  python scripts/bench_gpu.py --check          # packages and CUDA, before any timing
  python scripts/bench_gpu.py --out DIR        # full sizes on the GPU -> DIR/bench_gpu.json
  python scripts/bench_gpu.py --tiny --out DIR # every row with tiny configs on CPU (< 1 minute)
  python scripts/bench_gpu.py --smoke --out DIR --only generation,training,evaluation,loader,captioning,clip,generation-sd15
                                               # the full-size architectures on CPU, least work per
                                               # row (3.5 min on 2 cores, 6.7 GiB peak RSS): shapes,
                                               # not speed

On a bare GPU machine (diffusers, open_clip_torch, webdataset, ftfy, braceexpand, wcwidth
missing) fetch the wheels here once (the command `--check` prints), carry `.whl` (8.5 MB) and run,
with a 600 s limit (the default 450 s budget leaves room for a compile that overruns):
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl && export PYTHONPATH=/tmp/site || exit; set -o pipefail; PYTHONUNBUFFERED=1 python3 scripts/bench_gpu.py --out $OUT 2>&1 | tee $OUT/log.txt
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import sys
import tempfile
import time
from pathlib import Path

T0 = time.perf_counter()
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # our packages without `pip install`
sys.path.insert(0, str(Path(__file__).resolve().parent))

# (import name, distribution, version to carry as a wheel; None = expected on the GPU image)
PACKAGES = [
    ("torch", "torch", None),
    ("torchvision", "torchvision", None),
    ("transformers", "transformers", None),
    ("accelerate", "accelerate", None),
    ("timm", "timm", None),
    ("safetensors", "safetensors", None),
    ("huggingface_hub", "huggingface-hub", None),
    ("regex", "regex", None),
    ("PIL", "pillow", None),
    ("numpy", "numpy", None),
    ("pandas", "pandas", None),
    ("pyarrow", "pyarrow", None),
    ("yaml", "PyYAML", None),
    ("tqdm", "tqdm", None),
    ("typer", "typer", None),
    ("diffusers", "diffusers", "0.42.1"),
    ("open_clip", "open_clip_torch", "3.3.0"),
    ("ftfy", "ftfy", "6.3.1"),
    ("wcwidth", "wcwidth", "0.9.4"),
    ("webdataset", "webdataset", "1.0.2"),
    ("braceexpand", "braceexpand", "0.1.7"),
    ("peft", "peft", "0.21.2"),
]
PIP_DOWNLOAD = (
    "python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp "
    "--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 "
    "--platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d .whl"
)


def check_packages(echo=print) -> list[tuple[str, str, str | None]]:
    """Print each package's version (or MISSING); return the missing ones."""
    missing = []
    for module, dist, pin in PACKAGES:
        if importlib.util.find_spec(module) is None:
            missing.append((module, dist, pin))
            echo(f"  {dist:<18} MISSING")
            continue
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "?"
        echo(f"  {dist:<18} {version}")
    if missing:
        pinned = " ".join(f"{d}=={v}" for _, d, v in missing if v)
        others = [d for _, d, v in missing if not v]
        echo(f"missing: {', '.join(d for _, d, _ in missing)}")
        if pinned:
            echo(f"fetch the wheels here (repo root), then carry .whl:\n  {PIP_DOWNLOAD} {pinned}")
        if others:
            echo(f"not carried as wheels (expected on the GPU image): {', '.join(others)}")
    return missing


def cuda_line() -> tuple[bool, str]:
    import torch

    if not torch.cuda.is_available():
        built = torch.version.cuda or "no CUDA (CPU build)"
        return False, (
            f"CUDA is NOT available (torch {torch.__version__}, built with {built}): no GPU row can run "
            "here; use --tiny (tiny configs) or --smoke (full sizes, least work) on CPU"
        )
    name = torch.cuda.get_device_name(0)
    return True, (
        f"CUDA available: {name}, torch {torch.__version__}, CUDA {torch.version.cuda}, "
        f"bf16 {'yes' if torch.cuda.is_bf16_supported() else 'no'}"
    )


def families(p) -> list[tuple[str, object, list[str]]]:
    """(family, row generator, the rows it should produce), in run order."""
    from gpu_bench import captioning, evaluation, generation, training, tuning

    steps = p.turbo_steps
    return [
        (
            "generation",
            generation.turbo_rows,
            [f"gen.sd-turbo.{s}step.eager.{w}" for s in steps for w in ("bare", "ours")],
        ),
        ("training", training.train_rows, [f"train.{p.aptm}.fp32", f"train.{p.aptm}.bf16"]),
        (
            "evaluation",
            evaluation.eval_rows,
            ["eval.itc-images", "eval.itc-texts", "eval.rerank.batched", "eval.rerank.per-query"],
        ),
        ("loader", training.loader_rows, ["loader.webdataset"]),
        ("captioning", captioning.caption_rows, ["caption.blip-large.bare", "caption.blip-large.ours"]),
        ("clip", captioning.clip_rows, ["clip.vit-b-32.bare", "clip.vit-b-32.ours"]),
        (
            "generation-sd15",
            generation.sd15_rows,
            [f"gen.sd15.{p.sd15_steps}step-cfg.eager.{w}" for w in ("bare", "ours")],
        ),
        ("tuning", tuning.tune_rows, ["tune.sd15.lora.bf16"]),
        (
            "generation-compiled",
            lambda bench: generation.turbo_rows(bench, compile=True),
            [f"gen.sd-turbo.{s}step.compiled.{w}" for s in steps for w in ("bare", "ours")],
        ),
    ]


def run_families(bench, selected: list, report: dict, save) -> None:
    from gpu_bench.core import Skip

    for family, fn, names in selected:
        done, status, reason = set(), "skipped", ""
        started = time.perf_counter()
        try:
            for row in fn(bench):
                row["family"] = family
                report["rows"].append(row)
                done.add(row["row"])
                save()
                bench.echo(
                    f"[{time.perf_counter() - T0:5.0f} s] {row['row']}: {row['samples_per_s']:.2f} "
                    f"{row['unit']}/s, peak {row['peak_mem_gib']:.2f} GiB"
                )
        except Skip as skip:
            reason = str(skip)
        except Exception as err:  # noqa: BLE001 (one broken row must not cost the others their numbers)
            import traceback

            traceback.print_exc()
            status, reason = (
                "failed",
                f"{type(err).__name__}: {str(err).strip().splitlines()[0][:300] if str(err).strip() else ''}",
            )
        for name in names:
            if name not in done:
                report["rows"].append({"row": name, "family": family, "status": status, "note": reason})
                bench.echo(f"[{time.perf_counter() - T0:5.0f} s] {name}: {status} ({reason})")
        # wall time of the family: model construction, inputs, warm-ups and timing together
        report["family_wall_s"][family] = time.perf_counter() - started
        save()
        bench.free()


def table(rows: list[dict]) -> str:
    lines = [f"{'row':<38}{'status':<8}{'samples/s':>11} {'unit':<8}{'peak GiB':>9}{'ratio':>8}  note"]
    for r in rows:
        if r["status"] != "ok":
            lines.append(f"{r['row']:<38}{r['status']:<8}{'-':>11} {'':<8}{'-':>9}{'-':>8}  {r['note']}")
            continue
        ratio = f"{r['ratio']:.2f}x" if "ratio" in r else ""
        note = f"first batch {r['first_batch_s']:.1f} s (compile)" if "first_batch_s" in r else ""
        if "extrapolated_full_s" in r:
            note = (
                f"{r['setting']['timed_queries']} queries timed; full loop ~{r['extrapolated_full_s']:.0f} s"
            )
        lines.append(
            f"{r['row']:<38}{'ok':<8}{r['samples_per_s']:>11.2f} {r['unit']:<8}{r['peak_mem_gib']:>9.2f}"
            f"{ratio:>8}  {note}"
        )
    return "\n".join(lines)


def environment(bench) -> dict:
    import torch

    info = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": str(bench.device),
        "cpu_count": os.cpu_count(),
        "profile": bench.profile.name,
        "budget_s": bench.budget_s,
        "packages": {d: _version(d) for _, d, _ in PACKAGES},
    }
    if bench.cuda:
        info["gpu"] = torch.cuda.get_device_name(bench.device)
    return info


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=ROOT / "bench_out" / "gpu", help="folder for bench_gpu.json")
    ap.add_argument(
        "--tiny", action="store_true", help="tiny configs on CPU: every row's code path in < 1 minute"
    )
    ap.add_argument(
        "--smoke", action="store_true", help="full-size architectures on CPU, least work per row (shapes, not speed)"
    )
    ap.add_argument(
        "--check", action="store_true", help="list packages and CUDA, then exit (1 if any is missing)"
    )
    ap.add_argument(
        "--budget-s", type=float, default=450.0, help="seconds from start; later rows are skipped"
    )
    ap.add_argument("--device", default=None, help="default: cuda (full), cpu (--tiny, --smoke)")
    ap.add_argument("--only", default="", help="comma-separated families to run (default: all)")
    ap.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a temporary one)")
    return ap.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # the loader forks after tokenising
    print("packages:")
    missing = check_packages()
    if missing:
        print("cannot run: packages are missing (see above)" if not args.check else "")
        return 1 if args.check else 2
    has_cuda, line = cuda_line()
    print(line)
    if args.check:
        return 0
    import torch
    from diffusers.utils import logging as diffusers_logging
    from gpu_bench.core import FULL, SMOKE, TINY, Bench
    from transformers.utils import logging as transformers_logging

    # prompts longer than 77 tokens are cut by design: keep the per-call warnings out of the log
    diffusers_logging.set_verbosity_error()
    transformers_logging.set_verbosity_error()
    profile = TINY if args.tiny else SMOKE if args.smoke else FULL
    device = torch.device(args.device or ("cuda" if profile is FULL else "cpu"))
    if device.type == "cuda" and not has_cuda:
        print("stopping: the timed full-size rows need a CUDA GPU (or pass --tiny or --smoke)")
        return 2
    if profile.torch_threads:
        torch.set_num_threads(profile.torch_threads)
    only = {f.strip() for f in args.only.split(",") if f.strip()}
    args.out.mkdir(parents=True, exist_ok=True)
    out_file = args.out / "bench_gpu.json"
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        bench = Bench(profile, device, getattr(torch, profile.dtype), Path(tmp), args.budget_s, started=T0)
        selected = [f for f in families(profile) if not only or f[0] in only]
        report = {
            "environment": environment(bench),
            "rows": [],
            "family_wall_s": {},
            "imports_s": time.perf_counter() - T0,
        }

        def save():
            report["elapsed_s"] = time.perf_counter() - T0
            tmp_file = out_file.with_suffix(".json.tmp")
            tmp_file.write_text(json.dumps(report, indent=2, default=str))
            tmp_file.replace(out_file)

        run_families(bench, selected, report, save)
    print(f"\n{profile.name} profile on {device} in {time.perf_counter() - T0:.0f} s -> {out_file}")
    print(table(report["rows"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
