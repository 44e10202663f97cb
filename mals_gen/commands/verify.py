"""`mals verify shards/NAME`: check tars, counts, checksums and manifest; one line per problem."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def verify(
    folder: Annotated[Path, typer.Argument(help="a shard folder written by `mals shard` or `mals import`")],
    decode: Annotated[bool, typer.Option("--decode", help="decode every image at full size (slower; without it each image gets the shard writer's fast 1/8-scale decode)")] = False,
) -> None:
    """Exit 0 when the shard folder is sound; else print each problem and exit 1."""
    from ..shard.verify import verify_shards

    problems = verify_shards(folder, decode=decode, progress=True)
    for line in problems:
        typer.echo(f"{folder}: {line}")
    if problems:
        typer.echo(f"verify: {len(problems)} problem(s) in {folder}", err=True)
        raise typer.Exit(1)
    typer.echo(f"verify: {folder} is sound")


def register(app: typer.Typer) -> None:
    app.command("verify")(verify)
