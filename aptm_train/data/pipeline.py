"""The streaming training loader: a WebDataset pipeline that is exact, shuffled and resumable.

Stages (a readable list, as in open_clip's loader), run in each DataLoader worker:
  tar list (this worker's share)  ->  tar samples  ->  split filter  ->  shuffle buffer (raw bytes,
  before any decoding)  ->  one pair per caption, keep this rank's pairs  ->  skip (resume)
  ->  decode + augment (seeded per pair)
The main process batches and collates (`batches`), so a rank has one short batch per epoch at most.

Splitting happens inside the pipeline, so the loader is never handed to `accelerator.prepare`:
* mode "exact" (default): every rank lists every tar. Each pair of the split has a stable number p
  (tar order, sample order = manifest order, caption order; `ShardSet.pair_layout`); in epoch e,
  q = (p + e) mod P, and rank r trains on the pairs with q mod world = r among q < world *
  floor(P / world). Every rank gets the same number of pairs, so batch counts and the last batch's
  size agree across ranks (the ITC all-gather needs equal sizes) and every pair is trained on
  exactly once per epoch, except P mod world pairs (< world) held back, a different few each epoch.
  DataLoader workers split the tar list (shuffled per epoch, the same on every rank).
* mode "resampled" (multi-node scale): each rank and worker draws tars with replacement from its
  own seeded generator and stops after its share of floor(P / world) pairs; no rank reads the tars
  it does not train on, and coverage is exact only in expectation.

Resume: each pair carries the logical worker that made it and the trainer counts pairs per
worker. A resumed epoch rebuilds the same streams, skips each worker's consumed pairs before
decoding and rotates worker ids so the DataLoader's round-robin continues where it stopped.
Augmentation is seeded per pair from (seed, epoch, key, caption), independent of what was skipped.
"""
from __future__ import annotations

import hashlib
import io
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch
import webdataset as wds
from PIL import Image
from torch.utils.data import DataLoader, get_worker_info

from mals_gen.errors import UserError

from .shards import ShardSet


def stable_int(*parts) -> int:
    """A 63-bit integer from any parts; the same on every machine and process (no salted hash)."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


@dataclass(frozen=True)
class StreamSpec:
    """Everything that fixes one rank's stream for one epoch."""
    tars: tuple[str, ...]
    split: str
    layout: dict            # tar path -> cumulative pair offsets of its split samples (pair_layout)
    total_pairs: int
    rank: int = 0
    world: int = 1
    num_workers: int = 0
    seed: int = 0
    epoch: int = 0
    shuffle_buffer: int = 1000
    mode: str = "exact"     # "exact" | "resampled"
    skip: tuple[int, ...] = ()   # per logical worker: pairs already consumed this epoch
    rotation: int = 0       # physical worker p plays logical worker (p + rotation) % workers
    id_by: str = "image"    # identity for ITC/ITM targets: "image" (pretraining) or "person"
    attrs_field: str = "attrs"   # "attrs" (27 MALS attributes) or "pa100k_attrs" (26)

    @property
    def workers(self) -> int:
        return max(1, self.num_workers)

    @property
    def pairs_per_rank(self) -> int:
        return self.total_pairs // self.world

    def worker_share(self, worker: int) -> int:
        """Resampled mode: pairs this worker makes (the rank's pairs dealt as evenly as possible)."""
        base, extra = divmod(self.pairs_per_rank, self.workers)
        return base + (1 if worker < extra else 0)

    def owns(self, pair: int) -> bool:
        """Exact mode: does this rank train on pair number `pair` this epoch?"""
        q = (pair + self.epoch) % self.total_pairs
        return q < self.world * self.pairs_per_rank and q % self.world == self.rank


def make_spec(shards: ShardSet, split: str, **kwargs) -> StreamSpec:
    layout, total = shards.pair_layout(split)
    return StreamSpec(tars=shards.tars, split=split, layout=layout, total_pairs=total, **kwargs)


# ----------------------------------------------------------------------------------------------
# Stages. Each takes the previous stage's iterator and yields dicts.

def shard_urls(spec: StreamSpec, worker: int) -> Iterator[dict]:
    if spec.mode == "resampled":
        rng = random.Random(stable_int("resample", spec.seed, spec.epoch, spec.rank, worker))
        while True:
            yield {"url": rng.choice(spec.tars)}
    order = list(spec.tars)
    random.Random(stable_int("tars", spec.seed, spec.epoch)).shuffle(order)  # same on every rank
    for url in order[worker::spec.workers]:
        yield {"url": url}


def select(samples: Iterator[dict], spec: StreamSpec) -> Iterator[dict]:
    """Keep this split's samples and give each its first pair number (from the manifest's layout)."""
    url, index = None, 0
    for sample in samples:
        if sample["__url__"] != url:
            url, index = sample["__url__"], 0
        meta = json.loads(sample["json"])
        if meta.get("split", "train") != spec.split:
            continue
        # resampled mode may read one tar twice in a row, so it numbers nothing (it needs no numbers)
        offsets = spec.layout.get(url) if spec.mode == "exact" else None
        n_captions = max(1, len(meta.get("captions") or []))
        if offsets is not None:
            if index + 1 >= len(offsets) or offsets[index + 1] - offsets[index] != n_captions:
                raise UserError(f"{url}: sample {sample['__key__']} does not match manifest.parquet "
                                "(order or caption count); the folder mixes two builds, rebuild it")
            first = int(offsets[index])
        else:
            first = -1
        index += 1
        yield {"key": sample["__key__"], "jpg": sample["jpg"], "meta": meta, "first_pair": first}


