"""Generation rows: our `mals generate` path (run_generate + DiffusionBackend) vs a bare pipeline loop.

Both drive the same pipeline object with the same batch, size, steps and guidance. "bare" is a
loop of `pipe(prompts, output_type="pt")` calls: the floor. "ours" is `run_generate` on a fresh
run folder: planning, per-sample seeded latents, the pipeline call, JPEG encoding and tar writing
on the writer thread, parquet manifests and done markers. ours / bare is what our stage costs.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import time
from collections.abc import Iterator

from .core import Bench, captions, params_m, ratio
from .models import sd_pipeline

TURBO = (
    "SD-Turbo sized: SD-2.1 UNet + SD VAE + OpenCLIP-H text tower, random weights, EulerAncestral trailing"
)
SD15 = "SD-1.5 sized: SD-1.5 UNet + SD VAE + CLIP-L text tower, random weights, PNDM"
TURBO_PUBLISHED = (
    "SDXL-Turbo (larger UNet) with TensorRT: 83.8 ms per 512x512 image on an H100 = 11.9 img/s "
    "at 1 step; SD-Turbo is smaller and 512x256 has half the pixels"
)
SD15_PUBLISHED = "SD-1.5, 50 steps, 512x512, guidance: about 1.5 images/s on an A100"
_runs = itertools.count()


def _dtype_name(dtype) -> str:
    return str(dtype).removeprefix("torch.")


@contextlib.contextmanager
def compile_backend(name: str | None):
    """Make `torch.compile` use backend `name` while our backend compiles the UNet.

    Only the tiny profile sets one ("eager": dynamo traces, nothing is generated), because
    inductor on a 2-core CPU takes minutes; the full profile keeps torch's default (inductor).
    """
    import torch

    if name is None:
        yield
        return
    original = torch.compile
    torch.compile = functools.partial(original, backend=name)
    try:
        yield
    finally:
        torch.compile = original


def _backend(bench: Bench, pipe, label: str, steps: int, guidance: float, negative: str, compile: bool):
    from mals_gen.backends.diffusion import DiffusionBackend

    h, w = bench.profile.gen_hw
    with compile_backend(bench.profile.compile_backend if compile else None):
        return DiffusionBackend(
            label,
            steps=steps,
            guidance=guidance,
            negative_prompt=negative,
            height=h,
            width=w,
            device=str(bench.device),
            compile=compile,
            pipeline=pipe,
        )


def _ours(bench: Bench, backend, n: int) -> None:
    """One `run_generate` of n samples into a fresh run folder (the stage as `mals generate` runs it)."""
    from mals_gen.generate.config import GenerateConfig
    from mals_gen.generate.stage import run_generate

    h, w = bench.profile.gen_hw
    cfg = GenerateConfig(
        n=n,
        part_size=n,
        batch_size=bench.profile.gen_batch,
        backend="diffusers",
        model=backend.model,
        steps=backend.steps,
        guidance=backend.guidance,
        negative_prompt=backend.negative_prompt,
        height=h,
        width=w,
        device=str(bench.device),
        dtype=_dtype_name(bench.dtype),
    )
    run_generate(bench.workdir / f"generate-{next(_runs)}", cfg, backend=backend, progress=False, echo=None)


def _bare(bench: Bench, pipe, prompts: list[str], steps: int, guidance: float, negative: str):
    import torch

    h, w = bench.profile.gen_hw
    neg = [negative] * len(prompts) if negative and guidance > 1.0 else None

    def call():
        with torch.inference_mode():
            return pipe(
                prompt=prompts,
                negative_prompt=neg,
                num_inference_steps=steps,
                guidance_scale=guidance,
                height=h,
                width=w,
                output_type="pt",
            ).images  # (B, 3, H, W)

    return call


def pair(
    bench: Bench,
    pipe,
    name: str,
    label: str,
    steps: int,
    guidance: float,
    negative: str,
    *,
    batches: int,
    compile: bool = False,
    backend=None,
    published: str = "",
) -> list[dict]:
    """Bare and ours rows for one setting; with `compile`, ours runs first and pays the compile."""
    p = bench.profile
    setting = {
        "model": label,
        "size": f"{p.gen_hw[0]}x{p.gen_hw[1]}",
        "batch": p.gen_batch,
        "steps": steps,
        "guidance": guidance,
        "cfg": guidance > 1.0,
        "dtype": _dtype_name(bench.dtype),
        "compile": compile,
        "compile_backend": (p.compile_backend or "inductor") if compile else None,
        "params_m": {
            "unet": params_m(pipe.unet),
            "vae": params_m(pipe.vae),
            "text_encoder": params_m(pipe.text_encoder),
        },
    }
    backend = backend or _backend(
        bench, pipe, name.split(".")[1] + "-random", steps, guidance, negative, compile
    )
    n = p.gen_batch * batches
    bare_fn = _bare(bench, pipe, captions(p.gen_batch, seed=steps, words=12), steps, guidance, negative)
    rows = {}
    for which in ("ours", "bare") if compile else ("bare", "ours"):
        bench.reset_peak()
        started = time.perf_counter()
        if which == "bare":
            items, sec = bench.timed(bare_fn, items_per_call=p.gen_batch, warmup=1, calls=batches)
        else:
            warm = time.perf_counter()
            _ours(bench, backend, p.gen_batch)  # warm-up (and compile) on one batch
            warm_s = time.perf_counter() - warm
            items, sec = bench.timed(lambda: _ours(bench, backend, n), items_per_call=n, warmup=0, calls=1)
        row = bench.row(
            f"{name}.{which}",
            items=items,
            seconds=sec,
            unit="images",
            setting=setting,
            compares_with=published,
            row_wall_s=time.perf_counter() - started,
            note="pipe(...) call loop, output tensors"
            if which == "bare"
            else "run_generate: plan + pipeline + JPEG/tar writer thread + parquet",
        )
        if which == "ours" and compile:
            row["first_batch_s"] = warm_s  # includes torch.compile
        rows[which] = row
    ratio(rows["ours"], rows["bare"], "our stage vs the bare pipeline call")
    return [rows["bare"], rows["ours"]]


def turbo_rows(bench: Bench, compile: bool = False) -> Iterator[dict]:
    """SD-Turbo at 1 and 4 steps, no guidance; eager, or with the UNet compiled by our backend."""
    bench.need("compile" if compile else "gen")
    pipe = sd_pipeline("turbo", bench.profile.size, bench.device, bench.dtype, bench.workdir)
    tag = "compiled" if compile else "eager"
    backend = None
    for i, steps in enumerate(bench.profile.turbo_steps):
        if i:
            bench.need("gen")
        if compile:
            # the first backend compiles pipe.unet in place (nn.Module.compile); later settings
            # reuse that compiled module instead of compiling a second time
            backend = _backend(bench, pipe, "sd-turbo-random", steps, 0.0, "", compile=(i == 0))
        yield from pair(
            bench,
            pipe,
            f"gen.sd-turbo.{steps}step.{tag}",
            TURBO,
            steps,
            0.0,
            "",
            batches=bench.profile.gen_batches,
            compile=compile,
            backend=backend,
            published=TURBO_PUBLISHED,
        )


def sd15_rows(bench: Bench) -> Iterator[dict]:
    """SD-1.5 with classifier-free guidance: the mals-faithful preset (25 steps, guidance 7.5)."""
    from mals_gen.generate.presets import DIFFUSION_PRESETS

    bench.need("sd15")
    p = bench.profile
    pipe = sd_pipeline("sd15", p.size, bench.device, bench.dtype, bench.workdir)
    negative = DIFFUSION_PRESETS["mals-faithful"]["negative_prompt"]
    yield from pair(
        bench,
        pipe,
        f"gen.sd15.{p.sd15_steps}step-cfg.eager",
        SD15,
        p.sd15_steps,
        p.sd15_guidance,
        negative,
        batches=p.sd15_batches,
        published=SD15_PUBLISHED,
    )
