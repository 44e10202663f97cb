"""`mals run pipelines/PRESET.yaml [--set key=value ...]`: every stage in order from one YAML."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def run(
    preset: Annotated[Path, typer.Argument(help="pipeline YAML, e.g. pipelines/quickstart.yaml")],
    set_: Annotated[list[str] | None, typer.Option("--set", help="override, e.g. --set generate.n=500")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="hide the progress bars")] = False,
) -> None:
    """generate -> caption -> attrs -> filter -> shard (-> report); rerunning resumes."""
    from ..pipeline import run_pipeline

    run_pipeline(preset, set_ or [], progress=not no_progress)


def register(app: typer.Typer) -> None:
    app.command("run")(run)