def shuffle(samples: Iterator[dict], bufsize: int, rng: random.Random) -> Iterator[dict]:
    """Buffer shuffle on raw samples: fill the buffer, then emit a random element per arrival."""
    buf: list[dict] = []
    for sample in samples:
        buf.append(sample)
        if len(buf) >= bufsize:
            i = rng.randrange(len(buf))
            buf[i], buf[-1] = buf[-1], buf[i]
            yield buf.pop()
    rng.shuffle(buf)
    yield from buf


def to_pairs(samples: Iterator[dict], spec: StreamSpec) -> Iterator[dict]:
    """One training pair per caption; in exact mode only this rank's pairs (images not decoded yet)."""
    for s in samples:
        meta = s["meta"]
        captions = meta.get("captions") or [meta.get("caption", "")]
        ident = s["key"] if spec.id_by == "image" else str(meta.get("person_id") or s["key"])
        for j, caption in enumerate(captions):
            if spec.mode == "exact" and not spec.owns(s["first_pair"] + j):
                continue
            yield {"key": s["key"], "jpg": s["jpg"], "caption": caption, "caption_index": j,
                   "attrs": meta.get(spec.attrs_field), "person_id": stable_int("id", ident),
                   "source": meta.get("source", ""),
                   "seed": stable_int("pair", spec.seed, spec.epoch, s["key"], j)}


def decode(pairs: Iterator[dict], image_fn: Callable, text_fn: Callable | None, worker: int) -> Iterator[dict]:
    """Decode and augment each pair under its own seed, leaving the caller's RNG untouched."""
    for p in pairs:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(p["seed"] % 2**63)
            with Image.open(io.BytesIO(p["jpg"])) as img:
                p["pixels"] = image_fn(img.convert("RGB"))      # (3, H, W)
        del p["jpg"]
        if text_fn is not None:
            p["eda_caption"] = text_fn(p["caption"], random.Random(p["seed"]))
        p["worker"] = worker
        yield p


def _islice(it: Iterator, start: int, stop: int | None) -> Iterator:
    for i, item in enumerate(it):
        if stop is not None and i >= stop:
            return
        if i >= start:
            yield item


# ----------------------------------------------------------------------------------------------

class PairStream(torch.utils.data.IterableDataset):
    """One rank's epoch of decoded pairs; iterate it through `make_loader`, batch with `batches`."""

    def __init__(self, spec: StreamSpec, image_fn: Callable, text_fn: Callable | None = None):
        super().__init__()
        self.spec, self.image_fn, self.text_fn = spec, image_fn, text_fn

    def __len__(self) -> int:
        return self.spec.pairs_per_rank

    def __iter__(self) -> Iterator[dict]:
        spec = self.spec
        info = get_worker_info()
        worker = ((info.id if info is not None else 0) + spec.rotation) % spec.workers
        skip = spec.skip[worker] if worker < len(spec.skip) else 0
        limit = spec.worker_share(worker) if spec.mode == "resampled" else None
        shuffle_rng = random.Random(stable_int("shuffle", spec.seed, spec.epoch, spec.rank, worker))
        pipeline = wds.DataPipeline(
            lambda: shard_urls(spec, worker),
            wds.tarfile_to_samples(),
            lambda it: select(it, spec),
            lambda it: shuffle(it, spec.shuffle_buffer, shuffle_rng),
            lambda it: to_pairs(it, spec),
            lambda it: _islice(it, skip, limit),
            lambda it: decode(it, self.image_fn, self.text_fn, worker),
        )
        return iter(pipeline)


def make_loader(stream: PairStream) -> DataLoader:
    """A plain DataLoader over the stream (one pair per item). Its own generator keeps it from
    drawing from the global RNG, which a resumed run must find exactly as it was saved."""
    n = stream.spec.num_workers
    return DataLoader(stream, batch_size=None, num_workers=n, prefetch_factor=16 if n else None,
                      generator=torch.Generator().manual_seed(0))


def batches(pairs: Iterator[dict], size: int, collate: Callable) -> Iterator[dict]:
    """Group pairs into batches of `size` (the epoch's last one may be short) and collate them."""
    buf: list[dict] = []
    for p in pairs:
        buf.append(p)
        if len(buf) == size:
            yield collate(buf)
            buf = []
    if buf:
        yield collate(buf)


def iter_split(shards: ShardSet, split: str) -> Iterator[dict]:
    """Every sample of a split in tar order, undecoded (validation, evaluation, benchmarks)."""
    spec = StreamSpec(tars=shards.tars, split=split, layout={}, total_pairs=0)
    yield from wds.DataPipeline(lambda: ({"url": u} for u in shards.tars), wds.tarfile_to_samples(),
                                lambda it: select(it, spec))
