"""`mals slurm PRESET --tasks N --gpus-per-task G`: write (not submit) sbatch scripts for a job array."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def slurm(
    preset: Annotated[Path, typer.Argument(help="pipeline YAML, e.g. pipelines/mals-1.5m.yaml")],
    tasks: Annotated[int, typer.Option("--tasks", help="array tasks sharing the parts")] = 8,
    gpus_per_task: Annotated[int, typer.Option("--gpus-per-task", help="GPUs per array task (0: CPU)")] = 1,
    cpus_per_task: Annotated[int, typer.Option("--cpus-per-task")] = 8,
    time: Annotated[str, typer.Option("--time", help="wall-time limit per task")] = "24:00:00",
    partition: Annotated[str | None, typer.Option("--partition")] = None,
    account: Annotated[str | None, typer.Option("--account")] = None,
    max_parallel: Annotated[int | None, typer.Option("--max-parallel", help="at most M tasks at once")] = None,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="folder for the scripts (default RUN/slurm)")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="override, e.g. --set generate.n=2M")] = None,
) -> None:
    """Write stages.sbatch (array), finish.sbatch (shard + report) and submit.sh; submits nothing."""
    from ..slurm import SlurmConfig, write_slurm_scripts

    cfg = SlurmConfig(tasks=tasks, gpus_per_task=gpus_per_task, cpus_per_task=cpus_per_task, time=time,
                      partition=partition, account=account, max_parallel=max_parallel)
    paths = write_slurm_scripts(preset, set_ or [], cfg, out)
    typer.echo(f"slurm: wrote {', '.join(str(p) for p in paths.values())}")
    typer.echo(f"slurm: submit with `bash {paths['submit.sh']}`")


def register(app: typer.Typer) -> None:
    app.command("slurm")(slurm)
