"""Benchmark `mals generate` against bare loops over the same model, in the same run.

Rows:
  sketch         samples/s of `run_generate` (plan + render + JPEG + tar + parquet) vs a bare
                 `render_person` loop (the floor): the ratio is what the stage machinery costs.
  tiny diffusion the share of wall time spent outside the model call (the pipeline's overhead),
                 with a tiny random Stable Diffusion pipeline: our stage vs a bare loop of the same
                 `pipe(...)` calls with the same batches.
Usage: python scripts/bench_generate.py [--n 600] [--diffusion-n 48]
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from benchutil import int_options  # scripts/benchutil.py (the script's folder is on sys.path)


def bench_sketch(n: int, workdir: Path) -> dict:
    from mals_gen.backends.sketch import render_person
    from mals_gen.generate.config import GenerateConfig
    from mals_gen.generate.stage import run_generate

    started = time.perf_counter()
    for i in range(n):
        render_person(np.full(27, -1, np.int8), np.random.default_rng(i), 256, 128)
    floor = time.perf_counter() - started
    started = time.perf_counter()
    run_generate(workdir / "sketch", GenerateConfig(n=n, part_size=200, backend="sketch"), progress=False, echo=None)
    ours = time.perf_counter() - started
    return {"row": "sketch", "ours_samples_per_s": n / ours, "floor_samples_per_s": n / floor, "ratio": floor / ours}


class TimedBackend:
    """Wraps a backend and adds up the seconds spent inside its model call."""

    def __init__(self, backend):
        self.inner, self.name, self.model, self.model_seconds = backend, backend.name, backend.model, 0.0

    def generate(self, batch):
        started = time.perf_counter()
        out = self.inner.generate(batch)
        self.model_seconds += time.perf_counter() - started
        return out


def bench_tiny_diffusion(n: int, workdir: Path) -> dict:
    import torch

    from mals_gen.backends.diffusion import DiffusionBackend
    from mals_gen.generate.config import GenerateConfig
    from mals_gen.generate.stage import run_generate
    from mals_gen.testing import save_tiny_sd_pipeline

    folder = save_tiny_sd_pipeline(workdir / "tiny_sd")
    cfg = GenerateConfig(n=n, part_size=n, batch_size=8, backend="diffusers", model=str(folder), steps=2,
                         guidance=0.0, height=128, width=64, device="cpu")
    backend = TimedBackend(DiffusionBackend(str(folder), steps=2, guidance=0.0, negative_prompt="", height=128,
                                            width=64, device="cpu"))
    pipe = backend.inner.pipe
    prompts = [f"a person walking, number {i}" for i in range(n)]

    def bare_loop(count: int) -> None:  # what a user writes without our stage: call, save nothing
        for start in range(0, count, 8):
            gens = [torch.Generator().manual_seed(i) for i in range(start, min(start + 8, count))]
            pipe(prompt=prompts[start:start + len(gens)], num_inference_steps=2, guidance_scale=0.0,
                 height=128, width=64, generator=gens, output_type="pil")

    bare_loop(8)  # warm-up: first calls allocate and pick kernels
    started = time.perf_counter()
    bare_loop(n)
    bare = time.perf_counter() - started
    started = time.perf_counter()
    run_generate(workdir / "diffusion", cfg, progress=False, echo=None, backend=backend)
    ours = time.perf_counter() - started
    return {"row": "tiny diffusion", "ours_samples_per_s": n / ours, "floor_samples_per_s": n / bare,
            "ratio": bare / ours, "outside_model_share": 1 - backend.model_seconds / ours}


def main() -> None:
    args = int_options(__doc__, n=600, diffusion_n=48).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [bench_sketch(args.n, Path(tmp)), bench_tiny_diffusion(args.diffusion_n, Path(tmp))]
    print(f"{'row':<16}{'ours samples/s':>16}{'bare loop samples/s':>21}{'ours/bare':>11}{'outside model':>15}")
    for r in rows:
        share = f"{100 * r['outside_model_share']:.1f}%" if "outside_model_share" in r else "-"
        print(f"{r['row']:<16}{r['ours_samples_per_s']:>16.1f}{r['floor_samples_per_s']:>21.1f}{r['ratio']:>11.2f}{share:>15}")


if __name__ == "__main__":
    main()
