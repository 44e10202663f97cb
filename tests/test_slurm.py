"""Slurm: ranks from job-array environments, and `mals slurm` scripts that really run a pipeline."""
from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from mals_gen.errors import UserError
from mals_gen.manifest import done_part_files
from mals_gen.ranks import Ranks, resolve_ranks
from mals_gen.shard.verify import verify_shards
from mals_gen.slurm import SlurmConfig, write_slurm_scripts

REPO = Path(__file__).resolve().parents[1]


def test_array_ranks_from_environment():
    array = {"SLURM_ARRAY_TASK_ID": "2", "SLURM_ARRAY_TASK_COUNT": "4"}
    assert resolve_ranks(env=array) == Ranks(2, 4)
    # ids that start at 10 and step by 10: task 30 is the third slice of four
    stepped = {"SLURM_ARRAY_TASK_ID": "30", "SLURM_ARRAY_TASK_COUNT": "4", "SLURM_ARRAY_TASK_MIN": "10",
               "SLURM_ARRAY_TASK_STEP": "10"}
    assert resolve_ranks(env=stepped) == Ranks(2, 4)
    # two processes per array task (accelerate inside the task): slice 2 of 4, local rank 1 of 2
    assert resolve_ranks(env={**array, "RANK": "1", "WORLD_SIZE": "2"}) == Ranks(5, 8)
    assert resolve_ranks(env={**array, "SLURM_PROCID": "0", "SLURM_NTASKS": "1"}) == Ranks(2, 4)
    assert resolve_ranks(0, 1, env=array) == Ranks(0, 1)  # flags win
    with pytest.raises(UserError, match="SLURM_ARRAY_TASK_ID='x' is not a whole number"):
        resolve_ranks(env={"SLURM_ARRAY_TASK_ID": "x", "SLURM_ARRAY_TASK_COUNT": "4"})


def _tiny_preset(tmp_path: Path) -> Path:
    preset = tmp_path / "tiny.yaml"
    preset.write_text(yaml.safe_dump({
        "out": str(tmp_path / "run"), "shard_out": str(tmp_path / "shards"),
        "generate": {"backend": "sketch", "n": 60, "part_size": 10, "seed": 0},
        "caption": {"captioner": "prompt"}, "attrs": {},
        "filter": {"detector": "none", "clip_model": "none"},
        "shard": {"samples_per_shard": 25, "workers": 1}, "report": {"enabled": False},
    }))
    return preset


def _run_script_body(script: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-c", _body(script)], env=env, cwd=REPO, capture_output=True, text=True,
                          timeout=300, check=False)


def _body(script: Path) -> str:
    """The one command line of a script (what Slurm runs after the #SBATCH header)."""
    return [line for line in script.read_text().splitlines() if line and not line.startswith(("#", "set ", "export "))][-1]


def test_scripts_hold_the_array_and_its_resources(tmp_path):
    preset = _tiny_preset(tmp_path)
    cfg = SlurmConfig(tasks=3, gpus_per_task=2, cpus_per_task=4, partition="gpu", max_parallel=2)
    paths = write_slurm_scripts(preset, ["generate.n=30"], cfg, tmp_path / "slurm")
    stages = paths["stages.sbatch"].read_text()
    for line in ("#SBATCH --array=0-2%2", "#SBATCH --gpus-per-task=2", "#SBATCH --cpus-per-task=4",
                 "#SBATCH --partition=gpu", f"#SBATCH --chdir={Path.cwd().resolve()}"):
        assert line in stages
    assert "accelerate.commands.launch --num_processes 2" in stages
    assert "--set generate.n=30 --set shard.enabled=false --set report.enabled=false" in stages
    finish = paths["finish.sbatch"].read_text()
    assert "--array" not in finish and "shard.enabled=false" not in finish and "--set generate.n=30" in finish
    assert "--dependency=afterok:" in paths["submit.sh"].read_text()
    assert all(os.access(p, os.X_OK) for p in paths.values())
    with pytest.raises(UserError, match="--tasks must be at least 1"):
        write_slurm_scripts(preset, [], SlurmConfig(tasks=0), tmp_path / "x")
    with pytest.raises(UserError, match="unknown key"):
        write_slurm_scripts(preset, ["nosuch=1"], cfg, tmp_path / "y")


def test_array_tasks_then_finish_build_the_dataset(tmp_path):
    """Run the scripts' command lines as Slurm would: two array tasks, then the finishing job."""
    preset = _tiny_preset(tmp_path)
    paths = write_slurm_scripts(preset, [], SlurmConfig(tasks=2, gpus_per_task=0), tmp_path / "slurm")
    env = {k: v for k, v in os.environ.items() if not re.match(r"(RANK|WORLD_SIZE|SLURM_)", k)}
    run = tmp_path / "run"
    for task in (1, 0):  # any order: each task only touches its own parts
        array_env = {**env, "SLURM_ARRAY_TASK_ID": str(task), "SLURM_ARRAY_TASK_COUNT": "2"}
        done = _run_script_body(paths["stages.sbatch"], array_env)
        assert done.returncode == 0, done.stderr
        parts = [int(p.stem.split("-")[1]) for p in done_part_files(run, "attrs")]
        assert parts == [1, 3, 5] if task == 1 else parts == list(range(6))
    assert not (tmp_path / "shards").exists()  # the array never shards
    # the filter's dedup pass of part i needs parts < i: what the array could not finish, finish does
    done = _run_script_body(paths["finish.sbatch"], env)
    assert done.returncode == 0, done.stderr
    assert verify_shards(tmp_path / "shards", progress=False) == []
    assert sum(yaml.safe_load((tmp_path / "shards" / "sizes.json").read_text()).values()) == 60
