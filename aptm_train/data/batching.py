"""Training batches made whole in the loader's workers; the main process only receives them.

Every DataLoader worker decodes, augments, tokenises, MLM-masks and collates whole batches of its
own pairs (the pixels straight into shared memory, collate.py), so the main process, which also
runs the training step, does no per-pair work and copies nothing, as with a map-style DataLoader.
(Collating each worker's share of every batch and joining the shares in the main process, the
design before, cost the step's process one copy of the pixels per batch and twice a map-style
loader's CPU: scripts/bench_loader.py.)

The batches are fixed before any tar is read (`epoch_batches`). A rank's P pairs go to its W
workers as a round-robin deal of single pairs would give them (`StreamSpec.worker_share`: P // W
each, one more for the first P mod W), the same split on every rank, so ranks agree on the batch
count and every batch's size (the ITC all-gather needs equal sizes). Worker w cuts its pairs, in
its shuffled stream's order, into batches of `size`, the last one short. The epoch takes them in
rounds (round j: batch j of each worker, in worker order), which is the order the DataLoader hands
them over: every worker yields one item per round, a placeholder in a round where it has no batch
or where a resumed run already trained its batch, and `batches` drops the placeholders.

A batch holds one worker's pairs, and the pairs are dealt to the workers one by one in every pass
(`pipeline.epoch_units`), so a worker's batches draw from the whole pass: on data stored person by
person they hold a same-person pair no more often than a full shuffle (less: a person's
consecutive images go to different workers; scripts/bench_batch_mix.py, tests/test_batch_mix.py).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from itertools import islice

import numpy as np
import torch
from torch.utils.data import get_worker_info

from mals_gen.errors import UserError

from .pipeline import PairStream, dealt

#: tensors up to this size travel inside the pickled batch, as numpy arrays (`_inline`)
INLINE_BYTES = 1 << 20


def epoch_batches(pairs: int, workers: int, size: int) -> list[tuple[int, int, int]]:
    """A rank's epoch of `pairs` pairs as (worker, round, pairs in the batch), in training order."""
    shares = [dealt(pairs, w, workers) for w in range(workers)]       # StreamSpec.worker_share
    cuts = [[size] * (n // size) + ([n % size] if n % size else []) for n in shares]
    rounds = max((len(c) for c in cuts), default=0)
    return [(w, j, cuts[w][j]) for j in range(rounds) for w in range(workers) if j < len(cuts[w])]


class BatchStream(torch.utils.data.IterableDataset):
    """One rank's epoch as whole batches, one worker's each (iterate through `pipeline.make_loader`,
    unpack with `batches`); `start`: pairs of the epoch already trained on (a batch boundary),
    skipped undecoded."""

    def __init__(self, pairs: PairStream, batch_size: int, collate: Callable, start: int = 0):
        super().__init__()
        self.pairs, self.size, self.collate = pairs, batch_size, collate
        self.spec = pairs.spec
        # worker w makes worker_share(w) pairs by construction (pipeline.epoch_units; tests/test_batching.py)
        self.order = epoch_batches(self.spec.pairs_per_rank, self.spec.workers, batch_size)
        ends = np.cumsum([0] + [n for _, _, n in self.order]).tolist()
        if start not in ends:
            raise ValueError(f"start={start} is not a batch boundary of this epoch's {ends[-1]} pairs "
                             f"(batches of {batch_size}, each from one of {self.spec.workers} workers)")
        #: batches of the epoch already trained on: where this stream starts
        self.first = ends.index(start)
        self.rounds = self.order[-1][1] + 1 if self.order else 0
        self.first_round = self.order[self.first][1] if self.first < len(self.order) else self.rounds

    def __len__(self) -> int:
        return (self.rounds - self.first_round) * self.spec.workers

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        worker = info.id if info is not None else 0
        mine = [(g, j, n) for g, (w, j, n) in enumerate(self.order) if w == worker]
        done = sum(n for g, _, n in mine if g < self.first)
        todo = {j: (g, n) for g, j, n in mine if g >= self.first}
        pairs = self.pairs.pairs(worker, skip=done)
        for j in range(self.first_round, self.rounds):
            if j not in todo:
                yield {"batch": None}                       # keeps the DataLoader's turns aligned
                continue
            g, n = todo[j]
            items = list(islice(pairs, n))
            if len(items) < n:
                raise UserError(f"loader worker {worker} ran out of pairs at batch {g}: the shards do not match "
                                "manifest.parquet (a folder that mixes two builds); rebuild it")
            yield whole_batch(g, worker, items, self.collate)
        if next(pairs, None) is not None:
            raise UserError(f"loader worker {worker} has pairs left after its last batch: the shards do "
                            "not match manifest.parquet (a folder that mixes two builds); rebuild it")


def whole_batch(batch: int, worker: int, items: list[dict], collate: Callable) -> dict:
    """Batch `batch` of the epoch: its readable pairs collated, the unreadable ones listed."""
    good = [p for p in items if "bad" not in p]
    data = collate(good) if good else None
    if isinstance(data, dict):
        data = {k: _inline(v) for k, v in data.items()}
    return {"batch": batch, "worker": worker, "pairs": len(items), "data": data,
            "skipped": [p["bad"] for p in items if "bad" in p]}


def _inline(value):
    """A small tensor as a numpy array, pickled inside the batch: a tensor travels as a shared-memory
    handle, which costs the main process a socket round trip to the worker (about 1 ms of its CPU)."""
    if isinstance(value, torch.Tensor) and value.nbytes <= INLINE_BYTES:
        return value.numpy()
    return value


def batches(items: Iterator[dict], pad: bool = False) -> Iterator[dict]:
    """The collated batch dicts of a `BatchStream`'s items, in epoch order.

    Unreadable pairs count towards their batch, so batch boundaries, the batch count and the resume
    position stay as without them; they are left out of the batch and listed under "skipped", and
    "workers" names the worker of every pair (both added when the collate returns a dict). `pad`
    (several processes: ITC's all-gather needs equal sizes) refills their places by repeating the
    batch's readable pairs."""
    for item in items:
        if item["batch"] is not None:
            yield unpack(item, pad)


def unpack(item: dict, pad: bool = False) -> dict:
    data, skipped = item["data"], item["skipped"]
    if data is None:
        url, key, reason = skipped[-1]
        raise UserError(f"all {item['pairs']} pairs of a training batch are unreadable (last: {url} [{key}]: "
                        f"{reason}); check the shards with `mals verify --decode` and rebuild them")
    if not isinstance(data, dict):          # a test's collate may return anything
        return data
    batch = {k: torch.from_numpy(v) if isinstance(v, np.ndarray) else v for k, v in data.items()}
    if pad and skipped:
        readable = item["pairs"] - len(skipped)
        order = [r % readable for r in range(item["pairs"])]
        batch = {k: v[order] if isinstance(v, torch.Tensor) else [v[r] for r in order] for k, v in batch.items()}
    batch["workers"] = [item["worker"]] * item["pairs"]
    batch["skipped"] = skipped
    return batch
