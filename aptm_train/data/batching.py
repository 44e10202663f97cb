"""Training batches made in the loader's workers; the main process only joins each batch's parts.

Every DataLoader worker decodes, augments, tokenises, MLM-masks and collates its own pairs of each
batch (a "part"), so the main process, which also runs the training step, receives a few tensors
per batch instead of one shared-memory tensor per pair, and does no per-pair work. A background
thread joins the parts (one copy of the pixels) while the step runs.

The batches are fixed before any tar is read. Worker w makes n_w pairs this epoch
(`pipeline.worker_pairs`, from the manifest's layout), and its j-th pair sits at position
sum_v min(n_v, j) + #{v < w: n_v > j} of the rank's epoch: the order of a DataLoader that deals
single pairs round-robin (pipeline.py), so a batch mixes every worker's shuffled pairs. Batch b
holds positions [b * size, (b + 1) * size). Each worker yields one part per batch, empty when it
has none of the batch's pairs, so the DataLoader's round-robin hands over batch b's parts in
worker order; `batches` puts the pairs back in position order, pads token rows to the batch's
longest and lists unreadable pairs. The result equals the pair stream cut into batches and
collated at once (tests/test_batching.py): MLM masking draws per caption (collate.py), so parts
share no random draws.
"""
from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterator
from itertools import islice

import numpy as np
import torch
from torch.utils.data import get_worker_info

from mals_gen.errors import UserError

from .pipeline import PairStream, worker_pairs

#: tensors up to this size travel inside the pickled part, as numpy arrays (`_inline`)
INLINE_BYTES = 1 << 20
#: what token rows of a part are padded with when a longer part widens the batch (else 0: Collate's pad id)
PAD_VALUES = {"mlm_labels": -100}     # -100: the label the losses skip (aptm_train/losses/common.py)


def epoch_positions(counts: list[int], worker: int) -> np.ndarray:
    """(counts[worker],) positions in the rank's epoch of the worker's pairs, increasing."""
    j = np.arange(counts[worker], dtype=np.int64)
    pos = np.zeros_like(j)
    for v, n in enumerate(counts):
        pos += np.minimum(n, j) + ((n > j) if v < worker else 0)
    return pos


class BatchStream(torch.utils.data.IterableDataset):
    """One rank's epoch as batch parts (iterate through `pipeline.make_loader`, join with `batches`);
    `start`: pairs of the epoch already trained on (a multiple of `batch_size`), skipped undecoded."""

    def __init__(self, pairs: PairStream, batch_size: int, collate: Callable, start: int = 0):
        super().__init__()
        self.pairs, self.size, self.collate = pairs, batch_size, collate
        self.spec = pairs.spec
        self.counts = worker_pairs(self.spec)
        total = sum(self.counts)
        if total != self.spec.pairs_per_rank:       # the two counts come from the same layout
            raise RuntimeError(f"the workers make {total} pairs but the rank trains on {self.spec.pairs_per_rank}")
        if start % batch_size or start > total:
            raise ValueError(f"start={start} is not a batch boundary of {total} pairs in batches of {batch_size}")
        self.first, self.batches = start // batch_size, math.ceil(total / batch_size)

    def __len__(self) -> int:
        return (self.batches - self.first) * self.spec.workers

    def __iter__(self) -> Iterator[dict]:
        if self.first == self.batches:              # resumed at the epoch's very end: nothing to read
            return
        info = get_worker_info()
        worker = info.id if info is not None else 0
        pos = epoch_positions(self.counts, worker)
        bounds = np.searchsorted(pos, np.arange(self.first, self.batches + 1) * self.size).tolist()
        pairs = self.pairs.pairs(worker, skip=bounds[0])
        for i, b in enumerate(range(self.first, self.batches)):
            items = list(islice(pairs, bounds[i + 1] - bounds[i]))
            if len(items) < bounds[i + 1] - bounds[i]:
                raise UserError(f"loader worker {worker} ran out of pairs at batch {b}: the shards do not match "
                                "manifest.parquet (a folder that mixes two builds); rebuild it")
            yield part(b, worker, items, (pos[bounds[i]:bounds[i + 1]] - b * self.size).tolist(), self.collate)
        if next(pairs, None) is not None:
            raise UserError(f"loader worker {worker} has pairs left after the epoch's last batch: the shards do "
                            "not match manifest.parquet (a folder that mixes two builds); rebuild it")


def part(batch: int, worker: int, items: list[dict], positions: list[int], collate: Callable) -> dict:
    """A worker's share of batch `batch`: its readable pairs collated, the others listed, with their
    positions in the batch."""
    good = [(at, p) for at, p in zip(positions, items) if "bad" not in p]
    data = collate([p for _, p in good]) if good else None
    if isinstance(data, dict):
        data = {k: _inline(v) for k, v in data.items()}
    return {"batch": batch, "worker": worker, "positions": positions, "good": [at for at, _ in good],
            "data": data, "skipped": [(at, p["bad"]) for at, p in zip(positions, items) if "bad" in p]}


def _inline(value):
    """A small tensor as a numpy array, pickled inside the part: a tensor travels as a shared-memory
    handle, which costs the main process a socket round trip to the worker (about 1 ms of its CPU)."""
    if isinstance(value, torch.Tensor) and value.nbytes <= INLINE_BYTES:
        return value.numpy()
    return value


