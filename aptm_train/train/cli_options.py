"""Flags shared by `aptm-train pretrain` and `finetune`: each given flag becomes a config override.

Flags win over the `--config` YAML file, which wins over the recipe's preset and the dataclass defaults;
`--set key=value` (repeatable) reaches any config key, e.g. `--set data.shuffle_buffer=5000` or
`--set model_overrides.vision.img_size=[96,32]`.
"""
from __future__ import annotations

from typing import Annotated

import typer

from mals_gen.config import deep_merge, parse_overrides

# Option types shared by both commands (typer's Annotated style).
Shards = Annotated[str, typer.Option("--shards", help="Shard folder (tars + sizes.json + manifest.parquet).")]
Out = Annotated[str, typer.Option("--out", "-o", help="Run folder: checkpoints, model/, best/, logs.")]
Size = Annotated[str | None, typer.Option("--model-size", help="Model size: aptm-tiny | aptm-mini | aptm-base.")]
ConfigFile = Annotated[str | None, typer.Option("--config", help="YAML file with training config keys "
                                                "(as `mals --config`: a file, never a model size).")]
Sets = Annotated[list[str] | None, typer.Option("--set", help="Override any key: --set data.batch_size=16.")]
Resume = Annotated[bool, typer.Option("--resume", help="Continue from the run's latest checkpoint.")]
Recipe = Annotated[str | None, typer.Option("--recipe", help=(
    "Recipe: mals-pretrain | finetune | pa100k. Each is the paper's (batch 150 / 120 / 200 per "
    "process) and trains as the original code did; to train our way, --set loss.itc_gradient to "
    "global, loss.attr_reduction to pairs, optim.no_decay to modules (all differences: "
    "docs/differences-from-original.md)."))]
MaxSteps = Annotated[int | None, typer.Option("--max-steps", help="Stop after this many optimiser steps.")]
Epochs = Annotated[int | None, typer.Option("--epochs", help="Epochs over the train split.")]
BatchSize = Annotated[int | None, typer.Option("--batch-size", help="Pairs per process per micro-batch "
                                              "(default: the recipe's).")]
Workers = Annotated[int | None, typer.Option("--workers", help="Data loader workers per process.")]
Lr = Annotated[float | None, typer.Option("--lr", help="Base learning rate.")]
GradAccum = Annotated[int | None, typer.Option("--grad-accum", help="Micro-batches per optimiser step "
                                              "(ITC and ITM still see one micro-batch).")]
ClipGrad = Annotated[float | None, typer.Option("--clip-grad", help="Max gradient norm (0 = off).")]
Precision = Annotated[str | None, typer.Option("--precision", help="Mixed precision: no | bf16 | fp16.")]
Seed = Annotated[int | None, typer.Option("--seed", help="Random seed.")]
SaveEvery = Annotated[int | None, typer.Option("--save-every", help="Optimiser steps between checkpoints.")]
KeepLast = Annotated[int | None, typer.Option("--keep-last", help="Checkpoints to keep.")]
EvalEvery = Annotated[int | None, typer.Option("--eval-every", help="Steps between validations (0 = per epoch).")]
LogEvery = Annotated[int | None, typer.Option("--log-every", help="Steps between log records.")]
Threads = Annotated[int | None, typer.Option("--threads", help="CPU threads per process (default: the cores "
                                         "this process may use / processes on this machine).")]
ItcWeight = Annotated[float, typer.Option("--itc-weight", help="w in the fused ranking ITM_norm + w x "
                                        "ITC_norm of the re-ranked candidates (0.002: the official code's, ITM's "
                                        "order; 1 weighs them equally).")]
AllowConfigChange = Annotated[bool, typer.Option("--allow-config-change", help="--resume with changed settings "
                                                 "(recorded in RUN/config_changes.jsonl).")]
NoProgress = Annotated[bool, typer.Option("--no-progress", help="Hide the progress bar (logs written to a "
                                          "file); log.jsonl and TensorBoard are still written.")]

_PATHS = {
    "shards": "data.shards", "batch_size": "data.batch_size", "workers": "data.num_workers",
    "lr": "optim.lr", "grad_accum": "optim.grad_accum", "clip_grad": "optim.clip_grad",
    "epochs": "epochs", "max_steps": "max_steps", "seed": "seed", "precision": "mixed_precision",
    "save_every": "save_every", "keep_last": "keep_last", "eval_every": "eval_every",
    "log_every": "log_every", "recipe": "recipe", "init": "init", "out": "out", "model_size": "model",
    "pretrained": "pretrained",
}


def overrides(sets: list[str] | None, **flags) -> dict:
    """Collect the given flags (None = not given) into a nested override mapping, then `--set`s."""
    data: dict = {}
    for name, value in flags.items():
        if value is None:
            continue
        node = data
        *parents, leaf = _PATHS[name].split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[leaf] = value
    return deep_merge(data, parse_overrides(sets or []))


def check_config_file(config_file: str | None) -> None:
    """`--config` was the model size before it meant a YAML file (as in `mals`): say so in one line."""
    from pathlib import Path

    from mals_gen.errors import UserError

    from ..model.config import NAMED_CONFIGS

    if config_file in NAMED_CONFIGS and not Path(config_file).exists():
        raise UserError(f"--config {config_file}: --config takes a YAML file now; choose the model size "
                        f"with --model-size {config_file}")


def run(command: str, config_file: str | None, resume: bool, over: dict, progress: bool = True,
        threads: int | None = None, allow_config_change: bool = False) -> None:
    from ..threads import set_threads
    from .config import resolve
    from .loop import train

    check_config_file(config_file)
    cfg = resolve(command, config_file, over)
    set_threads(threads)
    result = train(cfg, resume=resume, progress=progress, allow_config_change=allow_config_change)
    if not result["main_process"]:
        return
    last = result.get("last") or {}
    loss = f"loss {last['loss']:.4f}, " if "loss" in last else ""
    best = result.get("best_val_r1")
    print(f"{command}: done at step {result['step']}: {loss}best val R@1 "
          f"{'n/a' if best is None else f'{best:.2f}'}; model in {cfg.out}/model")
