"""`mals tune-diffusion --shards shards/NAME --base MODEL --out models/NAME`: fine-tune the generator."""
from __future__ import annotations

import typer

from ._options import CONFIG_FILE, NO_PROGRESS, SET


def tune_config(config_file: str | None, flags: dict, overrides: list[str] | None):
    """TuneConfig from defaults < YAML (the file itself or its `tune:` mapping) < flags < --set."""
    from ..config import deep_merge, from_mapping, load_yaml, parse_overrides
    from ..tune.config import TuneConfig

    settings = load_yaml(config_file) if config_file else {}
    settings = settings.get("tune", settings) if isinstance(settings.get("tune"), dict) else settings
    settings = deep_merge(settings, {k: v for k, v in flags.items() if v is not None})
    parsed = parse_overrides(overrides or [])  # `--set steps=9` and `--set tune.steps=9` alike
    nested = parsed.pop("tune", {})
    settings = deep_merge(deep_merge(settings, parsed), nested if isinstance(nested, dict) else {})
    return from_mapping(TuneConfig, settings, "tune").resolved()


def tune_diffusion(
    shards: str = typer.Option(..., "--shards", help="Shard folder with captioned images (any importer, any run)."),
    base: str | None = typer.Option(None, "--base", help="Base pipeline: hub id or folder (default SD 1.5)."),
    out: str = typer.Option(..., "--out", "-o", help="Folder for the adapter (or pipeline), card, logs, checkpoints."),
    method: str | None = typer.Option(None, "--method", help="lora (default) or full (the whole UNet)."),
    split: str | None = typer.Option(None, "--split", help="Split of the shards to learn from (default train)."),
    steps: int | None = typer.Option(None, "--steps"),
    batch_size: int | None = typer.Option(None, "--batch-size", help="Per process."),
    lr: float | None = typer.Option(None, "--lr"),
    lora_rank: int | None = typer.Option(None, "--lora-rank"),
    height: int | None = typer.Option(None, "--height", help="Pixels (default 512); images are padded, not squashed."),
    width: int | None = typer.Option(None, "--width", help="Pixels (default 256)."),
    caption_dropout: float | None = typer.Option(None, "--caption-dropout", help="Share of empty captions (CFG)."),
    mixed_precision: str | None = typer.Option(None, "--mixed-precision", help="no, bf16 or fp16."),
    gradient_checkpointing: bool | None = typer.Option(None, "--gradient-checkpointing/--no-gradient-checkpointing"),
    checkpoint_every: int | None = typer.Option(None, "--checkpoint-every"),
    sample_every: int | None = typer.Option(None, "--sample-every", help="Steps between sample grids (0: at the end)."),
    seed: int | None = typer.Option(None, "--seed"),
    device: str | None = typer.Option(None, "--device", help="auto or cpu."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint in --out."),
    config_file: str | None = CONFIG_FILE,
    overrides: list[str] | None = SET,
    no_progress: bool = NO_PROGRESS,
) -> None:
    """Fine-tune a diffusers text-to-image pipeline on (image, caption) pairs of shards (LoRA by default)."""
    from ..tune.loop import tune_diffusion as run

    flags = {"base": base, "method": method, "split": split, "steps": steps, "batch_size": batch_size, "lr": lr,
             "lora_rank": lora_rank, "height": height, "width": width, "caption_dropout": caption_dropout,
             "mixed_precision": mixed_precision, "gradient_checkpointing": gradient_checkpointing,
             "checkpoint_every": checkpoint_every, "sample_every": sample_every, "seed": seed, "device": device}
    cfg = tune_config(config_file, flags, overrides)
    run(shards, out, cfg, resume=resume, progress=not no_progress, echo=typer.echo)


def register(app: typer.Typer) -> None:
    app.command("tune-diffusion")(tune_diffusion)
