"""`mals shard RUN --out shards/NAME`: a run's kept samples as WebDataset shards."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from . import _options as opt


def shard(
    run: Annotated[Path, typer.Argument(help="run folder written by `mals generate` (and later stages)")],
    out: Annotated[Path, typer.Option("--out", "-o", help="shard folder to write, e.g. shards/NAME")],
    samples_per_shard: Annotated[str | None, typer.Option(help="samples per tar (default 10,000)")] = None,
    height: Annotated[int | None, typer.Option(help="resize to this height, keeping the aspect (default 384)")] = None,
    no_resize: Annotated[bool, typer.Option("--no-resize", help="keep the native size")] = False,
    no_crop: Annotated[bool, typer.Option("--no-crop", help="ignore the filter's person box")] = False,
    jpeg_quality: Annotated[int | None, typer.Option(help="JPEG quality when re-encoding (default 95)")] = None,
    split: Annotated[str | None, typer.Option(help="fractions, e.g. train=0.9,val=0.05,test=0.05")] = None,
    workers: Annotated[int | None, typer.Option(help="writer processes (0 = one per core)")] = None,
    config_file: str | None = opt.CONFIG_FILE,
    set_: Annotated[list[str] | None, typer.Option("--set", help="any ShardConfig field: --set upscale=true")] = None,
    no_progress: bool = opt.NO_PROGRESS,
) -> None:
    """Write the kept samples as {000000..N}.tar + sizes.json + manifest.parquet + checksums + README."""
    from ..shard.card import command_line
    from ..shard.select import run_shard
    from ..shard.split import parse_fractions

    flags = {"samples_per_shard": samples_per_shard, "height": height, "jpeg_quality": jpeg_quality,
             "workers": workers, "resize": False if no_resize else None, "crop": False if no_crop else None,
             "split": parse_fractions(split).__dict__ if split else None}
    cfg = opt.stage_config("shard", config_file, flags, set_)
    run_shard(run, out, cfg, command=command_line(), progress=not no_progress, echo=typer.echo)


def register(app: typer.Typer) -> None:
    app.command("shard")(shard)
