"""Training checkpoints: full state for `--resume`, an exported model folder, keep the last K.

RUN/checkpoints/step-00000030/
    accelerate state     model, optimiser, scheduler, grad scaler, RNG of every process
    trainer_state.json   step, epoch, pairs consumed per loader worker (the data position), best
    task_state.pt        the loss task's generator (hard negatives, prompt draws), per process
    model/               a model folder (config.json, model.safetensors, tokenizer, README.md card)
    train_config.yaml    the resolved training config
A checkpoint is written under `step-N.tmp` and renamed when complete, so a process killed while
saving leaves no half checkpoint behind (the next save or resume sweeps the leftover away).
"""
from __future__ import annotations

import contextlib
import json
import logging
import shutil
from pathlib import Path

import torch

from mals_gen.errors import UserError

STATE_NAME = "trainer_state.json"
TMP_SUFFIX = ".tmp"


def checkpoint_dir(run: Path, step: int) -> Path:
    return run / "checkpoints" / f"step-{step:08d}"


def complete_checkpoints(run: Path) -> list[Path]:
    folder = run / "checkpoints"
    if not folder.is_dir():
        return []
    done = [p for p in folder.iterdir() if p.is_dir() and not p.name.endswith(TMP_SUFFIX)
            and (p / STATE_NAME).is_file()]
    return sorted(done, key=lambda p: p.name)


def latest_checkpoint(run: Path) -> Path | None:
    done = complete_checkpoints(run)
    return done[-1] if done else None


def save_checkpoint(accelerator, run: Path, step: int, state: dict, task_state: dict,
                    export_fn, config_text: str, keep_last: int) -> Path:
    """Save on every process (accelerate writes RNG per process); the main process renames."""
    final = checkpoint_dir(run, step)
    tmp = final.with_name(final.name + TMP_SUFFIX)
    if accelerator.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    accelerator.wait_for_everyone()
    with quiet_shared_tensor_warning():
        accelerator.save_state(str(tmp))
    torch.save(task_state, tmp / f"task_state_{accelerator.process_index}.pt")
    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        export_fn(tmp / "model")
        (tmp / "train_config.yaml").write_text(config_text)
        (tmp / STATE_NAME).write_text(json.dumps(state, indent=2) + "\n")  # last: marks it complete
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
        prune(run, keep_last)
    accelerator.wait_for_everyone()
    return final


class _DropSharedTensorNote(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "Removed shared tensor" not in str(record.getMessage())   # accelerate prefixes "[RANK n] "


@contextlib.contextmanager
def quiet_shared_tensor_warning():
    """Silence accelerate's "Removed shared tensor" note while it saves our model.

    Our MLM decoder weight and bias are aliases of the word embeddings and `cls.predictions.bias`
    (tied by construction); safetensors cannot store an alias, so accelerate drops the second name
    and says so on every save. Nothing is lost: `load_state` re-ties them (resume tests check the
    restored weights). Only that exact message is dropped; every other accelerate warning passes.
    """
    logger = logging.getLogger("accelerate.utils.other")
    note = _DropSharedTensorNote()
    logger.addFilter(note)
    try:
        yield
    finally:
        logger.removeFilter(note)


def export_model(model, folder: Path, cfg, shards, step: int, val: dict | None = None) -> None:
    """An exported model folder whose config.json and model card note the data, recipe, step, validation."""
    from ..model.card import metric_row
    from ..model.checkpoint import save_model

    counts = {split: shards.counts(split) for split in ("train", "val", "test")}
    training = {"recipe": cfg.recipe, "step": step, "init": cfg.init, "shards": str(cfg.data.shards),
                "counts": {s: {"samples": c.samples, "pairs": c.pairs} for s, c in counts.items() if c.samples}}
    rows = []
    if val:     # the trainer's own validation: ITC only, on at most data.val_max_images images
        rows.append(metric_row(str(cfg.data.shards), "val", "itc (training validation)",
                               {"R@1": val.get("val_r1"), "R@5": val.get("val_r5"), "R@10": val.get("val_r10")}))
        training["validation"] = val
    save_model(model, folder, extra_config={"training": training}, card_rows=rows)


def prune(run: Path, keep_last: int) -> None:
    for old in complete_checkpoints(run)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    for leftover in (run / "checkpoints").glob(f"*{TMP_SUFFIX}"):
        shutil.rmtree(leftover, ignore_errors=True)


def load_checkpoint(accelerator, folder: Path) -> tuple[dict, dict]:
    """Restore accelerate state; return (trainer state, this process's task state)."""
    state = json.loads((folder / STATE_NAME).read_text())
    if state.get("world_size", 1) != accelerator.num_processes:
        raise UserError(f"{folder} was saved by {state.get('world_size')} process(es) but this run has "
                        f"{accelerator.num_processes}; resume with the same number of processes")
    accelerator.load_state(str(folder))
    task_path = folder / f"task_state_{accelerator.process_index}.pt"
    task_state = torch.load(task_path, weights_only=False) if task_path.is_file() else {}
    return state, task_state
