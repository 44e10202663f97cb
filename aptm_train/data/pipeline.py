"""The streaming training loader: a WebDataset pipeline that is exact, shuffled and resumable.

Stages (a readable list, as in open_clip's loader), run in each DataLoader worker:
  (pass, tar) list  ->  tar samples (`shards.read_tar`)  ->
  select: this split, this pass's captions, this rank's and worker's pairs  ->  shuffle buffer (raw
  bytes, before any decoding)  ->  training pairs  ->  skip (resume)  ->  decode + augment (seeded
  per pair)  ->  whole batches of the worker's pairs: tokenise, mask, collate (`batching.py`)
Worker w makes the pairs a round-robin deal of the rank's epoch gives it (`StreamSpec.worker_share`,
the same counts on every rank) and cuts them into batches, the last one short; the DataLoader hands
the workers' batches over in turn and the main process only receives them (`batching.batches`).
Only the split's tars are read (`ShardSet.split_tars`).

Batches are built to look like the original's full random shuffle of all (image, caption) pairs:
* Captions spread over the epoch: an epoch is K passes over the split (K = captions per image on
  average, rounded: 2 for CUHK-PEDES, 1 for MALS), and pass k trains caption j of every image with
  j mod K = k, so an image's captions sit about 1/K of an epoch apart instead of back to back.
  Each image is read K times per epoch, about once per pair, as the original's map-style loader.
* A two-level shuffle: every pass deals the split's pairs, in a fresh seeded tar order, to the
  workers one by one (`epoch_units`), then a buffer shuffles the samples, sized from the data
  (`auto_buffer`): a worker's whole share of a pass when SHUFFLE_BUFFER_BYTES per rank hold it, so
  data stored by person (CUHK-PEDES) does not give same-person batches. `shuffle_buffer > 0` fixes the size
  instead. The buffer is emptied at the end of each pass. `tests/test_batch_mix.py` and
  `scripts/bench_batch_mix.py` measure the share of samples whose twin caption / same person is in
  the batch against a full shuffle.

Splitting happens inside the pipeline, so the loader is never handed to `accelerator.prepare`:
* mode "exact" (default): every rank lists every tar of the split. Each pair of the split has a
  stable number p (tar order, sample order = manifest order, caption order; `ShardSet.pair_layout`);
  in epoch e, q = (p + e) mod P, and rank r trains on the pairs with q mod world = r among q < world
  * floor(P / world). Every rank gets the same number of pairs, and each worker its
  `worker_share` of them, so batch counts and sizes agree across ranks (the ITC all-gather needs
  equal sizes) and every pair is trained on exactly once per epoch, except P mod world pairs
  (< world) held back, a different few each epoch. Each pass's tar list (the same order on every
  rank) numbers the rank's pairs, and pair q goes to DataLoader worker q mod W (`epoch_units`): the
  workers finish together and each one's batches draw from the whole pass. Every worker reads
  every tar of the pass (raw bytes, world x W times in all) and decodes only its own pairs' images;
  in a tar of one split (what `mals shard` writes) it parses only its own samples' JSON too, the
  others told from the manifest's layout (`StreamSpec.pure`, `scripts/bench_select.py`).
* mode "resampled" (multi-node scale): each rank and worker draws (tar, pass) with replacement from
  its own seeded generator and stops after its share of floor(P / world) pairs; no rank reads the
  tars it does not train on, and coverage is exact only in expectation.

Resume: the trainer counts the pairs it consumed this epoch (always a batch boundary). A resumed
epoch rebuilds the same streams, each worker skips its pairs of the batches before that point,
before decoding, and the rounds resume where they stopped (`batching.BatchStream`, `start`).
Augmentation and MLM masking are seeded per pair from (seed, epoch, key, caption), independent of
what was skipped.

Unreadable samples: a JPEG that does not decode, or the samples a truncated tar lost (or a tar that
ends before the manifest's count), become `bad` items in place of their pairs. They travel the
stream like pairs and count as consumed, so an epoch keeps its length, its batch count and its
resume positions; the batch leaves them out and lists them (`batching.py`), and the trainer
warns once per tar and key, counts them (log.jsonl `skipped_pairs`) and stops past
`data.max_bad_fraction` of an epoch's pairs.
"""
from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace

import numpy as np
import torch
import webdataset as wds
from torch.utils.data import DataLoader, get_worker_info

