"""Tuning row: one `mals tune-diffusion` step of an SD-1.5-sized UNet with LoRA, bf16, batch 16.

The step is our loop's own (`mals_gen.tune.loop._train_step`): the batch's images through the
frozen VAE, captions through the frozen CLIP text tower, noise and timesteps from the step's
generator, the UNet with peft LoRA adapters (rank 16 on the attention projections) under
accelerate's bf16 autocast, backward, gradient clipping, AdamW and the schedule. Images are
prepared arrays at the person aspect (the data reader is timed by scripts/bench_tune.py on CPU).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .core import Bench, captions, params_m
from .models import sd_pipeline

SD15_LORA = "SD-1.5 sized UNet + VAE + CLIP-L text tower, random weights; LoRA rank 16 on to_q/k/v/out"
PUBLISHED = "diffusers' LoRA example (SD-1.5, 512x512) trains at batch 1-8 on one 24 GB card; no throughput published"


class _Batches:
    """The `TuneData.batch` interface over one prepared batch (same images every step)."""

    def __init__(self, n: int, height: int, width: int):
        rng = np.random.default_rng(0)
        self.images = rng.integers(0, 256, (n, height, width, 3), dtype=np.uint8)
        self.captions = captions(n, seed=5, words=20)

    def batch(self, step, rank=0, world_size=1, batch_size=1, dropout=True):
        return self.images[:batch_size], self.captions[:batch_size]


def tune_rows(bench: Bench) -> Iterator[dict]:
    import torch
    from accelerate import Accelerator

    from mals_gen.tune.config import TuneConfig
    from mals_gen.tune.loop import _optimiser, _train_step
    from mals_gen.tune.model import prepare_trainable, training_scheduler

    bench.need("train")
    p = bench.profile
    height, width = p.gen_hw
    precision = "bf16" if bench.cuda else "no"
    batch = 16 if p.size == "full" else p.train_batch
    cfg = TuneConfig(height=height, width=width, batch_size=batch, mixed_precision=precision, lora_rank=16,
                     lora_alpha=16, device="auto" if bench.cuda else "cpu")
    pipe = sd_pipeline("sd15", p.size, bench.device, torch.float32, bench.workdir)
    params = prepare_trainable(pipe, cfg)
    accelerator = Accelerator(mixed_precision=precision, cpu=not bench.cuda)
    optimiser, schedule = _optimiser(params, cfg)
    unet, optimiser, schedule = accelerator.prepare(pipe.unet, optimiser, schedule)
    dtype = torch.bfloat16 if bench.cuda else torch.float32
    pipe.vae.to(dtype=dtype)
    pipe.text_encoder.to(dtype=dtype)
    scheduler = training_scheduler(pipe)
    data = _Batches(batch, height, width)
    steps = iter(range(10**9))
    bench.reset_peak()
    items, seconds = bench.timed(
        lambda: _train_step(pipe, unet, scheduler, data, optimiser, schedule, accelerator, cfg, next(steps)),
        items_per_call=batch, warmup=p.train_warmup, calls=p.train_steps)
    trainable = sum(x.numel() for x in params) / 1e6
    yield bench.row(
        "tune.sd15.lora.bf16", items=items, seconds=seconds, unit="images/s",
        setting={"batch": batch, "hw": [height, width], "precision": precision, "lora_rank": 16,
                 "unet_params_m": params_m(pipe.unet), "trainable_m": round(trainable, 2)},
        note=f"{SD15_LORA}; steps/s = images/s / {batch}", compares_with=PUBLISHED)
