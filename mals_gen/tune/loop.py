"""`tune_diffusion(shards, out, cfg)`: the accelerate training loop of `mals tune-diffusion`.

Every step's batch, caption dropout and noise are pure functions of (seed, step, rank), and the
full training state is saved every `checkpoint_every` steps, so `--resume` after a kill continues
at the checkpoint's step with the losses an uninterrupted run has. One process per GPU through
`accelerate launch`; each takes its own share of the global batch.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from tqdm import tqdm

from ..fsutil import ensure_writable_dir
from .checkpoint import resume_step, save_checkpoint, save_trainable_only
from .config import TuneConfig
from .data import TuneData
from .model import denoising_loss, load_base, prepare_trainable, step_generator, training_scheduler
from .output import TrainLog, sample_grid, save_result, write_card


def _accelerator(cfg: TuneConfig):
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    set_seed(cfg.seed)
    return Accelerator(mixed_precision=cfg.mixed_precision, cpu=cfg.device == "cpu")


def _optimiser(params, cfg: TuneConfig):
    import torch

    optimiser = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    warmup = max(1, cfg.warmup_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimiser, lambda s: min(1.0, (s + 1) / warmup))
    return optimiser, schedule


def _frozen_to(pipe, accelerator) -> None:
    """The frozen VAE and text encoder in the compute precision (half the memory under bf16/fp16)."""
    import torch

    dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(accelerator.mixed_precision)
    for module in (pipe.vae, pipe.text_encoder):
        module.to(accelerator.device) if dtype is None else module.to(accelerator.device, dtype=dtype)


def tune_diffusion(shards: str | Path, out: str | Path, cfg: TuneConfig, *, resume: bool = False,
                   progress: bool = True, echo: Callable[[str], None] | None = print, pipeline=None) -> dict:
    """Fine-tune `cfg.base` on the captioned images of `shards`; write the adapter, card and logs to `out`."""
    cfg = cfg.resolved()
    data = TuneData(shards, cfg.split, cfg.height, cfg.width, cfg.seed, cfg.caption_dropout)  # fails fast
    pipe = load_base(cfg, pipeline)
    out = ensure_writable_dir(out)
    accelerator = _accelerator(cfg)
    params = prepare_trainable(pipe, cfg)
    optimiser, schedule = _optimiser(params, cfg)
    unet, optimiser, schedule = accelerator.prepare(pipe.unet, optimiser, schedule)
    if cfg.method == "lora":
        save_trainable_only(accelerator)
    _frozen_to(pipe, accelerator)
    scheduler = training_scheduler(pipe)
    start = resume_step(accelerator, out, resume)
    main = accelerator.is_main_process
    log = TrainLog(out, start) if main else None
    if echo and main:
        echo(f"tune-diffusion: {len(data):,} captioned images of {shards} ({cfg.split}), {cfg.method}, "
             f"steps {start}..{cfg.steps} at batch {cfg.batch_size} x {accelerator.num_processes}")
    losses = []
    bar = tqdm(total=cfg.steps, initial=start, desc="tune-diffusion", unit="step", disable=not (progress and main))
    for step in range(start, cfg.steps):
        loss = _train_step(pipe, unet, scheduler, data, optimiser, schedule, accelerator, cfg, step)
        done = step + 1
        if loss is not None:
            losses = (losses + [loss])[-cfg.log_every:]
        if main and loss is not None and (done % cfg.log_every == 0 or done == cfg.steps or done == start + 1):
            log.write(done, {"loss": loss, "lr": schedule.get_last_lr()[0]})
        if done % cfg.checkpoint_every == 0 or done == cfg.steps:
            save_checkpoint(accelerator, out, done, cfg.keep_checkpoints)
        if main and (cfg.sample_every and done % cfg.sample_every == 0 or done == cfg.steps):
            _grid(pipe, accelerator, unet, cfg, out, done)
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.4f}" if loss is not None else "-")
    bar.close()
    summary = {"steps": cfg.steps, "pairs": len(data), "skipped": len(data.skipped.reasons),
               "skipped_keys": data.skipped.reasons, "world_size": accelerator.num_processes,
               "final_loss": sum(losses) / len(losses) if losses else float("nan")}
    accelerator.wait_for_everyone()
    if main:
        log.close()
        save_result(pipe, accelerator.unwrap_model(unet), cfg, out)
        write_card(out, cfg, str(shards), summary)
        if echo:
            echo(f"tune-diffusion: wrote {out} (final loss {summary['final_loss']:.4f}; sample grids in {out}/samples)")
    data.close()
    return summary


def _train_step(pipe, unet, scheduler, data, optimiser, schedule, accelerator, cfg, step: int) -> float | None:
    """One optimiser step on this process's share of the step's batch; the loss averaged over processes."""

    images, captions = data.batch(step, accelerator.process_index, accelerator.num_processes, cfg.batch_size)
    unet.train()
    if not captions:  # every image of this share was unreadable (warned about); keep processes in step
        loss = sum(p.sum() for p in unet.parameters() if p.requires_grad) * 0.0
    else:
        with accelerator.autocast():
            loss = denoising_loss(pipe, unet, scheduler, images, captions,
                                  step_generator(cfg.seed, step, accelerator.process_index))
    accelerator.backward(loss)
    if accelerator.sync_gradients:
        accelerator.clip_grad_norm_([p for p in unet.parameters() if p.requires_grad], cfg.max_grad_norm)
    optimiser.step()
    schedule.step()
    optimiser.zero_grad(set_to_none=True)
    mean = accelerator.reduce(loss.detach().float().reshape(1), reduction="mean")
    return float(mean.item()) if captions or accelerator.num_processes > 1 else None


def _grid(pipe, accelerator, unet, cfg: TuneConfig, out: Path, step: int) -> None:
    """A sample grid with the weights being trained (the pipeline shares the UNet module)."""
    unet.eval()
    pipe.unet = accelerator.unwrap_model(unet)
    with accelerator.autocast():
        sample_grid(pipe, cfg, out / "samples" / f"step-{step:07d}.png", step)
