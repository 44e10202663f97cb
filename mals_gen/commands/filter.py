"""`mals filter RUN`: quality checks with a reason per rejected sample (RUN/filter)."""
from __future__ import annotations

import typer

from ._options import CONFIG_FILE, NO_PROGRESS, RANK, SET, WORLD_SIZE, stage_config


def filter_run(
    run: str = typer.Argument(..., help="Run folder with finished attrs parts."),
    detector: str | None = typer.Option(
        None, "--detector", help="auto (HOG), hog, none, or a transformers object-detection hub id / folder."),
    clip_model: str | None = typer.Option(
        None, "--clip-model", help="auto (none for sketch runs, ViT-B-32 otherwise), none, an open_clip name, "
                                   "a model config .json, a folder or hf-hub:ORG/REPO."),
    clip_pretrained: str | None = typer.Option(
        None, "--clip-pretrained", help="open_clip pretrained tag (e.g. openai) or a local weights FILE."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda, cuda:1 ..."),
    batch_size: int | None = typer.Option(None, "--batch-size"),
    config_file: str | None = CONFIG_FILE,
    overrides: list[str] | None = SET,
    rank: int | None = RANK,
    world_size: int | None = WORLD_SIZE,
    no_progress: bool = NO_PROGRESS,
) -> None:
    """Reject blank, greyscale, blurry, person-less, duplicate, badly captioned samples, with reasons.

    Thresholds: --set min_blur=20 (see `FilterConfig` / `Thresholds` in mals_gen/filter/stage.py).
    """
    from ..filter.stage import run_filter
    from ..ranks import resolve_ranks

    flags = {"detector": detector, "clip_model": clip_model, "clip_pretrained": clip_pretrained,
             "device": device, "batch_size": batch_size}
    cfg = stage_config("filter", config_file, flags, overrides)
    run_filter(run, cfg, ranks=resolve_ranks(rank, world_size), progress=not no_progress, echo=typer.echo)


def register(app: typer.Typer) -> None:
    app.command("filter")(filter_run)
