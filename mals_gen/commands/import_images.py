"""`mals import images SOURCE --out RUN`: a folder / list / tar / parquet of images as a run."""
from __future__ import annotations

import typer

from ._options import CONFIG_FILE, NO_PROGRESS, RANK, SET, WORLD_SIZE, stage_config


def import_images(
    source: str = typer.Argument(..., help="A folder (recursive), a list file, a tar or shard folder, or a "
                                           "parquet with a path column."),
    out: str = typer.Option(..., "--out", "-o", help="Run folder to create, or to add new files to."),
    detect_persons: bool | None = typer.Option(None, "--detect-persons/--whole-images",
                                               help="Cut scene images into one sample per detected person."),
    detector: str | None = typer.Option(None, "--detector", help="hog (default) or a transformers object "
                                                                 "detector: hub id or local folder."),
    part_size: int | None = typer.Option(None, "--part-size", help="Source files per part (default 1000)."),
    path_column: str | None = typer.Option(None, "--path-column", help="Parquet SOURCE: the path column."),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda ..."),
    config_file: str | None = CONFIG_FILE,
    overrides: list[str] | None = SET,
    rank: int | None = RANK,
    world_size: int | None = WORLD_SIZE,
    no_progress: bool = NO_PROGRESS,
) -> None:
    """Import images (or person crops of scene images) so caption / attrs / filter / shard run on them.

    Gate settings: --set gate.min_short_side=90 --set gate.min_aspect=2 --set gate.max_aspect=4
    --set gate.min_score=0.85. Rerunning with added files imports only the new ones."""
    from ..images_import.stage import run_import
    from ..ranks import resolve_ranks

    flags = {"source": source, "detect_persons": detect_persons, "detector": detector, "part_size": part_size,
             "path_column": path_column, "device": device}
    cfg = stage_config("import", config_file, flags, overrides)
    run_import(source, out, cfg, ranks=resolve_ranks(rank, world_size), progress=not no_progress, echo=typer.echo)


def register(app: typer.Typer) -> None:
    app.command("import-images")(import_images)
