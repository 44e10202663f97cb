"""Which process am I? rank / world_size from flags or from the launcher's environment.

`accelerate launch` and `torchrun` set RANK / WORLD_SIZE; Slurm sets SLURM_PROCID / SLURM_NTASKS
for the tasks of one job step, and SLURM_ARRAY_TASK_ID / SLURM_ARRAY_TASK_COUNT for the tasks of a
job array (how data pipelines usually run on clusters: one independent job per slice). An array
task that itself runs several processes is slice `array index` of `array count`, each slice
`world` processes wide: rank = index * world + rank within the task. Explicit flags win over the
environment; a lone process is rank 0 of 1.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from .errors import UserError

_INNER_PAIRS = (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS"))


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1

    def owns(self, part_index: int) -> bool:
        """Parts are dealt round-robin, so every rank gets a similar share of any plan."""
        return part_index % self.world_size == self.rank


ONE_PROCESS = Ranks()  # the default everywhere: a lone process is rank 0 of 1


def _int(env: Mapping[str, str], name: str) -> int:
    try:
        return int(env[name])
    except ValueError:
        raise UserError(f"environment variable {name}={env[name]!r} is not a whole number") from None


def _inner(env: Mapping[str, str]) -> tuple[int, int]:
    """(rank, world size) of this process within one job or array task."""
    for rank_var, world_var in _INNER_PAIRS:
        if rank_var in env and world_var in env:
            return _int(env, rank_var), _int(env, world_var)
    return 0, 1


def _array_slice(env: Mapping[str, str]) -> tuple[int, int] | None:
    """(index, count) of this Slurm array task, or None outside an array.

    Array ids may start anywhere and step (`--array=10-40:10`), so the index is counted from
    SLURM_ARRAY_TASK_MIN in steps of SLURM_ARRAY_TASK_STEP.
    """
    if "SLURM_ARRAY_TASK_ID" not in env or "SLURM_ARRAY_TASK_COUNT" not in env:
        return None
    task, count = _int(env, "SLURM_ARRAY_TASK_ID"), _int(env, "SLURM_ARRAY_TASK_COUNT")
    first = _int(env, "SLURM_ARRAY_TASK_MIN") if "SLURM_ARRAY_TASK_MIN" in env else 0
    step = _int(env, "SLURM_ARRAY_TASK_STEP") if "SLURM_ARRAY_TASK_STEP" in env else 1
    return (task - first) // max(step, 1), count


def ranks_from_env(env: Mapping[str, str]) -> Ranks:
    """The ranks the launcher's environment describes (see the module docstring)."""
    rank, world = _inner(env)
    array = _array_slice(env)
    if array is not None:
        index, count = array
        rank, world = index * world + rank, count * world
    return Ranks(rank, world)


def resolve_ranks(rank: int | None = None, world_size: int | None = None, env=None) -> Ranks:
    found = ranks_from_env(os.environ if env is None else env)
    rank = found.rank if rank is None else rank
    world_size = found.world_size if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise UserError(f"rank {rank} / world size {world_size} is not valid: need 0 <= rank < world size")
    return Ranks(rank, world_size)