from mals_gen.errors import UserError

from .shards import ShardSet, read_tar, to_sample
from .skips import BadImage, Skips, decode_pixels

#: Raw sample bytes the shuffle buffers of one rank may hold (split between its workers).
SHUFFLE_BUFFER_BYTES = 1 << 30


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
    shuffle_buffer: int = 1000   # samples per worker's buffer (make_spec sizes it from the data)
    passes: int = 1         # K: pass k trains caption j of each image with j mod K = k
    mode: str = "exact"     # "exact" | "resampled"
    id_by: str = "image"    # identity for ITC/ITM targets: "image" (pretraining) or "person"
    attrs_field: str = "mals_attrs"   # "mals_attrs" (27 MALS attributes) or "pa100k_attrs" (26)
    # tars whose every sample is of `split` (the manifest says so): in exact mode a worker passes over
    # the samples it does not own there without parsing their JSON (`select`)
    pure: frozenset = frozenset()

    @property
    def workers(self) -> int:
        return max(1, self.num_workers)

    @property
    def pairs_per_rank(self) -> int:
        return self.total_pairs // self.world

    def worker_share(self, worker: int) -> int:
        """Pairs this worker makes: the rank's pairs dealt one by one, round-robin (the same on every rank)."""
        return dealt(self.pairs_per_rank, worker, self.workers)

    def owns(self, pair: int) -> bool:
        """Exact mode: does this rank train on pair number `pair` this epoch?"""
        q = (pair + self.epoch) % self.total_pairs
        return q < self.world * self.pairs_per_rank and q % self.world == self.rank


def dealt(pairs: int, worker: int, workers: int) -> int:
    """How many of pairs 0 .. pairs-1 a round-robin deal gives `worker` (those with i mod workers == worker)."""
    return pairs // workers + (1 if worker < pairs % workers else 0)


def make_spec(shards: ShardSet, split: str, *, shuffle_buffer: int = 0, **kwargs) -> StreamSpec:
    """The stream of `split`: its tars only; `shuffle_buffer` <= 0 sizes the buffer from the data."""
    layout, total = shards.pair_layout(split)
    samples = shards.counts(split).samples
    passes = max(1, round(total / samples)) if samples else 1
    spec = StreamSpec(tars=shards.split_tars(split), split=split, layout=layout, total_pairs=total,
                      passes=passes, pure=shards.pure_tars(split), **kwargs)
    if shuffle_buffer <= 0:
        shuffle_buffer = auto_buffer(spec, samples)
    return replace(spec, shuffle_buffer=shuffle_buffer)


