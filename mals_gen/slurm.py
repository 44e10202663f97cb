"""`mals slurm PRESET`: sbatch scripts that run a pipeline as a Slurm job array (written, not submitted).

Two jobs, because the per-part stages and the shard writer scale differently:
- `stages.sbatch`, an array of `tasks` jobs: each runs `mals run PRESET` with sharding and the
  report switched off; `mals_gen/ranks.py` turns SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT into
  rank / world size, so array task i does the parts `i, i + tasks, ...` of every per-part stage.
  With several GPUs per task, `accelerate launch` starts one process per GPU inside the task and
  the ranks combine (array index x GPUs + local rank).
- `finish.sbatch`, one CPU job that starts when the whole array succeeded: `mals run PRESET`
  again, which finds every part done and writes the shards and the report.
`submit.sh` submits both with the dependency. Rerunning the array after a failure resumes.
"""
from __future__ import annotations

import shlex
import sys
from dataclasses import dataclass
from pathlib import Path

from .errors import UserError
from .fsutil import ensure_writable_dir, write_bytes_atomic


@dataclass(frozen=True)
class SlurmConfig:
    tasks: int = 8                 # array size: independent jobs sharing the parts
    gpus_per_task: int = 1         # 0 for CPU-only pipelines (sketch backend)
    cpus_per_task: int = 8
    time: str = "24:00:00"         # wall-time limit of each array task
    partition: str | None = None
    account: str | None = None
    max_parallel: int | None = None  # `--array=0-N%M`: at most M array tasks at once

    def validate(self) -> None:
        if self.tasks < 1:
            raise UserError(f"--tasks must be at least 1, got {self.tasks}")
        if self.gpus_per_task < 0 or self.cpus_per_task < 1:
            raise UserError("--gpus-per-task must be >= 0 and --cpus-per-task >= 1")
        if self.max_parallel is not None and self.max_parallel < 1:
            raise UserError(f"--max-parallel must be at least 1, got {self.max_parallel}")


def _header(name: str, log_dir: Path, workdir: Path, cfg: SlurmConfig, *, array: bool) -> list[str]:
    lines = ["#!/bin/bash", f"#SBATCH --job-name={name}", f"#SBATCH --chdir={workdir}", "#SBATCH --ntasks=1"]
    if array:
        throttle = f"%{cfg.max_parallel}" if cfg.max_parallel else ""
        lines += [f"#SBATCH --array=0-{cfg.tasks - 1}{throttle}", f"#SBATCH --output={log_dir}/stages_%A_%a.log",
                  f"#SBATCH --cpus-per-task={cfg.cpus_per_task}", f"#SBATCH --time={cfg.time}"]
        if cfg.gpus_per_task:
            lines.append(f"#SBATCH --gpus-per-task={cfg.gpus_per_task}")
    else:
        lines += [f"#SBATCH --output={log_dir}/finish_%j.log", f"#SBATCH --cpus-per-task={cfg.cpus_per_task}",
                  f"#SBATCH --time={cfg.time}"]
    lines += [f"#SBATCH --partition={cfg.partition}"] * bool(cfg.partition)
    lines += [f"#SBATCH --account={cfg.account}"] * bool(cfg.account)
    return [*lines, "set -euo pipefail", "export PYTHONUNBUFFERED=1"]


def run_command(preset: Path, overrides: list[str], cfg: SlurmConfig, *, stages_only: bool) -> str:
    """The `mals run` line one job executes (absolute interpreter: no venv activation needed)."""
    python = shlex.quote(sys.executable)
    sets = [*overrides, *(["shard.enabled=false", "report.enabled=false"] if stages_only else [])]
    args = " ".join(f"--set {shlex.quote(s)}" for s in sets)
    tail = f"-m mals_gen run {shlex.quote(str(preset))} {args} --no-progress".replace("  ", " ")
    if stages_only and cfg.gpus_per_task > 1:
        return f"{python} -m accelerate.commands.launch --num_processes {cfg.gpus_per_task} {tail}"
    return f"{python} {tail}"


def write_slurm_scripts(preset: str | Path, overrides: list[str], cfg: SlurmConfig,
                        out_dir: str | Path | None = None) -> dict[str, Path]:
    """Write stages.sbatch, finish.sbatch and submit.sh; returns their paths by name."""
    from .pipeline import resolve

    cfg.validate()
    preset = Path(preset).resolve()
    data = resolve(preset, overrides)  # a bad preset fails here, not hours later on the cluster
    workdir = Path.cwd().resolve()
    run_dir = Path(data["out"])
    folder = ensure_writable_dir(out_dir or (workdir / run_dir / "slurm"))
    log_dir = ensure_writable_dir(folder / "logs")
    name = f"mals-{run_dir.name}"
    scripts = {
        "stages.sbatch": [*_header(name, log_dir, workdir, cfg, array=True),
                          run_command(preset, overrides, cfg, stages_only=True)],
        "finish.sbatch": [*_header(f"{name}-finish", log_dir, workdir, cfg, array=False),
                          run_command(preset, overrides, cfg, stages_only=False)],
        "submit.sh": ["#!/bin/bash", "# Submit the stage array, then the shard + report job once it succeeded.",
                      "set -euo pipefail", f"cd {shlex.quote(str(folder))}",
                      "jid=$(sbatch --parsable stages.sbatch)",
                      "sbatch --dependency=afterok:${jid%%;*} finish.sbatch"],
    }
    paths = {}
    for file_name, lines in scripts.items():
        paths[file_name] = folder / file_name
        write_bytes_atomic(paths[file_name], ("\n".join(lines) + "\n").encode())
        paths[file_name].chmod(0o755)
    return paths
