"""Write a list of samples as a WebDataset folder: tars, sizes.json, manifest, card, checksums.

Both `mals shard` (samples from a run) and every importer (samples from a real dataset) end here,
so the layout is one. Samples are grouped by split (train, val, test; the given order inside a
split) and cut into shards of `samples_per_shard`; a shard never mixes splits, so a reader can
take one split by shard names alone (`splits.json`). Each shard is written by
`DeterministicTarWriter` (atomic, fixed metadata), shards in parallel processes when asked
(workers die with their parent, `workers.py`); a shard's bytes depend only on its samples, never
on the worker count. Every image is decode-checked before it is written: one that cannot be read
or decoded is left out, listed in `rejects.parquet` (key, split, source, reason) and on the card,
with one warning line. A killed write resumes per tar (`state.py`).
"""
from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from ..contract import SHARD_MANIFEST_SCHEMA, SPLITS, ShardSample, sample_members
from ..errors import UserError
from ..fsutil import atomic_path, ensure_writable_dir, write_json_atomic
from .images import DECODE_ERRORS, ImageSpec, decode_reason, prepare_image
from .state import STATE_DIR, ShardResult, clean_stale_tmp, load_state, save_state
from .tarwriter import DeterministicTarWriter
from .workers import orphan_proof_pool

SHARD_NAME = re.compile(r"^\d{6}\.tar$")
DONE_FILE = ".done.json"
REJECTS_FILE = "rejects.parquet"
_MAX_WARNINGS = 20          # reject lines printed; the rest are only listed in rejects.parquet
_AUTO_PARALLEL_MIN = 5000   # samples; below this one process is faster than spawning workers
REJECTS_SCHEMA = pa.schema([("key", pa.string()), ("split", pa.string()), ("source", pa.string()),
                            ("reason", pa.string())])


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
class WriteSummary:
    samples: int = 0
    shards: int = 0
    reencoded: int = 0
    seconds: float = 0.0
    skipped: bool = False
    split_counts: dict = field(default_factory=dict)
    rejected: int = 0          # samples left out because their image cannot be read or decoded
    kept_shards: int = 0       # tars of an interrupted earlier run that matched and were kept


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
        raise OSError(f"image data ends early at byte {ref.offset + len(data)} (the file is truncated)")
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


class _Rejected(Exception):
    """A sample whose image cannot be read or decoded; the message is the reason."""


def _image_of(sample: Sample, handles: dict, spec: ImageSpec):
    """The sample's prepared image, or _Rejected naming why it cannot be written."""
    try:
        data = _source_bytes(sample, handles)
    except (OSError, ValueError) as err:  # missing, unreadable or truncated source
        raise _Rejected(f"image cannot be read ({err})") from None
    try:
        return prepare_image(data, sample.box, spec)
    except DECODE_ERRORS as err:
        raise _Rejected(decode_reason(err)) from None


def image_source(sample: Sample) -> str:
    """Where a sample's image comes from, for warnings and rejects.parquet."""
    return sample.image.path if sample.image is not None else "<bytes in memory>"


def write_one_shard(path: str, samples: Sequence[Sample], spec: ImageSpec,
                    advance: Callable[[int], None] | None = None, digest: str = "") -> ShardResult:
    """Write one tar and its resume record; runs in a worker process (top-level so it pickles).

    A sample whose image cannot be read or decoded is not written; it is returned as a reject.
    """
    started = time.perf_counter()
    rows, rejects, reencoded, handles = [], [], 0, {}
    name = Path(path).name
    try:
        with DeterministicTarWriter(path) as tar:
            for sample in samples:
                try:
                    image = _image_of(sample, handles, spec)
                except _Rejected as err:
                    rejects.append({"key": sample.key, "split": sample.split, "source": image_source(sample),
                                    "reason": str(err)})
                else:
                    reencoded += image.reencoded
                    for member, data in sample_members(sample.fields, image.data).items():
                        tar.add(member, data)
                    rows.append(sample.fields.manifest_row(name, image.width, image.height))
                if advance is not None:
                    advance(1)
    finally:
        for handle in handles.values():
            handle.close()
    result = ShardResult(name, tar.sha256, rows, reencoded, time.perf_counter() - started,
                         split=samples[0].split if samples else "", fingerprint=digest,
                         size=Path(path).stat().st_size, rejects=rejects)
    save_state(Path(path).parent, result)
    return result


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


def _combined(cfg_dict: dict, digests: Sequence[str]) -> str:
    """Identity of the whole folder from the per-tar fingerprints."""
    import hashlib

    return hashlib.sha256(json.dumps([cfg_dict, list(digests)], sort_keys=True, default=str).encode()).hexdigest()


def _already_built(out_dir: Path, digest: str) -> dict | None:
    """The done record when an identical build is complete in `out_dir`, else None."""
    marker = out_dir / DONE_FILE
    if not marker.exists():
        return None
    done = json.loads(marker.read_text())
    if done.get("fingerprint") == digest and all((out_dir / n).exists() for n in done.get("files", [])):
        return done
    return None


