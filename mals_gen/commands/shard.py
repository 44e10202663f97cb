"""`mals shard RUN --out shards/NAME`: a run's kept samples as WebDataset shards."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


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
    set_: Annotated[list[str] | None, typer.Option("--set", help="any ShardConfig field: --set upscale=true")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="hide the progress bar")] = False,
) -> None:
    """Write the kept samples as {000000..N}.tar + sizes.json + manifest.parquet + checksums + README."""
    from ..config import deep_merge, from_mapping, parse_overrides
    from ..shard.card import command_line
    from ..shard.split import parse_fractions
    from ..shard.writer import ShardConfig, run_shard

    flags = {"samples_per_shard": samples_per_shard, "height": height, "jpeg_quality": jpeg_quality,
             "workers": workers}
    data = {k: v for k, v in flags.items() if v is not None}
    if no_resize:
        data["resize"] = False
    if no_crop:
        data["crop"] = False
    if split:
        data["split"] = parse_fractions(split).__dict__
    cfg = from_mapping(ShardConfig, deep_merge(data, parse_overrides(set_ or [])), "shard")
    run_shard(run, out, cfg, command=command_line(), progress=not no_progress)


def register(app: typer.Typer) -> None:
    app.command("shard")(shard)
