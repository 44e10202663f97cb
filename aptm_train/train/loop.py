"""The training loop on accelerate: `train(cfg, resume=...)`.

Model, optimiser and scheduler go through `accelerator.prepare`; the data loader does not (it
splits by rank inside the WebDataset pipeline, see aptm_train/data/pipeline.py). Per batch: the
task's forward (inside the model's forward, so DDP and autocast apply), backward, and every
`grad_accum` batches (or at the epoch's end) clip, step, schedule. Around it: logging, periodic
validation on the val split (the best model is chosen on val R@1, never on test) and checkpoints
with the full state, so `--resume` continues bit-exactly on CPU.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

import torch

from mals_gen.errors import UserError
from mals_gen.fsutil import ensure_writable_dir, write_json_atomic

from ..data.batching import BatchStream, batches, epoch_batches
from ..data.pipeline import PairStream, make_loader, make_spec
from ..data.skips import warning_line
from . import resume as resume_rules
from . import setup
from .checkpoint import export_model, latest_checkpoint, load_checkpoint, save_checkpoint
from .config import TrainConfig
from .logging import RunLogger, timed
from .optim import build_optimizer, build_scheduler, steps_for
from .validate import itc_retrieval, val_samples

META_KEYS = ("keys", "workers", "skipped")


class Trainer:
    def __init__(self, cfg: TrainConfig, resume: bool, echo=print, progress: bool = True,
                 allow_config_change: bool = False):
        from accelerate import Accelerator
        from accelerate.utils import DistributedDataParallelKwargs, set_seed

        from ..text import build_tokenizer

        self.cfg, self.echo, self.progress = cfg, echo, progress
        self.allow_config_change = allow_config_change
        self.run = Path(cfg.out)
        self.task = setup.build_task(cfg)
        self.shards = setup.open_data(cfg, self.task.cfg)
        self.model_cfg = setup.model_config(cfg)
        self.checkpoint = self._checkpoint_to_resume(resume)
        # e.g. the CPU demo's ITC + ITM: the MLM head never gets a gradient, the fusion none before
        # loss.itm_start; DDP's reducer would wait for them and fail at the next step
        unused = self.task.may_leave_parameters_unused
        ddp = [DistributedDataParallelKwargs(find_unused_parameters=True)] if unused else []
        # cpu=True on a machine without CUDA lets torchrun-style launches (`accelerate launch
        # --multi_gpu --num_processes 2`) form a gloo process group on CPU.
        self.acc = Accelerator(mixed_precision=cfg.mixed_precision, step_scheduler_with_optimizer=False,
                               cpu=not torch.cuda.is_available(), kwargs_handlers=ddp)
        set_seed(cfg.seed)
        model = setup.build_model(cfg, self.model_cfg, echo)
        self.tokenizer = build_tokenizer(self.model_cfg)
        self.max_len = self.model_cfg.text.max_len          # one text length: training, validation, prompts
        self.collate = setup.collate_fn(cfg, self.tokenizer, self.task.cfg, self.max_len)
        norm = setup.norm_name(cfg, self.shards)
        self.train_tf, self.test_tf = setup.transforms(cfg, self.model_cfg, norm)
        self.eda = setup.eda_fn(cfg)
        self.workers = max(1, cfg.data.num_workers)
        _, total_pairs = self.shards.pair_layout("train")
        self.pairs_per_rank = total_pairs // self.acc.num_processes
        if self.pairs_per_rank == 0:
            raise UserError(f"shards {cfg.data.shards} hold {total_pairs} train pair(s), fewer than the "
                            f"{self.acc.num_processes} processes; use more data or fewer processes")
        self.batches_per_epoch = len(epoch_batches(self.pairs_per_rank, self.workers, cfg.data.batch_size))
        self.total_steps = steps_for(self.batches_per_epoch, cfg.epochs, cfg.optim.grad_accum, cfg.max_steps)
        optimizer = build_optimizer(model, cfg.optim)
        scheduler = build_scheduler(optimizer, cfg.schedule, self.total_steps)
        self.model, self.optimizer, self.scheduler = self.acc.prepare(model, optimizer, scheduler)
        self.config_text = setup.config_text(cfg, self.model_cfg, self.task.cfg)
        if cfg.optim.grad_accum > 1 and self.acc.is_main_process:
            echo(warn_grad_accum(cfg.data.batch_size, self.acc.num_processes, cfg.optim.grad_accum))
        self.state = {"step": 0, "epoch": 0, "consumed": [0] * self.workers, "best_val_r1": None,
                      "world_size": self.acc.num_processes, "num_workers": self.workers,
                      "skipped": 0, "skipped_epoch": 0}
        self._val, self._val_step, self._last_val = None, -1, None
        self._warned: set = set()

    # -- setup helpers ---------------------------------------------------------------------------
    def _checkpoint_to_resume(self, resume: bool) -> Path | None:
        latest = latest_checkpoint(self.run) if self.run.is_dir() else None
        if not resume:
            if latest is not None:
                raise UserError(f"{self.run} already holds checkpoints ({latest.name}); pass --resume to "
                                "continue that run or choose a new --out")
            return None
        if latest is None:
            raise UserError(f"--resume: {self.run} holds no complete checkpoint; start without --resume")
        setup.check_resume_compatible(self.run, self.model_cfg, latest)
        return latest

    def restore(self) -> None:
        if self.checkpoint is None:
            return
        state, task_state = load_checkpoint(self.acc, self.checkpoint)
        if state["num_workers"] != self.workers:
            raise UserError(f"{self.checkpoint} was saved with data.num_workers={state['num_workers']}; "
                            f"resume with the same value (got {self.workers})")
        self.state = {"skipped": 0, "skipped_epoch": 0} | state   # older checkpoints lack the counts
        if task_state:
            self.task.load_state_dict(task_state)
        self.echo(f"resumed from {self.checkpoint} at step {state['step']} (epoch {state['epoch']})")

    # -- the loop --------------------------------------------------------------------------------
    def fit(self) -> dict:
        self.restore()
        changes = self.resume_checks()
        if self.acc.is_main_process:
            ensure_writable_dir(self.run)
            (self.run / "config.yaml").write_text(self.config_text)
        self.log = RunLogger(self.run, self.total_steps, self.state["step"], self.acc.is_main_process,
                             progress=self.progress)
        if changes:
            self.log.write({"step": self.state["step"], "epoch": self.state["epoch"], "config_changes": changes})
        last = None
        try:
            while self.state["step"] < self.total_steps:
                last = self.run_epoch() or last
            if self._val_step != self.state["step"]:
                self.validate()
        finally:
            self.log.close()
        self.save()
        if self.acc.is_main_process:
            self.export(self.run / "model")
        self.acc.wait_for_everyone()
        self.acc.end_training()
        return {"step": self.state["step"], "last": last, "best_val_r1": self.state["best_val_r1"],
                "main_process": self.acc.is_main_process}

    def run_epoch(self) -> dict | None:
        cfg, st = self.cfg, self.state
        consumed = st["consumed"]
        spec = make_spec(self.shards, "train", rank=self.acc.process_index, world=self.acc.num_processes,
                         num_workers=cfg.data.num_workers, seed=cfg.seed, epoch=st["epoch"],
                         shuffle_buffer=cfg.data.shuffle_buffer, mode=cfg.data.mode, id_by=cfg.data.id_by,
                         attrs_field=self.task.cfg.attribute_set.label_field)
        # the workers decode, tokenise, mask and collate; a resumed epoch starts after the pairs consumed
        epoch = BatchStream(PairStream(spec, self.train_tf, self.eda), cfg.data.batch_size, self.collate,
                            start=sum(consumed))
        micro = epoch.first                 # batches of this epoch already trained on
        record = None
        stream = batches(iter(make_loader(epoch)), pad=self.acc.num_processes > 1)
        for batch in timed(stream, self.log.waited):
            window = min(cfg.optim.grad_accum, self.batches_per_epoch - (micro // cfg.optim.grad_accum)
                         * cfg.optim.grad_accum)
            sync = (micro + 1) % cfg.optim.grad_accum == 0 or micro + 1 == self.batches_per_epoch
            meta = {k: batch.pop(k) for k in META_KEYS}
            self.note_skipped(meta["skipped"])
            self.train_batch(batch, meta["keys"], window, sync)
            for w in meta["workers"]:
                consumed[w] += 1
            micro += 1
            if sync:
                record = self.after_step() or record
                if st["step"] >= self.total_steps:
                    return record
        st["epoch"] += 1
        st["consumed"] = [0] * self.workers
        st["skipped_epoch"] = 0
        if not cfg.eval_every:
            self.validate()
        return record

    def train_batch(self, batch: dict, keys: list[str], window: int, sync: bool) -> None:
        if self.cfg.data.log_sample_keys:
            self.log_keys(keys)
        batch = {k: v.to(self.acc.device) for k, v in batch.items()}
        self.task.step = self.state["step"]
        with self.acc.no_sync(self.model) if not sync else contextlib.nullcontext():
            with self.acc.autocast():
                out = self.task(self.model, batch)
            self.acc.backward(out["loss"] / window)
        self.log.accumulate({k: v.detach().float().item() for k, v in out.items()},
                            len(keys) * self.acc.num_processes)

    def after_step(self) -> dict | None:
        cfg, st = self.cfg, self.state
        if cfg.optim.clip_grad > 0:
            self.acc.clip_grad_norm_(self.model.parameters(), cfg.optim.clip_grad)
        self.optimizer.step()
        self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        st["step"] += 1
        self.log.step(st["step"])
        record = None
        if st["step"] % cfg.log_every == 0 or st["step"] == self.total_steps:
            extra = {"skipped_pairs": st["skipped"]} if st["skipped"] else {}
            record = self.log.flush(st["step"], st["epoch"], self.scheduler.get_last_lr()[0], extra)
        if cfg.eval_every and st["step"] % cfg.eval_every == 0:
            self.validate()
        if cfg.save_every and st["step"] % cfg.save_every == 0 and st["step"] < self.total_steps:
            self.save()
        return record

    def note_skipped(self, skipped: list) -> None:
        """Count unreadable pairs (one warning per tar and key) and stop past data.max_bad_fraction."""
        if not skipped:
            return
        st = self.state
        st["skipped"] += len(skipped)
        st["skipped_epoch"] += len(skipped)
        for url, key, reason in skipped:
            if (url, key) not in self._warned:
                self._warned.add((url, key))
                self.echo(warning_line(url, key, reason))
        fraction = self.cfg.data.max_bad_fraction
        if st["skipped_epoch"] > fraction * self.pairs_per_rank:
            url, key, reason = skipped[-1]
            raise UserError(f"{st['skipped_epoch']} of this epoch's {self.pairs_per_rank} training pairs are "
                            f"unreadable (last: {url} [{key}]), more than data.max_bad_fraction={fraction}; "
                            "find them with `mals verify --decode` and rebuild the shards, or raise "
                            "data.max_bad_fraction (--set data.max_bad_fraction=0.05)")

    def resume_checks(self) -> dict:
        """A resumed run: refuse a changed config (unless allowed) and drop the log records after the
        checkpoint; returns the allowed changes."""
        if self.checkpoint is None:
            return {}
        main, step = self.acc.is_main_process, self.state["step"]
        changes = resume_rules.check_config(self.run, self.checkpoint, self.config_text,
                                            self.allow_config_change, step, record=main)
        if changes and main:
            self.echo(f"resume: config changed since {self.checkpoint.name}: {resume_rules.describe(changes)} "
                      "(recorded in config_changes.jsonl)")
        dropped = resume_rules.truncate_log(self.run / "log.jsonl", step) if main else 0
        if dropped:
            self.echo(f"resume: dropped {dropped} log.jsonl record(s) written after step {step}")
        return changes

    # -- validation, checkpoints, export ---------------------------------------------------------
    def validate(self) -> None:
        self._val_step = self.state["step"]
        if self.acc.is_main_process:
            if self._val is None:
                self._val = val_samples(self.shards, self.cfg.data.val_max_images, self.cfg.data.id_by)
            from ..text import tokenize
            metrics = itc_retrieval(self.acc.unwrap_model(self.model), self._val, self.test_tf, self.tokenizer,
                                    tokenize, batch_size=self.cfg.data.batch_size, max_len=self.max_len,
                                    device=self.acc.device, autocast=self.acc.autocast)
            if metrics:
                self._last_val = metrics
                self.log.write({"step": self.state["step"], "epoch": self.state["epoch"], **metrics})
                best = self.state["best_val_r1"]
                if best is None or metrics["val_r1"] > best:
                    self.state["best_val_r1"] = metrics["val_r1"]
                    self.export(self.run / "best")
                    write_json_atomic(self.run / "best" / "best.json", {"step": self.state["step"], **metrics})
        self.state["best_val_r1"] = _broadcast(self.acc, self.state["best_val_r1"])

    def save(self) -> None:
        save_checkpoint(self.acc, self.run, self.state["step"], dict(self.state), self.task.state_dict(),
                        self.export, self.config_text, self.cfg.keep_last)

    def export(self, folder: Path) -> None:
        export_model(self.acc.unwrap_model(self.model), folder, self.cfg, self.shards, self.state["step"],
                     self._last_val)

    def log_keys(self, keys: list[str]) -> None:
        folder = self.run / "sample_keys"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"epoch-{self.state['epoch']:04d}-rank-{self.acc.process_index}.txt"
        with open(path, "a", encoding="utf-8") as f:
            f.write("".join(k + "\n" for k in keys))


def warn_grad_accum(batch_size: int, processes: int, grad_accum: int) -> str:
    """The one-line warning for gradient accumulation: contrastive losses see only the micro-batch."""
    return (f"warning: optim.grad_accum={grad_accum}: ITC and ITM see only the micro-batch "
            f"({batch_size * processes} pairs across {processes} process(es)), not the "
            f"{batch_size * processes * grad_accum} pairs of an optimiser step; the paper's recipes use no accumulation")


def _broadcast(acc, value):
    if acc.num_processes == 1:
        return value
    from accelerate.utils import broadcast_object_list
    return broadcast_object_list([value])[0]


def train(cfg: TrainConfig, *, resume: bool = False, echo=print, progress: bool = True,
          allow_config_change: bool = False) -> dict:
    """Run (or resume) training; returns {"step", "last" log record, "best_val_r1"}."""
    torch.set_float32_matmul_precision("high")
    return Trainer(cfg, resume, echo, progress, allow_config_change).fit()