def auto_buffer(spec: StreamSpec, samples: int) -> int:
    """Samples per worker's buffer: all the pairs a rank trains on (so a pass is fully shuffled),
    at most SHUFFLE_BUFFER_BYTES per rank at the split's mean sample size on disk."""
    per_sample = sum(os.path.getsize(t) for t in spec.tars) / max(1, samples)
    fits = int(SHUFFLE_BUFFER_BYTES // (spec.workers * max(1.0, per_sample)))
    return max(1, min(spec.pairs_per_rank + 1, fits))


# ----------------------------------------------------------------------------------------------
# Stages. Each takes the previous stage's iterator and yields dicts.

def shard_urls(spec: StreamSpec, worker: int) -> Iterator[dict]:
    """This worker's reads: {url, pass, ...}. Resampled mode draws whole tars (every pair of a drawn
    tar's pass); exact mode reads `epoch_units`."""
    if spec.mode == "resampled":
        rng = random.Random(stable_int("resample", spec.seed, spec.epoch, spec.rank, worker))
        while True:
            yield {"url": rng.choice(spec.tars), "pass": rng.randrange(spec.passes)}
    for units in epoch_units(spec):
        yield from units[worker]


def epoch_units(spec: StreamSpec) -> list[list[list[dict]]]:
    """Exact mode, per pass, per worker: its reads, each with the number of this rank's pairs it makes.

    Each pass's tars come in a fresh seeded order (the same on every rank) and the rank's pairs of
    the pass, in that order, take the next epoch positions after the earlier passes'. The
    pair at position q goes to worker q mod W: a deal of single pairs, so each worker's batches
    draw from every part of the pass (on data stored person by person, a person's images land with
    different workers, and a batch holds a same-person pair no more often than under a full shuffle:
    tests/test_batch_mix.py), and each worker makes its `worker_share` on every rank. Every worker
    therefore reads every tar of the pass and decodes only its own pairs' images. A read carries the
    tar's first position (`start`) and each sample's offset from it (`lo`)."""
    passes, start = [], 0
    for k in range(spec.passes):
        # a tar whose samples all have k captions or fewer has nothing for pass k
        order = [t for t in spec.tars if len(spec.layout[t]) > 1 and np.diff(spec.layout[t]).max() > k]
        random.Random(stable_int("tars", spec.seed, spec.epoch, k)).shuffle(order)
        units: list[list[dict]] = [[] for _ in range(spec.workers)]
        for url in order:
            per_sample = _owned_pairs(spec, url, k)
            n = int(per_sample.sum())
            lo = np.cumsum(per_sample) - per_sample               # the tar's pairs before each sample
            for w in range(spec.workers):
                pairs = dealt(start + n, w, spec.workers) - dealt(start, w, spec.workers)
                if pairs:
                    units[w].append({"url": url, "pass": k, "start": start, "lo": lo, "worker": w, "pairs": pairs})
            start += n
        passes.append(units)
    return passes


def _owned_pairs(spec: StreamSpec, url: str, k: int) -> np.ndarray:
    """(samples,) per split sample of tar `url`: its pass-k pairs this rank trains on (`StreamSpec.owns`)."""
    offsets = np.asarray(spec.layout[url], dtype=np.int64)
    sizes = np.diff(offsets)
    pair = np.arange(offsets[0], offsets[-1], dtype=np.int64)
    caption = pair - np.repeat(offsets[:-1], sizes)
    q = (pair + spec.epoch) % spec.total_pairs
    mine = (caption % spec.passes == k) & (q < spec.world * spec.pairs_per_rank) & (q % spec.world == spec.rank)
    return np.bincount(np.repeat(np.arange(len(sizes)), sizes)[mine], minlength=len(sizes))


def worker_pairs(spec: StreamSpec) -> list[int]:
    """Pairs (unreadable ones included) each logical worker makes this epoch, from the layout alone."""
    if spec.mode == "resampled":
        return [spec.worker_share(w) for w in range(spec.workers)]
    runs = epoch_units(spec)
    return [sum(u["pairs"] for units in runs for u in units[w]) for w in range(spec.workers)]


def tar_samples(urls: Iterator[dict]) -> Iterator[dict]:
    """The raw samples of each listed tar, tagged with the pass and which read of a tar they come from.

    Each read ends with a marker item (`__end__`), which names the damage (`__bad__`: where and
    why) of a truncated tar instead of a traceback."""
    for n, item in enumerate(urls):
        damage = Skips(echo=None)     # the trainer warns, in the main process
        for files in read_tar(item["url"], damage):
            files["__pass__"], files["__read__"], files["__unit__"] = item["pass"], n, item
            yield files
        where, reason = damage.items[0][1:] if damage else ("", None)
        yield {"__url__": item["url"], "__key__": where, "__bad__": reason, "__end__": True,
               "__pass__": item["pass"], "__read__": n, "__unit__": item}


def select(samples: Iterator[dict], spec: StreamSpec) -> Iterator[dict]:
    """This split's samples -> the (sample, caption) items of the pass, in exact mode this rank's and
    this worker's only.

    Each sample's first pair number comes from the manifest's layout, checked against the tar. The
    pairs of the samples a tar lost (truncated, or ending before the manifest's count) become `bad`
    items, so the epoch keeps its length."""
    read, index = None, 0
    for files in samples:
        if files["__read__"] != read:
            read, index = files["__read__"], 0
        if "__end__" in files:
            yield from _lost_pairs(spec, files, index)
            continue
        own = _own_pairs(spec, files, index)   # [] = another worker's sample: its JSON is never parsed
        if own == []:
            index += 1
            continue
        sample = to_sample(files)
        if sample.split != spec.split:
            continue
        i, index = index, index + 1
        n_pairs = max(1, len(sample.captions))
        first = _first_pair(spec, files, i, n_pairs)
        round_ = files["__pass__"] if spec.mode == "exact" else 0
        if own is None:
            own = _unit_pairs(spec, files["__unit__"], i, first, n_pairs, files["__pass__"])
        for j in own:
            yield {"sample": sample, "caption_index": j, "round": round_, "url": files["__url__"]}


def selected(spec: StreamSpec, worker: int) -> Iterator[dict]:
    """The reading stages of logical worker `worker`: its pass's tars walked, then `select`ed (the
    pairs it makes, before shuffling and decoding)."""
    return select(tar_samples(shard_urls(spec, worker)), spec)


def _own_pairs(spec: StreamSpec, files: dict, index: int) -> list[int] | None:
    """Exact mode, a tar of this split only: the caption indices of sample `index` this worker makes
    (often none), told from the manifest's layout before the sample is parsed; None elsewhere, and
    past the manifest's count (the parse reports that mismatch: `_first_pair`)."""
    url = files["__url__"]
    if spec.mode != "exact" or url not in spec.pure:
        return None
    if index + 1 >= len(spec.layout[url]):
        return None
    return _listed_pairs(spec, files["__unit__"], url, index, files["__pass__"])


def _listed_pairs(spec: StreamSpec, unit: dict, url: str, i: int, k: int) -> list[int]:
    """`_unit_pairs` of the tar's split sample i, its pairs read from the manifest's layout."""
    offsets = spec.layout[url]
    first, n_pairs = int(offsets[i]), int(offsets[i + 1] - offsets[i])
    return _unit_pairs(spec, unit, i, first, n_pairs, k)


def _unit_pairs(spec: StreamSpec, unit: dict, i: int, first: int, n_pairs: int, k: int) -> list[int]:
    """Caption indices of sample i (pairs first .. first + n_pairs - 1) that this read makes in pass k:
    in exact mode the rank's pairs whose epoch position falls to this worker (`epoch_units`)."""
    mine = [j for j in range(k, n_pairs, spec.passes) if spec.mode != "exact" or spec.owns(first + j)]
    if spec.mode != "exact":
        return mine
    at = unit["start"] + int(unit["lo"][i])
    return [j for t, j in enumerate(mine) if (at + t) % spec.workers == unit["worker"]]


def _lost_pairs(spec: StreamSpec, marker: dict, index: int) -> Iterator[dict]:
    """The pairs this rank owns among the samples a tar lost (its `index` samples of the split were
    read); in resampled mode (no numbering) one bad item, so the damage is still counted and warned."""
    offsets = spec.layout.get(marker["__url__"], [0])
    listed = len(offsets) - 1
    unit = marker["__unit__"]
    if index >= listed:
        return
    reason = marker["__bad__"] or f"the tar ends after {index} of the {listed} {spec.split} samples " \
        "manifest.parquet lists; the rest are skipped"
    bad = {"bad": (marker["__url__"], marker["__key__"] or f"after sample {index}", reason),
           "round": marker["__pass__"]}
    if spec.mode != "exact":
        yield {**bad, "round": 0, "caption_index": 0}
        return
    for i in range(index, listed):
        for j in _listed_pairs(spec, unit, marker["__url__"], i, marker["__pass__"]):
            yield {**bad, "caption_index": j}


def _first_pair(spec: StreamSpec, files: dict, index: int, n_pairs: int) -> int:
    # resampled mode numbers nothing (it needs no numbers)
    offsets = spec.layout.get(files["__url__"]) if spec.mode == "exact" else None
    if offsets is None:
        return -1
    if index + 1 >= len(offsets) or offsets[index + 1] - offsets[index] != n_pairs:
        raise UserError(f"{files['__url__']}: sample {files['__key__']} does not match manifest.parquet "
                        "(order or caption count); the folder mixes two builds, rebuild it")
    return int(offsets[index])


def shuffle(items: Iterator[dict], bufsize: int, rng: random.Random) -> Iterator[dict]:
    """Buffer shuffle on raw samples: fill the buffer, then emit a random element per arrival; the
    buffer is emptied (shuffled) whenever the round (the pass, in exact mode) changes."""
    buf: list[dict] = []
    current = None
    for item in items:
        if item["round"] != current:
            rng.shuffle(buf)
            yield from buf
            buf, current = [], item["round"]
        buf.append(item)
        if len(buf) >= bufsize:
            i = rng.randrange(len(buf))
            buf[i], buf[-1] = buf[-1], buf[i]
            yield buf.pop()
    rng.shuffle(buf)
    yield from buf


def to_pairs(items: Iterator[dict], spec: StreamSpec) -> Iterator[dict]:
    """(sample, caption) items -> training pairs (images not decoded yet); bad items pass through."""
    for item in items:
        if "bad" in item:
            yield {"bad": item["bad"]}
            continue
        s, j = item["sample"], item["caption_index"]
        ident = s.key if spec.id_by == "image" else s.person_id
        yield {"key": s.key, "image": s.image, "caption": s.captions[j] if s.captions else "", "caption_index": j,
               "attrs": getattr(s, spec.attrs_field), "person_id": stable_int("id", ident), "source": s.source,
               "seed": stable_int("pair", spec.seed, spec.epoch, s.key, j), "url": item["url"]}


def decode(pairs: Iterator[dict], image_fn: Callable, text_fn: Callable | None, worker: int) -> Iterator[dict]:
    """Decode and augment each pair under its own seed, leaving the caller's RNG untouched.

    An image that does not decode turns the pair into a `bad` item (the trainer warns and counts)."""
    for p in pairs:
        p["worker"] = worker
        if "bad" in p:
            yield p
            continue
        try:
            img = decode_pixels(p.pop("image"))
        except BadImage as err:
            yield {"bad": (p["url"], p["key"], str(err)), "worker": worker}
            continue
        with torch.random.fork_rng(devices=[]):
            # the CPU generator alone: torch.manual_seed also queues a seed for every lazy device
            # backend, with a captured stack trace each: 0.3 ms per pair against 3 us
            torch.default_generator.manual_seed(p["seed"] % 2**63)
            p["pixels"] = image_fn(img)      # (3, H, W)
        if text_fn is not None:
            p["eda_caption"] = text_fn(p["caption"], random.Random(p["seed"]))
        yield p


def _islice(it: Iterator, start: int, stop: int | None) -> Iterator:
    for i, item in enumerate(it):
        if stop is not None and i >= stop:
            return
        if i >= start:
            yield item


# ----------------------------------------------------------------------------------------------

class PairStream(torch.utils.data.IterableDataset):
    """One rank's epoch of decoded pairs. Training batches it in the workers (`batching.BatchStream`);
    iterated alone through `make_loader` it yields single pairs in the epoch's order."""

    def __init__(self, spec: StreamSpec, image_fn: Callable, text_fn: Callable | None = None):
        super().__init__()
        self.spec, self.image_fn, self.text_fn = spec, image_fn, text_fn

    def __len__(self) -> int:
        return self.spec.pairs_per_rank

    def __iter__(self) -> Iterator[dict]:
        info = get_worker_info()
        return self.pairs(info.id if info is not None else 0)

    def pairs(self, worker: int, skip: int = 0) -> Iterator[dict]:
        """The decoded pairs of logical worker `worker`, after its first `skip` (left undecoded)."""
        spec = self.spec
        limit = spec.worker_share(worker) if spec.mode == "resampled" else None
        shuffle_rng = random.Random(stable_int("shuffle", spec.seed, spec.epoch, spec.rank, worker))
        pipeline = wds.DataPipeline(
            lambda: selected(spec, worker),
            lambda it: shuffle(it, spec.shuffle_buffer, shuffle_rng),
            lambda it: to_pairs(it, spec),
            lambda it: _islice(it, skip, limit),
            lambda it: decode(it, self.image_fn, self.text_fn, worker),
        )
        return iter(pipeline)


def make_loader(stream: torch.utils.data.IterableDataset) -> DataLoader:
    """A plain DataLoader over a `PairStream` (one pair per item) or a `batching.BatchStream` (one
    batch part per item: 2 per worker keep 2 batches ready, and `batching.batches` joins 2 more).
    Its own generator keeps it from drawing from the global RNG, which a resumed run must find
    exactly as it was saved."""
    n = stream.spec.num_workers
    if n:
        # the workers tokenise: say so before they fork, or HF tokenizers warns in each of them
        # (and turns its threads off there anyway) once the main process has tokenised in parallel
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    return DataLoader(stream, batch_size=None, num_workers=n, prefetch_factor=2 if n else None,
                      collate_fn=_as_is, generator=torch.Generator().manual_seed(0))


def _as_is(item):
    """The DataLoader's item conversion, switched off: it would turn the numpy arrays a batch part
    carries inline (batching.py) back into shared-memory tensors."""
    return item

