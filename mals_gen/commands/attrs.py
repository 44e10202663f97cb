"""`mals attrs`: mine the 27 MALS attributes from captions, in a run folder or on any table.

    mals attrs RUN                                        # RUN/caption -> RUN/attrs (resumable, ranked)
    mals attrs --in captions.jsonl --out labels.parquet   # any JSONL / parquet / CSV table
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UserError
from . import _options as opt

RunArg = Annotated[Path | None, typer.Argument(help="run folder with finished caption parts")]
InOpt = Annotated[Path | None, typer.Option("--in", help="table of captions: .jsonl, .parquet or .csv")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="labelled table to write (.jsonl/.parquet/.csv)")]
ColumnOpt = Annotated[str | None, typer.Option("--column", help="text column (default: caption, else text)")]
PartialOpt = Annotated[bool, typer.Option("--partial", help="exit 0 even when parts still wait for captions")]


def _label_table(in_path: Path | None, out_path: Path | None, column: str | None, progress: bool) -> None:
    if in_path is None or out_path is None:
        raise UserError("table mode needs both --in FILE and --out FILE")
    from ..attrs.table import label_file

    summary = label_file(in_path, out_path, column=column, progress=progress)
    typer.echo(f"attrs: labelled {summary['rows']} rows from column `{summary['column']}` "
               f"({summary['decided_slots']} slots decided) -> {summary['out']}")


def register(app: typer.Typer) -> None:
    @app.command("attrs")
    def attrs(run: RunArg = None, in_path: InOpt = None, out_path: OutOpt = None, column: ColumnOpt = None,
              config_file: str | None = opt.CONFIG_FILE, overrides: list[str] | None = opt.SET,
              rank: int | None = opt.RANK, world_size: int | None = opt.WORLD_SIZE,
              partial: PartialOpt = False, no_progress: bool = opt.NO_PROGRESS) -> None:
        """Mine gender, age, hair, hat, bags, sleeves, lower length/type and colours from captions."""
        if in_path is not None or out_path is not None:
            if run is not None:
                raise UserError("give either a RUN folder or --in/--out, not both")
            _label_table(in_path, out_path, column, progress=not no_progress)
            return
        if run is None:
            raise UserError("give a RUN folder (mals attrs RUN) or a table (mals attrs --in FILE --out FILE)")
        from ..attrs.stage import run_attrs
        from ..ranks import resolve_ranks

        cfg = opt.stage_config("attrs", config_file, {}, overrides)
        summary = run_attrs(run, cfg, ranks=resolve_ranks(rank, world_size), progress=not no_progress,
                            echo=typer.echo)
        if summary.parts_waiting and not partial:
            raise UserError(f"{run}: {len(summary.parts_waiting)} part(s) still wait for captions; run "
                            f"`mals caption {run}` and rerun, or pass --partial to accept a partial result")
