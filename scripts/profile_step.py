"""Profile one training step: where an optimiser step's time goes, loss by loss.

Times forward + backward + AdamW step of the whole recipe, then of each loss alone (its weight
only, so its encoder passes are counted in its row), on a batch of the given size. The default is
the CPU demo's setting (aptm-mini, 192x64, batch 16, bf16 where the CPU has it). Rows do not sum
to the full step: the image pass is shared by every loss and counted in each row.

    .venv/bin/python scripts/profile_step.py [--size aptm-mini] [--batch 16] [--steps 3]
                                             [--img 192x64] [--recipe mals-pretrain] [--fp32]
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import time

import torch

from aptm_train.losses import LossWeights, MaskingVocab, Task, mask_tokens, named_task
from aptm_train.model.aptm import APTM
from aptm_train.model.config import named_config
from aptm_train.text import build_tokenizer, tokenize
from aptm_train.train.config import OptimConfig
from aptm_train.train.optim import build_optimizer

CAPTIONS = ["a man in a red short sleeved shirt and blue jeans walks with a black backpack",
            "a young woman with long black hair wears a white t-shirt, a grey skirt and white shoes"]


def make_batch(model: APTM, b: int) -> dict:
    g = torch.Generator().manual_seed(0)
    tok = build_tokenizer(model.config)
    ids, mask = tokenize(tok, [CAPTIONS[i % 2] for i in range(b)], model.config.text.max_len)
    mlm_ids, mlm_labels = mask_tokens(ids, mask, MaskingVocab.from_tokenizer(tok), g)
    return {"pixels": torch.randn(b, 3, *model.config.vision.img_size, generator=g), "input_ids": ids,
            "attention_mask": mask, "person_ids": torch.arange(b), "mlm_input_ids": mlm_ids,
            "mlm_labels": mlm_labels, "attrs": torch.randint(-1, 2, (b, 27), generator=g)}


def time_steps(model: APTM, task: Task, batch: dict, steps: int, bf16: bool) -> float:
    """Seconds per optimiser step (after one warm-up step)."""
    opt = build_optimizer(model, OptimConfig(lr=1e-5))       # the trainer's AdamW (fused where it can be)
    amp = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

    def step() -> None:
        with amp:
            loss = task(model, batch)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="aptm-mini")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--img", default="192x64", help="HxW input size")
    ap.add_argument("--recipe", default="mals-pretrain")
    ap.add_argument("--fp32", action="store_true", help="no bf16 autocast")
    args = ap.parse_args()
    h, w = (int(x) for x in args.img.split("x"))
    cfg = named_config(args.size)
    cfg = dataclasses.replace(cfg, vision=dataclasses.replace(cfg.vision, img_size=(h, w), drop_path_rate=0.0))
    torch.manual_seed(0)
    model = APTM.from_config(cfg).train()
    batch = make_batch(model, args.batch)
    recipe = named_task(args.recipe)
    bf16 = not args.fp32
    print(f"{args.size} {h}x{w}, batch {args.batch}, {'bf16' if bf16 else 'fp32'}, "
          f"threads {torch.get_num_threads()}, recipe {args.recipe}, {args.steps} timed steps each")
    full = time_steps(model, Task(recipe), batch, args.steps, bf16)
    print(f"{'losses':<24} {'s/step':>7} {'share of full':>14}")
    print(f"{'all (the recipe)':<24} {full:>7.3f} {1.0:>14.0%}")
    for name, weight in recipe.weights.enabled().items():
        alone = dataclasses.replace(recipe, weights=LossWeights(**{name: weight}))
        t = time_steps(model, Task(alone), batch, args.steps, bf16)
        print(f"{name + ' alone':<24} {t:>7.3f} {t / full:>14.0%}")


if __name__ == "__main__":
    main()
