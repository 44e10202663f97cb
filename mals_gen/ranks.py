"""Which process am I? rank / world_size from flags or from the launcher's environment.

`accelerate launch` and `torchrun` set RANK / WORLD_SIZE; Slurm sets SLURM_PROCID / SLURM_NTASKS.
Explicit flags win over the environment; a lone process is rank 0 of 1.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from .errors import UserError

_ENV_PAIRS = (("RANK", "WORLD_SIZE"), ("SLURM_PROCID", "SLURM_NTASKS"))


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world_size: int = 1

    def owns(self, part_index: int) -> bool:
        """Parts are dealt round-robin, so every rank gets a similar share of any plan."""
        return part_index % self.world_size == self.rank


ONE_PROCESS = Ranks()  # the default everywhere: a lone process is rank 0 of 1


def resolve_ranks(rank: int | None = None, world_size: int | None = None, env=None) -> Ranks:
    env = os.environ if env is None else env
    if rank is None or world_size is None:
        for rank_var, world_var in _ENV_PAIRS:
            if rank_var in env and world_var in env:
                rank = int(env[rank_var]) if rank is None else rank
                world_size = int(env[world_var]) if world_size is None else world_size
                break
    rank = 0 if rank is None else rank
    world_size = 1 if world_size is None else world_size
    if world_size < 1 or not 0 <= rank < world_size:
        raise UserError(f"rank {rank} / world size {world_size} is not valid: need 0 <= rank < world size")
    return Ranks(rank, world_size)
