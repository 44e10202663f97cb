"""Benchmark the tuning loop's overhead outside the model call, on CPU with a tiny model.

Builds a tiny shard folder (person-shaped JPEGs with captions) and a tiny random Stable
Diffusion pipeline, then times in the same process, with the same weights and batch size:
  bare  a plain loop over prepared tensors: VAE encode, text encode, UNet with LoRA, MSE,
        backward, AdamW (the floor: nothing but the model calls)
  ours  the loop of `mals tune-diffusion` (mals_gen.tune.loop._train_step): the step's batch read
        from the shards (tar index, JPEG decode, letterbox), caption choice and dropout,
        tokenisation, seeded noise, accelerate's backward / clipping, the schedule
ours / bare is what the loop adds around the model. With a tiny model the model call is cheap,
so the ratio is an upper bound of the overhead at full size.

    PYTHONPATH=. .venv/bin/python scripts/bench_tune.py [--steps 30] [--batch 8]
"""
from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from benchutil import int_options  # scripts/benchutil.py (the script's folder is on sys.path)
from PIL import Image

from mals_gen.contract import ShardSample
from mals_gen.shard.dataset import Sample, write_dataset
from mals_gen.shard.images import ImageSpec
from mals_gen.testing import build_tiny_sd_pipeline
from mals_gen.tune.config import TuneConfig
from mals_gen.tune.data import TuneData
from mals_gen.tune.loop import _optimiser, _train_step
from mals_gen.tune.model import prepare_trainable, training_scheduler

HEIGHT, WIDTH = 64, 32


def write_shards(folder: Path, n: int) -> Path:
    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        buf = io.BytesIO()
        Image.fromarray(rng.integers(0, 255, (128, 48, 3), dtype=np.uint8)).save(buf, format="JPEG", quality=90)
        samples.append(Sample(ShardSample(key=f"t_{i:06d}", split="train", source="bench",
                                          captions=(f"a person in a shirt number {i}",), image=buf.getvalue())))
    write_dataset(samples, folder, spec=ImageSpec(crop=False, height=None), samples_per_shard=64, progress=False)
    return folder


def setup(cfg: TuneConfig):
    from accelerate import Accelerator

    pipe = build_tiny_sd_pipeline(0)
    params = prepare_trainable(pipe, cfg)
    accelerator = Accelerator(cpu=True)
    optimiser, schedule = _optimiser(params, cfg)
    unet, optimiser, schedule = accelerator.prepare(pipe.unet, optimiser, schedule)
    return pipe, unet, optimiser, schedule, accelerator, params


def bare(cfg: TuneConfig, steps: int, pixels: torch.Tensor, ids: torch.Tensor) -> float:
    pipe, unet, optimiser, *_ = setup(cfg)
    scheduler = training_scheduler(pipe)
    started = time.perf_counter()
    for step in range(steps):
        gen = torch.Generator().manual_seed(step)
        with torch.no_grad():
            latents = pipe.vae.encode(pixels).latent_dist.sample(generator=gen) * pipe.vae.config.scaling_factor
            hidden = pipe.text_encoder(ids)[0]
        noise = torch.randn(latents.shape, generator=gen)
        t = torch.randint(0, 1000, (latents.shape[0],), generator=gen)
        loss = torch.nn.functional.mse_loss(unet(scheduler.add_noise(latents, noise, t), t, hidden).sample, noise)
        loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
    return time.perf_counter() - started


def ours(cfg: TuneConfig, steps: int, shards: Path) -> float:
    pipe, unet, optimiser, schedule, accelerator, _ = setup(cfg)
    data = TuneData(shards, "train", HEIGHT, WIDTH, seed=0, caption_dropout=cfg.caption_dropout)
    scheduler = training_scheduler(pipe)
    started = time.perf_counter()
    for step in range(steps):
        _train_step(pipe, unet, scheduler, data, optimiser, schedule, accelerator, cfg, step)
    return time.perf_counter() - started


def main() -> None:
    args = int_options(__doc__, steps=30, batch=8).parse_args()
    torch.set_num_threads(1)
    cfg = TuneConfig(height=HEIGHT, width=WIDTH, batch_size=args.batch, lora_rank=4, lora_alpha=4, device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        shards = write_shards(Path(tmp) / "shards", n=max(64, args.batch * 4))
        data = TuneData(shards, "train", HEIGHT, WIDTH)
        images, captions = data.batch(0, batch_size=args.batch)
        pixels = torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        pipe = build_tiny_sd_pipeline(0)
        ids = pipe.tokenizer(captions, padding="max_length", max_length=77, truncation=True,
                             return_tensors="pt").input_ids
        ours(cfg, 2, shards), bare(cfg, 2, pixels, ids)  # warm-up: first calls allocate and import
        t_bare = bare(cfg, args.steps, pixels, ids)
        t_ours = ours(cfg, args.steps, shards)
    n = args.steps * args.batch
    print(f"bare loop : {n / t_bare:8.1f} samples/s ({t_bare / args.steps * 1000:.1f} ms/step)")
    print(f"ours      : {n / t_ours:8.1f} samples/s ({t_ours / args.steps * 1000:.1f} ms/step)")
    print(f"ours / bare time: {t_ours / t_bare:.2f}x (overhead outside the model call: "
          f"{(t_ours - t_bare) / args.steps * 1000:.1f} ms/step; tiny model, CPU)")


if __name__ == "__main__":
    main()