def _tensor(value):
    return torch.from_numpy(value) if isinstance(value, np.ndarray) else value


def _array(value):
    return value.numpy() if isinstance(value, torch.Tensor) else value


def batches(parts: Iterator[dict], pad: bool = False, ahead: int = 2) -> Iterator[dict]:
    """Join the parts of each batch (consecutive, one per worker) into the collated batch dict.

    Unreadable pairs count towards the batch, so batch boundaries, the batch count and the resume
    position stay as without them; they are left out of the batch and listed under "skipped", and
    "workers" names the worker of every pair (both added when the collate returns a dict). `pad`
    (several processes: ITC's all-gather needs equal sizes) refills their places by repeating the
    batch's readable pairs. A background thread joins up to `ahead` batches in advance (0: none),
    so the one copy of the pixels a join makes overlaps the consumer's training step instead of
    delaying it; its errors are raised here."""
    joined = (merge(group, pad) for group in _groups(parts))
    if ahead <= 0:
        yield from joined
        return
    ready: queue.Queue = queue.Queue(ahead)
    stop = threading.Event()
    thread = threading.Thread(target=_fill, args=(joined, ready, stop), name="join-batches", daemon=True)
    thread.start()
    try:
        while True:
            done, item = ready.get()
            if isinstance(item, BaseException):
                raise item
            if done:
                return
            yield item
    finally:         # the consumer stopped early (max_steps) or failed: let the thread end
        stop.set()
        thread.join()


def _groups(parts: Iterator[dict]) -> Iterator[list[dict]]:
    group: list[dict] = []
    for p in parts:
        if group and p["batch"] != group[0]["batch"]:
            yield group
            group = []
        group.append(p)
    if group:
        yield group


def _fill(items: Iterator, ready: queue.Queue, stop: threading.Event) -> None:
    """Put (done, item) for each item, then (True, None), or (True, the error) when one is raised."""
    def put(entry) -> bool:
        while not stop.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    error = None
    try:
        for item in items:
            if not put((False, item)):
                return
    except Exception as err:  # noqa: BLE001 - any error is handed to the consumer, which raises it
        error = err
    finally:                          # the consumer always hears the end (a no-op once stopped)
        put((True, error))


def merge(parts: list[dict], pad: bool = False) -> dict:
    """One batch from its parts: readable pairs in position order (then, with `pad`, repeated to the
    batch's size), token rows padded to the longest part's."""
    items = sorted((at, k) for k, p in enumerate(parts) for at in p["positions"])
    skipped = [bad for _, bad in sorted(s for p in parts for s in p["skipped"])]
    good = sorted((at, k, i) for k, p in enumerate(parts) for i, at in enumerate(p["good"]))
    if not good:
        url, key, reason = skipped[-1]
        raise UserError(f"all {len(items)} pairs of a training batch are unreadable (last: {url} [{key}]: "
                        f"{reason}); check the shards with `mals verify --decode` and rebuild them")
    order = list(range(len(items) if pad and skipped else len(good)))     # batch row -> readable pair
    if len(parts) == 1 and len(order) == len(good):
        batch = parts[0]["data"]                    # one worker, nothing to refill: already in order
        if isinstance(batch, dict):
            batch = {k: _tensor(v) for k, v in batch.items()}
    else:
        rows = [[] for _ in parts]                  # per part: its readable pairs' rows in the batch
        for r, (_, k, _) in enumerate(good):
            rows[k].append(r)
        batch = _join([p["data"] for p in parts], rows, [r % len(good) for r in order])
    if isinstance(batch, dict):     # the trainer's batches; a test's collate may return a list
        batch["workers"] = [parts[k]["worker"] for _, k in items]
        batch["skipped"] = skipped
    return batch


def _join(datas: list[dict | None], rows: list[list[int]], order: list[int]) -> dict:
    """Place each part's rows at `rows` of one batch (token rows padded to the widest), then take
    `order`. Copies go through numpy: single-threaded (no second OpenMP team beside the training
    step's) and without the GIL, so the joining thread does not stall the step."""
    keys = next(d for d in datas if d is not None).keys()
    n = sum(len(r) for r in rows)
    out = {}
    for key in keys:
        values = [(_array(d[key]), np.asarray(r)) for d, r in zip(datas, rows) if r]
        if not isinstance(values[0][0], np.ndarray):
            joined = [None] * n
            for value, at in values:
                for i, row in enumerate(at.tolist()):
                    joined[row] = value[i]
            out[key] = [joined[r] for r in order]
            continue
        shape = tuple(max(v.shape[d] for v, _ in values) for d in range(1, values[0][0].ndim))
        if all(v.shape[1:] == shape for v, _ in values):          # every row is written: no fill pass
            joined = np.empty((n, *shape), dtype=values[0][0].dtype)
        else:
            joined = np.full((n, *shape), PAD_VALUES.get(key, 0), dtype=values[0][0].dtype)
        for value, at in values:        # a shorter part's token rows go into their first columns
            joined[(at, *(slice(0, s) for s in value.shape[1:]))] = value
        out[key] = torch.from_numpy(joined if order == list(range(n)) else joined[order])
    return out
