"""Benchmark: APTM forward+backward samples/s (the full MALS-pretraining loss), bf16 autocast vs fp32.

CPU: aptm-tiny and aptm-mini. GPU (when available): aptm-base at batch 32, 384x128, bf16 vs fp32
(the original trains in fp32), with peak memory. The baseline (fp32) runs in the same process and
the table prints the ratio.

    .venv/bin/python scripts/bench_model.py [--batch 8] [--steps 3] [--sizes aptm-tiny,aptm-mini]
                                            [--threads N] [--gpu-only]
"""
from __future__ import annotations

import argparse
import contextlib
import time

import torch

from aptm_train.losses import MaskingVocab, Task, mask_tokens, named_task
from aptm_train.model.aptm import APTM
from aptm_train.model.config import named_config
from aptm_train.text import build_tokenizer, tokenize

CAPTION = ("a young woman with long black hair wears a white short sleeved t-shirt, blue jeans and white "
           "sneakers, carrying a black backpack on her shoulder")


def make_batch(model: APTM, b: int, device: str) -> dict:
    g = torch.Generator().manual_seed(0)
    tok = build_tokenizer(model.config)
    ids, mask = tokenize(tok, [CAPTION] * b)
    mlm_ids, mlm_labels = mask_tokens(ids, mask, MaskingVocab.from_tokenizer(tok), g)
    batch = {"pixels": torch.randn(b, 3, *model.config.vision.img_size, generator=g), "input_ids": ids,
             "attention_mask": mask, "person_ids": torch.arange(b), "mlm_input_ids": mlm_ids,
             "mlm_labels": mlm_labels, "attrs": torch.randint(-1, 2, (b, 27), generator=g)}
    return {k: v.to(device) for k, v in batch.items()}


def run(name: str, device: str, dtype: str, b: int, steps: int) -> tuple[float, float]:
    """(samples/s, peak GiB or nan) of `steps` timed optimiser steps after one warm-up step."""
    torch.manual_seed(0)
    model = APTM.from_config(named_config(name)).to(device).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-5)
    task = Task(named_task("mals-pretrain"))
    batch = make_batch(model, b, device)
    amp = (torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16) if dtype == "bf16"
           else contextlib.nullcontext())

    def step():
        with amp:
            loss = task(model, batch)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.startswith("cuda") else float("nan")
    return b * steps / elapsed, peak


def bf16_supported(device: str) -> bool:
    if device.startswith("cuda"):
        return torch.cuda.is_bf16_supported()
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            torch.nn.functional.linear(torch.randn(2, 2), torch.randn(2, 2))
        return True
    except RuntimeError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=8, help="CPU batch size")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--sizes", default="aptm-tiny,aptm-mini")
    ap.add_argument("--gpu-only", action="store_true")
    ap.add_argument("--threads", type=int, default=0,
                    help="CPU threads (0 = torch default); on a shared machine 1 avoids OpenMP spin contention")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    plan = [] if args.gpu_only else [(n, "cpu", args.batch) for n in args.sizes.split(",")]
    if torch.cuda.is_available():
        plan.append(("aptm-base", "cuda", 32))
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, task mals-pretrain (all six losses)")
    print(f"{'model':<10} {'device':<6} {'batch':>5} {'fp32 s/s':>9} {'bf16 s/s':>9} {'bf16/fp32':>9} "
          f"{'fp32 GiB':>8} {'bf16 GiB':>8}")
    for name, device, b in plan:
        fp32, mem32 = run(name, device, "fp32", b, args.steps)
        if bf16_supported(device):
            bf16, mem16 = run(name, device, "bf16", b, args.steps)
        else:
            bf16, mem16 = float("nan"), float("nan")
        print(f"{name:<10} {device:<6} {b:>5} {fp32:>9.2f} {bf16:>9.2f} {bf16 / fp32:>9.2f} "
              f"{mem32:>8.2f} {mem16:>8.2f}")


if __name__ == "__main__":
    main()
