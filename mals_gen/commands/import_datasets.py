"""`mals import KIND ROOT --out shards/NAME`: a real dataset as the same WebDataset shards."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..importers import IMPORTERS


def import_(
    ctx: typer.Context,
    kind: Annotated[str, typer.Argument(help=f"dataset format: {' | '.join(IMPORTERS)} | images "
                                             "(any images as a run: see `mals import-images --help`)")],
    root: Annotated[Path, typer.Argument(help="dataset folder (or its annotation file)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="shard folder to write, e.g. shards/cuhk-pedes")],
    images: Annotated[Path | None, typer.Option(help="image root, when not the format's default")] = None,
    skip_missing: Annotated[bool, typer.Option(
        "--skip-missing", help="import without records whose image is missing (they are listed)")] = False,
    samples_per_shard: Annotated[str, typer.Option(help="samples per tar")] = "10000",
    height: Annotated[int | None, typer.Option(help="resize to this height (default: keep the images)")] = None,
    jpeg_quality: Annotated[int, typer.Option(help="JPEG quality for images that must be re-encoded")] = 95,
    workers: Annotated[int, typer.Option(help="writer processes (0 = one per core)")] = 1,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="hide the progress bar")] = False,
) -> None:
    """Import CUHK-PEDES, ICFG-PEDES, RSTPReid, PA-100K, released MALS json or APTM's json files."""
    if kind == "images":  # a run, not shards: its own command and options (commands/import_images.py)
        from ..cli import app
        from ..cliutil import run_app
        return run_app(app, "mals", ["import-images", str(root), "--out", str(out),
                       *(["--no-progress"] if no_progress else []), *ctx.args])
    from ..config import parse_count
    from ..importers.common import import_dataset
    from ..shard.card import command_line
    from ..shard.images import ImageSpec

    spec = ImageSpec(crop=False, height=height, quality=jpeg_quality)
    import_dataset(kind, root, out, images=images, skip_missing=skip_missing,
                   samples_per_shard=parse_count(samples_per_shard), spec=spec, workers=workers,
                   command=command_line(), progress=not no_progress)


def register(app: typer.Typer) -> None:
    app.command("import", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})(import_)
