"""Tuning checkpoints: accelerate's full state (weights, optimiser, schedule) every N steps, for --resume.

A checkpoint folder is written under a temporary name and renamed when complete, so a kill in
the middle of a save leaves the previous checkpoint as the one to resume from.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from ..errors import UserError

STATE_FILE = "tune_state.json"
TRAINABLE_FILE = "trainable.safetensors"


def save_trainable_only(accelerator) -> None:
    """LoRA checkpoints hold the adapter's weights only (MBs), not the frozen UNet (3.4 GB for SD 1.5)."""

    def save(models, weights, folder):
        from safetensors.torch import save_file

        for i, model in enumerate(models):
            named = accelerator.unwrap_model(model).named_parameters()  # no DDP "module." prefix
            params = {n: p.detach().contiguous().cpu() for n, p in named if p.requires_grad}
            if accelerator.is_main_process:
                save_file(params, str(Path(folder) / f"{i}-{TRAINABLE_FILE}"))
        weights.clear()  # accelerate would write every weight otherwise

    def load(models, folder):
        from safetensors.torch import load_file

        for i, model in enumerate(list(models)):
            model = accelerator.unwrap_model(model)
            missing = model.load_state_dict(load_file(str(Path(folder) / f"{i}-{TRAINABLE_FILE}")), strict=False)
            if missing.unexpected_keys:
                raise UserError(f"{folder}: the checkpoint does not fit this model ({missing.unexpected_keys[0]}); "
                                "resume with the settings it was written with, or choose a new --out")
        models.clear()

    accelerator.register_save_state_pre_hook(save)
    accelerator.register_load_state_pre_hook(load)


def checkpoint_root(out: Path) -> Path:
    return out / "checkpoints"


def complete_checkpoints(out: Path) -> list[Path]:
    root = checkpoint_root(out)
    found = [p for p in root.glob("step-*") if p.is_dir() and (p / STATE_FILE).is_file()] if root.is_dir() else []
    return sorted(found, key=lambda p: int(p.name.split("-")[1]))


def save_checkpoint(accelerator, out: Path, step: int, keep: int) -> None:
    """All processes call this (accelerate saves each one's share); the main one finalises it."""
    final = checkpoint_root(out) / f"step-{step:07d}"
    tmp = final.with_name(final.name + ".tmp")
    if accelerator.is_main_process and tmp.exists():
        shutil.rmtree(tmp)
    accelerator.wait_for_everyone()
    accelerator.save_state(str(tmp))
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        (tmp / STATE_FILE).write_text(json.dumps({"step": step}))
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        for old in complete_checkpoints(out)[:-keep]:
            shutil.rmtree(old)
    accelerator.wait_for_everyone()


def resume_step(accelerator, out: Path, resume: bool) -> int:
    """The step to start from: 0, or the latest complete checkpoint's (its state loaded) with --resume."""
    found = complete_checkpoints(out)
    if not resume:
        if found or (out / "tune.json").exists():
            raise UserError(f"{out} already holds a tuning run: pass --resume to continue it, or choose a new --out")
        return 0
    if not found:
        return 0  # nothing saved yet: --resume of a run killed before its first checkpoint starts over
    accelerator.load_state(str(found[-1]))
    return int(json.loads((found[-1] / STATE_FILE).read_text())["step"])
