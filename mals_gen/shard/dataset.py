"""Write a list of samples as a WebDataset folder: tars, sizes.json, manifest, card, checksums.

Both `mals shard` (samples from a run) and every importer (samples from a real dataset) end here,
so the layout is one. Samples are grouped by split (train, val, test; the given order inside a
split) and cut into shards of `samples_per_shard`; a shard never mixes splits, so a reader can
take one split by shard names alone (`splits.json`). Each shard is written by
`DeterministicTarWriter` (atomic, fixed metadata), shards in parallel processes when asked; a
shard's bytes depend only on its samples, never on the worker count.
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from ..contract import SHARD_MANIFEST_SCHEMA, SPLITS, ShardSample, sample_members
from ..errors import UserError
from ..fsutil import atomic_path, ensure_writable_dir, write_json_atomic
from .images import ImageSpec, prepare_image
from .tarwriter import DeterministicTarWriter

SHARD_NAME = re.compile(r"^\d{6}\.tar$")
DONE_FILE = ".done.json"
_AUTO_PARALLEL_MIN = 5000   # samples; below this one process is faster than spawning workers


@dataclass(frozen=True)
class ImageRef:
    """Where a sample's source image bytes are: a loose file, or a byte range of a tar."""
    path: str
    offset: int = 0
    size: int = -1          # -1 = the whole file


@dataclass
class Sample:
    """A sample to write: its contract fields, and where its source image is unless `fields.image`
    already holds the bytes (tests, benchmarks); `box` is the person box to crop to."""
    fields: ShardSample
    image: ImageRef | None = None
    box: tuple | None = None
    meta_json: bytes = b""  # `fields.meta_json()` encoded once (filled by `encoded_meta`)

    @property
    def key(self) -> str:
        return self.fields.key

    @property
    def split(self) -> str:
        return self.fields.split


@dataclass
class ShardResult:
    name: str
    sha256: str
    rows: list[dict]
    reencoded: int
    seconds: float


@dataclass
class WriteSummary:
    samples: int = 0
    shards: int = 0
    reencoded: int = 0
    seconds: float = 0.0
    skipped: bool = False
    split_counts: dict = field(default_factory=dict)


def shard_name(index: int) -> str:
    return f"{index:06d}.tar"


def assign_shards(samples: Sequence[Sample], per_shard: int) -> list[list[Sample]]:
    """Group by split (train, val, test), keep the given order inside a split, cut into shards."""
    if per_shard < 1:
        raise UserError(f"samples_per_shard must be at least 1, got {per_shard}")
    groups: list[list[Sample]] = []
    for split in SPLITS:
        members = [s for s in samples if s.split == split]
        groups += [members[i:i + per_shard] for i in range(0, len(members), per_shard)]
    return groups


def _read_bytes(ref: ImageRef, handles: dict) -> bytes:
    handle = handles.get(ref.path)
    if handle is None:
        handle = handles[ref.path] = open(ref.path, "rb")  # noqa: SIM115 - closed by write_one_shard
    handle.seek(ref.offset)
    data = handle.read() if ref.size < 0 else handle.read(ref.size)
    if ref.size >= 0 and len(data) != ref.size:
        raise UserError(f"{ref.path}: image data ends early at byte {ref.offset + len(data)}; "
                        "the file is truncated, regenerate that part")
    return data


def encoded_meta(sample: Sample) -> bytes:
    if not sample.meta_json:
        sample.meta_json = sample.fields.meta_json()
    return sample.meta_json


def _source_bytes(sample: Sample, handles: dict) -> bytes:
    if sample.fields.image:
        return sample.fields.image
    if sample.image is None:
        raise ValueError(f"sample {sample.key} has neither image bytes nor an image location")
    return _read_bytes(sample.image, handles)


def write_one_shard(path: str, samples: Sequence[Sample], spec: ImageSpec,
                    advance: Callable[[int], None] | None = None) -> ShardResult:
    """Write one tar; runs in a worker process (top-level so it pickles)."""
    started = time.perf_counter()
    rows, reencoded, handles = [], 0, {}
    name = Path(path).name
    try:
        with DeterministicTarWriter(path) as tar:
            for sample in samples:
                image = prepare_image(_source_bytes(sample, handles), sample.box, spec)
                reencoded += image.reencoded
                for member, data in sample_members(sample.fields, image.data).items():
                    tar.add(member, data)
                rows.append(sample.fields.manifest_row(name, image.width, image.height))
                if advance is not None:
                    advance(1)
    finally:
        for handle in handles.values():
            handle.close()
    return ShardResult(name, tar.sha256, rows, reencoded, time.perf_counter() - started)


