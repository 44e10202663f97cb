"""Evaluation across processes: who owns which batch, and gathering rows back into full tensors.

Work is dealt by *global batch index* (batch b belongs to rank b % world), and every batch has the
same members whatever the world size, so each row is computed by the same kernel call with the
same padding in a 1-process and an N-process run: gathered features and ITM scores are bitwise
identical, and the fusion, computed once on the full matrix, gives the same metrics. Launch with
`torchrun --nproc_per_node N` or `accelerate launch` (they set RANK / WORLD_SIZE / MASTER_ADDR).
"""
from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

from mals_gen.errors import UserError


@dataclass(frozen=True)
class Dist:
    rank: int = 0
    world: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def owns(self, batch_index: int) -> bool:
        return batch_index % self.world == self.rank

    def barrier(self) -> None:
        if self.world > 1:
            torch_dist.barrier()


def init_dist(device: torch.device) -> Dist:
    """Join the process group that the launcher describes (RANK / WORLD_SIZE), if any."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not torch_dist.is_initialized():
        if "MASTER_ADDR" not in os.environ:
            raise UserError("WORLD_SIZE > 1 but MASTER_ADDR is not set; launch with `torchrun` or "
                            "`accelerate launch`, or unset WORLD_SIZE for one process")
        if device.type == "cuda":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(torch_dist.get_rank(), torch_dist.get_world_size())


def gather_rows(rows: torch.Tensor, index: torch.Tensor, total: int, dist: Dist) -> torch.Tensor:
    """Scatter each rank's `rows` (n_r, ...) at global positions `index` (n_r,) into one (total, ...) tensor.

    Every rank gets the full tensor. Ranks hold different row counts, so rows are padded to the
    largest count for the collective and the padding is dropped by the index.
    """
    if dist.world == 1:
        out = rows.new_zeros((total, *rows.shape[1:]))
        out[index] = rows
        return out
    device = rows.device if torch_dist.get_backend() == "nccl" else torch.device("cpu")
    rows, index = rows.to(device), index.to(device)
    counts = [torch.zeros(1, dtype=torch.long, device=device) for _ in range(dist.world)]
    torch_dist.all_gather(counts, torch.tensor([len(rows)], device=device))
    most = int(max(c.item() for c in counts))
    padded = rows.new_zeros((most, *rows.shape[1:]))
    padded[:len(rows)] = rows
    pad_index = torch.full((most,), -1, dtype=torch.long, device=device)
    pad_index[:len(index)] = index
    all_rows = [torch.empty_like(padded) for _ in range(dist.world)]
    all_index = [torch.empty_like(pad_index) for _ in range(dist.world)]
    torch_dist.all_gather(all_rows, padded)
    torch_dist.all_gather(all_index, pad_index)
    out = rows.new_zeros((total, *rows.shape[1:]))
    for r_rows, r_index in zip(all_rows, all_index):
        keep = r_index >= 0
        out[r_index[keep]] = r_rows[keep]
    return out


def close_dist(dist: Dist) -> None:
    if dist.world > 1 and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
