"""Training rows: one full APTM pretraining step, and the streaming data loader alone.

The step is what `aptm_train.train.loop` does per batch with one process: the mals-pretrain
`Task` (ITC + ITM + MLM + IAC + IAM + MAM) inside the model's forward, backward, AdamW step with
the trainer's parameter groups, zero_grad, and the per-step `.item()` of every loss for logging.
fp32 runs with TF32 matmuls as the trainer sets them; bf16 wraps the forward in autocast, which
is what accelerate's `mixed_precision="bf16"` does (fp32 master weights and optimiser state).
The batch comes from our Collate (tokenise + MLM masking) and stays on the device.
The loader row reads WebDataset shards written here with the trainer's pipeline (PairStream ->
BatchStream: DataLoader workers that collate whole batches -> batches hands them over) and
times one epoch after its first batch.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import random
import time
from collections.abc import Iterator

from .core import Bench, captions, jpeg, params_m, pictures, write_vocab
from .models import aptm, aptm_config

APTM_PUBLISHED = (
    "APTM paper: MALS pretraining, global batch 600 on 4 GPUs, 32 epochs (no throughput published)"
)


def collate_for(cfg):
    """The trainer's collate (setup.collate_fn) for this model config."""
    from aptm_train.data.collate import Collate
    from aptm_train.losses.mlm import MaskingVocab, mask_tokens
    from aptm_train.text import build_tokenizer, tokenize

    tok = build_tokenizer(cfg)
    mask = functools.partial(mask_tokens, vocab=MaskingVocab.from_tokenizer(tok))
    return Collate(tok, tokenize, mask, max_len=cfg.text.max_len)


def random_batch(cfg, n: int, device) -> dict:
    import torch

    gen = random.Random(0)
    h, w = cfg.vision.img_size
    pairs = [
        {
            "pixels": torch.randn(3, h, w),
            "caption": text,
            "source": "mals-sd",
            "person_id": i,
            "attrs": [gen.choice((-1, 0, 1)) for _ in range(27)],
            "key": f"b{i}",
            "caption_index": 0,
            "seed": i,
        }
        for i, text in enumerate(captions(n, seed=2))
    ]
    batch = collate_for(cfg)(pairs)
    return {k: v.to(device) for k, v in batch.items() if k not in ("keys", "workers")}


def train_rows(bench: Bench) -> Iterator[dict]:
    import torch

    from aptm_train.losses import Task, named_task
    from aptm_train.train.config import OptimConfig
    from aptm_train.train.optim import build_optimizer

    bench.need("train")
    p = bench.profile
    cfg = aptm_config(p.aptm, write_vocab(bench.workdir / "vocab"))
    model = aptm(cfg, bench.device).train()
    task = Task(dataclasses.replace(named_task("mals-pretrain"), seed=0))
    opt = build_optimizer(model, OptimConfig())
    batch = random_batch(cfg, p.train_batch, bench.device)
    previous = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")  # as aptm_train.train.loop.train does
    try:
        for precision in ("fp32", "bf16"):
            bench.need("train")

            def step(precision=precision):
                autocast = (
                    torch.autocast(bench.device.type, dtype=torch.bfloat16)
                    if precision == "bf16"
                    else contextlib.nullcontext()
                )
                with autocast:
                    out = task(model, batch)
                out["loss"].backward()
                opt.step()
                opt.zero_grad(set_to_none=True)
                return {k: v.detach().float().item() for k, v in out.items()}  # the loop logs each step

            bench.reset_peak()
            items, sec = bench.timed(
                step, items_per_call=p.train_batch, warmup=p.train_warmup, calls=p.train_steps
            )
            yield bench.row(
                f"train.{p.aptm}.{precision}",
                items=items,
                seconds=sec,
                unit="samples",
                setting={
                    "model": f"{p.aptm} (random init)",
                    "params_m": params_m(model),
                    "recipe": "mals-pretrain (6 losses)",
                    "batch_per_gpu": p.train_batch,
                    "precision": precision,
                    "fp32_matmul": "tf32 (high)",
                    "optimizer": "AdamW",
                },
                note="forward + backward + AdamW step + loss logging",
                compares_with=APTM_PUBLISHED,
            )
    finally:
        torch.set_float32_matmul_precision(previous)


def write_shards(bench: Bench, folder, n: int, tars: int, size: tuple[int, int]):
    """n train samples in `tars` tars, written by the product's shard writer (images kept as they are)."""
    from mals_gen.contract import ShardSample
    from mals_gen.shard.dataset import Sample, write_dataset
    from mals_gen.shard.images import ImageSpec

    jpgs = bench_jpegs(bench, n, size)
    texts = captions(n, seed=4)
    samples = [Sample(ShardSample(key=f"s_{i:09d}", split="train", source="mals-sd", captions=[texts[i]],
                                  mals_attrs=[1] * 27, image=jpgs[i])) for i in range(n)]
    write_dataset(samples, folder, spec=ImageSpec(crop=False, height=None), samples_per_shard=-(-n // tars),
                  progress=False)
    return folder


def bench_jpegs(bench: Bench, n: int, size: tuple[int, int]) -> list[bytes]:
    """n JPEGs of `size` (H, W), made once per run and cycled when more are asked for."""
    key = ("jpegs", size)
    have = bench.cache.setdefault(key, [])
    if len(have) < min(n, bench.profile.loader_images):
        have += [
            jpeg(im)
            for im in pictures(min(n, bench.profile.loader_images) - len(have), *size, seed=len(have))
        ]
    return [have[i % len(have)] for i in range(n)]


def loader_rows(bench: Bench) -> Iterator[dict]:
    from aptm_train.data.batching import BatchStream, batches
    from aptm_train.data.pipeline import PairStream, make_loader, make_spec
    from aptm_train.data.shards import open_shards
    from aptm_train.data.transforms import train_transform

    bench.need("loader")
    p = bench.profile
    cfg = aptm_config(p.aptm, write_vocab(bench.workdir / "vocab"))
    size = tuple(cfg.vision.img_size)
    shards = open_shards(write_shards(bench, bench.workdir / "shards", p.loader_images, p.loader_tars, size))
    spec = make_spec(shards, "train", num_workers=p.loader_workers, seed=0)
    stream = PairStream(spec, train_transform(size, "mals"))
    bench.reset_peak()
    started = time.perf_counter()
    first, count = None, 0
    for batch in batches(iter(make_loader(BatchStream(stream, p.train_batch, collate_for(cfg))))):
        if first is None:
            first = time.perf_counter()  # workers are up: time the rest of the epoch
        else:
            count += len(batch["keys"])
    sec = time.perf_counter() - first
    yield bench.row(
        "loader.webdataset",
        items=count,
        seconds=sec,
        unit="samples",
        setting={
            "workers": p.loader_workers,
            "batch": p.train_batch,
            "images": f"{size[0]}x{size[1]} JPEG",
            "samples": p.loader_images,
            "tars": p.loader_tars,
            "transform": "train (resize, flip, RandAugment 2/7, erasing)",
        },
        note=f"one epoch after the first batch; worker start-up + first batch {first - started:.1f} s",
        startup_s=first - started,
        compares_with="train rows: the loader must outrun the step's samples/s",
    )