def fingerprint(samples: Sequence[Sample], cfg_dict: dict) -> str:
    """Identity of an output: the config plus every sample's key, image location and metadata."""
    import hashlib

    h = hashlib.sha256(json.dumps(cfg_dict, sort_keys=True, default=str).encode())
    for s in samples:
        h.update(f"{s.key}\0{s.split}\0{s.image}\0{s.box}\0".encode())
        h.update(encoded_meta(s))
        if s.fields.image:
            h.update(hashlib.sha256(s.fields.image).digest())
    return h.hexdigest()


def _already_built(out_dir: Path, digest: str) -> bool:
    marker = out_dir / DONE_FILE
    if not marker.exists():
        return False
    done = json.loads(marker.read_text())
    return done.get("fingerprint") == digest and all((out_dir / n).exists() for n in done.get("files", []))


def _run_shards(out_dir: Path, groups: list[list[Sample]], spec: ImageSpec, workers: int,
                progress: bool) -> list[ShardResult]:
    total = sum(len(g) for g in groups)
    bar = tqdm(total=total, desc="shard", unit="sample", disable=not progress or total == 0,
               file=sys.stderr, mininterval=0.5, dynamic_ncols=True)
    try:
        if workers <= 1 or len(groups) <= 1:
            return [write_one_shard(str(out_dir / shard_name(i)), g, spec, bar.update)
                    for i, g in enumerate(groups)]
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(write_one_shard, str(out_dir / shard_name(i)), g, spec)
                       for i, g in enumerate(groups)]
            results = []
            for fut, group in zip(futures, groups):
                results.append(fut.result())
                bar.update(len(group))
            return results
    finally:
        bar.close()


def write_manifest(path: Path, rows: list[dict]) -> None:
    table = pa.Table.from_pylist(rows, schema=SHARD_MANIFEST_SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def write_dataset(samples: Sequence[Sample], out_dir: str | Path, *, spec: ImageSpec,
                  samples_per_shard: int, workers: int = 1, card: dict | None = None,
                  progress: bool = True) -> WriteSummary:
    """Write every output file of a shard folder; skip all work if an identical build is there."""
    from .card import write_card
    from .wids import write_wids_index

    out_dir = ensure_writable_dir(out_dir)
    card = dict(card or {})
    cfg_dict = {"spec": spec.__dict__, "samples_per_shard": samples_per_shard}
    digest = fingerprint(samples, cfg_dict)
    summary = WriteSummary(samples=len(samples))
    if _already_built(out_dir, digest):
        summary.skipped = True
        summary.shards = len(json.loads((out_dir / "sizes.json").read_text()))
        return summary
    (out_dir / DONE_FILE).unlink(missing_ok=True)
    started = time.perf_counter()
    groups = assign_shards(samples, samples_per_shard)
    if workers <= 0:  # auto: processes pay for their start-up only on larger jobs
        workers = (os.cpu_count() or 1) if len(samples) >= _AUTO_PARALLEL_MIN else 1
    results = _run_shards(out_dir, groups, spec, min(workers, max(1, len(groups))), progress)
    names = {r.name for r in results}
    for stale in out_dir.iterdir():  # shards of an earlier, larger build of this folder
        if SHARD_NAME.match(stale.name) and stale.name not in names:
            stale.unlink()
    rows = [row for r in results for row in r.rows]
    sizes = {r.name: len(r.rows) for r in results}
    splits = {s: [r.name for r in results if r.rows and r.rows[0]["split"] == s] for s in SPLITS}
    write_json_atomic(out_dir / "sizes.json", sizes)
    write_json_atomic(out_dir / "splits.json", splits)
    write_manifest(out_dir / "manifest.parquet", rows)
    write_card(out_dir / "README.md", rows, sizes, splits, card)
    files = [r.name for r in results] + ["sizes.json", "splits.json", "manifest.parquet", "README.md"]
    files += write_wids_index(out_dir, sizes, splits)
    write_checksums(out_dir, files, {r.name: r.sha256 for r in results})
    write_json_atomic(out_dir / DONE_FILE, {"fingerprint": digest, "files": files + ["checksums.sha256"]})
    summary.shards = len(results)
    summary.reencoded = sum(r.reencoded for r in results)
    summary.seconds = time.perf_counter() - started
    summary.split_counts = {s: sum(sizes[n] for n in splits[s]) for s in SPLITS}
    return summary


def write_checksums(out_dir: Path, files: Sequence[str], known: dict[str, str]) -> None:
    """`checksums.sha256` in `sha256sum` format; tar digests come from the writer."""
    import hashlib

    lines = []
    for name in files:
        digest = known.get(name)
        if digest is None:
            h = hashlib.sha256()
            with open(out_dir / name, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    h.update(block)
            digest = h.hexdigest()
        lines.append(f"{digest}  {name}\n")
    with atomic_path(out_dir / "checksums.sha256") as tmp:
        tmp.write_text("".join(lines))
