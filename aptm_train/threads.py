"""CPU threads per process (`--threads`): by default OMP_NUM_THREADS when it is set (the usual
knob, which torchrun sets to 1 for several processes), else the cores this process may use shared
between the processes of this machine.

Under CPU contention OpenMP threads spin waiting on a descheduled sibling (a step slowed from
1.4 s to 32 s when more threads than free cores ran), so torch gets no more threads than its share.
"""
from __future__ import annotations

import os

from mals_gen.errors import UserError


def default_threads() -> int:
    """OMP_NUM_THREADS if set, else usable cores (sched_getaffinity) / local processes (LOCAL_WORLD_SIZE)."""
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if omp.isdigit() and int(omp) > 0:
        return int(omp)
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:          # not on Linux
        cores = os.cpu_count() or 1
    local = int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1)
    return max(1, cores // max(1, local))


def set_threads(n: int | None) -> int:
    """Set torch's intra-op threads to `n` (None: `default_threads()`); returns the number used."""
    import torch

    if n is not None and n < 1:
        raise UserError(f"--threads {n}: must be at least 1 (or leave it out for the cores this process may use)")
    n = n or default_threads()
    torch.set_num_threads(n)
    return n