def _run_shards(out_dir: Path, groups: list[list[Sample]], digests: list[str], spec: ImageSpec,
                workers: int, progress: bool) -> list[ShardResult]:
    """Write every tar whose resume record does not match its plan; keep the others."""
    results: list[ShardResult | None] = [load_state(out_dir, shard_name(i), d) for i, d in enumerate(digests)]
    todo = [i for i, r in enumerate(results) if r is None]
    total = sum(len(groups[i]) for i in todo)
    bar = tqdm(total=total, desc="shard", unit="sample", disable=not progress or total == 0,
               file=sys.stderr, mininterval=0.5, dynamic_ncols=True)
    try:
        if workers <= 1 or len(todo) <= 1:
            for i in todo:
                results[i] = write_one_shard(str(out_dir / shard_name(i)), groups[i], spec, bar.update, digests[i])
        else:
            with orphan_proof_pool(min(workers, len(todo))) as pool:
                futures = {i: pool.submit(write_one_shard, str(out_dir / shard_name(i)), groups[i], spec,
                                          None, digests[i]) for i in todo}
                for i, fut in futures.items():
                    results[i] = fut.result()
                    bar.update(len(groups[i]))
    finally:
        bar.close()
    return results


def write_manifest(path: Path, rows: list[dict]) -> None:
    table = pa.Table.from_pylist(rows, schema=SHARD_MANIFEST_SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def _warn_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def _write_rejects(out_dir: Path, results: list[ShardResult], card: dict, warn) -> list[dict]:
    """List every rejected sample in rejects.parquet (and on the card), one warning line each."""
    rejects = [r for res in results for r in res.rejects]
    path = out_dir / REJECTS_FILE
    if not rejects:
        path.unlink(missing_ok=True)
        return rejects
    table = pa.Table.from_pylist(rejects, schema=REJECTS_SCHEMA)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    card.setdefault("sections", {})["Rejected images"] = (
        f"{len(rejects)} sample(s) left out because their image cannot be read or decoded; "
        f"`{REJECTS_FILE}` lists key, split, source file and reason.")
    if warn is not None:
        for r in rejects[:_MAX_WARNINGS]:
            warn(f"warning: skipped sample {r['key']} ({r['source']}): {r['reason']}")
        if len(rejects) > _MAX_WARNINGS:
            warn(f"warning: {len(rejects) - _MAX_WARNINGS} more skipped sample(s) listed in {path}")
    return rejects


def _remove_stale(out_dir: Path, names: set[str]) -> None:
    """Shards (and their resume records) of an earlier, larger build of this folder."""
    for stale in out_dir.iterdir():
        if SHARD_NAME.match(stale.name) and stale.name not in names:
            stale.unlink()
    for record in (out_dir / STATE_DIR).glob("*.json"):
        if record.name.removesuffix(".json") not in names:
            record.unlink()


def write_dataset(samples: Sequence[Sample], out_dir: str | Path, *, spec: ImageSpec,
                  samples_per_shard: int, workers: int = 1, card: dict | None = None,
                  progress: bool = True, warn: Callable[[str], None] | None = _warn_stderr) -> WriteSummary:
    """Write every output file of a shard folder; skip all work if an identical build is there.

    Tars that an interrupted earlier run finished for the same plan are kept (`state.py`); temp
    files of killed writers are deleted; samples whose image does not decode are rejected.
    """
    out_dir = ensure_writable_dir(out_dir)
    clean_stale_tmp(out_dir)
    card = dict(card or {})
    cfg_dict = {"spec": spec.__dict__, "samples_per_shard": samples_per_shard}
    groups = assign_shards(samples, samples_per_shard)
    digests = [fingerprint(g, {**cfg_dict, "shard": shard_name(i)}) for i, g in enumerate(groups)]
    digest = _combined(cfg_dict, digests)
    done = _already_built(out_dir, digest)
    if done is not None:
        sizes = json.loads((out_dir / "sizes.json").read_text())
        return WriteSummary(samples=sum(sizes.values()), shards=len(sizes), skipped=True,
                            rejected=done.get("rejected", 0))
    (out_dir / DONE_FILE).unlink(missing_ok=True)
    started = time.perf_counter()
    if workers <= 0:  # auto: processes pay for their start-up only on larger jobs
        workers = (os.cpu_count() or 1) if len(samples) >= _AUTO_PARALLEL_MIN else 1
    results = _run_shards(out_dir, groups, digests, spec, workers, progress)
    rejects = _write_rejects(out_dir, results, card, warn)
    written = [r for r in results if r.rows]  # a tar whose every image was rejected is dropped
    _remove_stale(out_dir, {r.name for r in written})
    files = _write_index(out_dir, written, card) + ([REJECTS_FILE] if rejects else [])
    write_checksums(out_dir, files, {r.name: r.sha256 for r in written})
    write_json_atomic(out_dir / DONE_FILE, {"fingerprint": digest, "files": files + ["checksums.sha256"],
                                            "rejected": len(rejects)})
    sizes = {r.name: len(r.rows) for r in written}
    return WriteSummary(samples=sum(sizes.values()), shards=len(written),
                        reencoded=sum(r.reencoded for r in written), seconds=time.perf_counter() - started,
                        split_counts={s: sum(len(r.rows) for r in written if r.split == s) for s in SPLITS},
                        rejected=len(rejects), kept_shards=sum(r.kept for r in written))


def _write_index(out_dir: Path, written: list[ShardResult], card: dict) -> list[str]:
    """sizes.json, splits.json, manifest.parquet, the card and the wids index; returns every file."""
    from .card import write_card
    from .wids import write_wids_index

    rows = [row for r in written for row in r.rows]
    sizes = {r.name: len(r.rows) for r in written}
    splits = {s: [r.name for r in written if r.split == s] for s in SPLITS}
    write_json_atomic(out_dir / "sizes.json", sizes)
    write_json_atomic(out_dir / "splits.json", splits)
    write_manifest(out_dir / "manifest.parquet", rows)
    write_card(out_dir / "README.md", rows, sizes, splits, card)
    files = [r.name for r in written] + ["sizes.json", "splits.json", "manifest.parquet", "README.md"]
    return files + write_wids_index(out_dir, sizes, splits)


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
