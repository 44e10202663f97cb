"""`mals generate`: plan N samples and draw their images (diffusers or sketch backend)."""
from __future__ import annotations

import typer

from ._options import CONFIG_FILE, NO_PROGRESS, RANK, SET, WORLD_SIZE, stage_config


def generate(
    out: str = typer.Option(..., "--out", "-o", help="Run folder to create or resume."),
    n: str | None = typer.Option(None, "--n", help="Samples to plan: 2000, 10k, 1.5M (default 2000)."),
    backend: str | None = typer.Option(None, "--backend", help="diffusers (default) or sketch (no weights)."),
    model: str | None = typer.Option(None, "--model", help="Diffusion pipeline: hub id or local folder."),
    lora: str | None = typer.Option(None, "--lora", help="LoRA folder of `mals tune-diffusion` to load onto --model."),
    preset: str | None = typer.Option(None, "--preset", help="sd-turbo (default), mals-faithful or sda-style."),
    prompts: str | None = typer.Option(None, "--prompts", help="File of descriptions (.txt/.jsonl/.parquet/"
                                          "CUHK-PEDES, ICFG-PEDES or RSTPReid .json) instead of the composer."),
    prompt_field: str | None = typer.Option(None, "--prompt-field", help="Column holding the text."),
    prompt_eda: float | None = typer.Option(None, "--prompt-eda", help="EDA edit rate of reused descriptions "
                                                                       "(SDA's expanded prompts; 0 = as they are)."),
    batch_size: int | None = typer.Option(None, "--batch-size"),
    steps: int | None = typer.Option(None, "--steps"),
    guidance: float | None = typer.Option(None, "--guidance"),
    negative_prompt: str | None = typer.Option(None, "--negative-prompt"),
    height: int | None = typer.Option(None, "--height"),
    width: int | None = typer.Option(None, "--width"),
    dtype: str | None = typer.Option(None, "--dtype", help="auto, float32, float16, bfloat16."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:1 ..."),
    compile: bool | None = typer.Option(None, "--compile/--no-compile", help="torch.compile the denoiser."),
    jpeg_quality: int | None = typer.Option(None, "--jpeg-quality"),
    seed: int | None = typer.Option(None, "--seed"),
    part_size: int | None = typer.Option(None, "--part-size"),
    dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and a time estimate only; writes nothing."),
    config_file: str | None = CONFIG_FILE,
    overrides: list[str] | None = SET,
    rank: int | None = RANK,
    world_size: int | None = WORLD_SIZE,
    no_progress: bool = NO_PROGRESS,
) -> None:
    """Plan N samples (prompt, seed, intended attributes) and draw one image per sample."""
    from ..generate.stage import run_generate
    from ..ranks import resolve_ranks

    flags = {"n": n, "backend": backend, "model": model, "lora": lora, "preset": preset, "prompts": prompts,
             "prompt_field": prompt_field, "prompt_eda": prompt_eda, "batch_size": batch_size, "steps": steps, "guidance": guidance,
             "negative_prompt": negative_prompt, "height": height, "width": width, "dtype": dtype,
             "device": device, "compile": compile, "jpeg_quality": jpeg_quality, "seed": seed,
             "part_size": part_size}
    cfg = stage_config("generate", config_file, flags, overrides)
    run_generate(out, cfg, ranks=resolve_ranks(rank, world_size), progress=not no_progress, echo=typer.echo,
                 dry_run=dry_run)


def register(app: typer.Typer) -> None:
    app.command("generate")(generate)
