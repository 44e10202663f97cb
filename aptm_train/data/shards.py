"""A shard folder: its tars, `sizes.json`, `splits.json`, `manifest.parquet`, and reading a split.

The manifest (SHARD_MANIFEST_SCHEMA) is the source of truth for what a split holds: the number of
samples and training pairs (one pair per caption) of each split, and, per tar, how many of its
samples belong to a split. The streaming loader uses the per-tar counts to give every sample of
a split a stable global index (tar order, then order inside the tar), which is how samples are
dealt to processes exactly once per epoch. The shard writer writes a tar's samples in manifest
order; `sizes.json` (samples per tar) and `splits.json` (tars per split) are cross-checked against
the manifest.

Shards never mix splits, so every reader opens only its split's tars (`ShardSet.split_tars`):
validation reads the val tars, evaluation the test tars. Folders without `splits.json` (older
builds, hand-made tars) take the tars the manifest names for the split, and readers still drop
any other split's sample. `read_tar` is the one place a shard tar is opened.
"""
from __future__ import annotations

import json
import tarfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from mals_gen.contract import SPLITS, SampleError, ShardSample, read_sample
from mals_gen.errors import UserError
from mals_gen.tarstream import iter_members

# Per-dataset mean / std (RGB) from docs/method.md "Inputs", keyed by the name used in `source`.
NORM_STATS: dict[str, tuple[tuple[float, float, float], tuple[float, float, float]]] = {
    "mals": ((0.4417, 0.4181, 0.4237), (0.3088, 0.2974, 0.3010)),
    "cuhk-pedes": ((0.3890, 0.3652, 0.3484), (0.2434, 0.2374, 0.2337)),
    "icfg-pedes": ((0.3094, 0.2896, 0.3035), (0.2585, 0.2455, 0.2366)),
    "rstpreid": ((0.2772, 0.2607, 0.3037), (0.2610, 0.2508, 0.2529)),
    "pa100k": ((0.4649, 0.4504, 0.4632), (0.2509, 0.2461, 0.2424)),
}


def norm_name(source: str) -> str:
    """Map a sample's `source` ("mals-sketch", "cuhk-pedes", "PA-100K" ...) to a NORM_STATS key."""
    s = source.lower().replace("_", "-")
    if s.startswith("mals"):
        return "mals"
    for name in NORM_STATS:
        if s.replace("-", "") == name.replace("-", ""):
            return name
    if s.replace("-", "") in ("pa100k",):
        return "pa100k"
    return "mals"  # generated data of our own follows MALS statistics


@dataclass(frozen=True)
class SplitCounts:
    samples: int
    pairs: int
    with_attrs: int
    per_tar: dict  # tar name -> samples of this split in that tar (tar order)


@dataclass(frozen=True)
class ShardSet:
    folder: Path
    tars: tuple[str, ...]          # absolute paths, sorted
    manifest: pd.DataFrame
    splits: dict                   # split -> tuple of absolute tar paths holding it (tar order)

    def split_tars(self, split: str) -> tuple[str, ...]:
        """The tars that hold `split`: the only ones a reader of that split opens."""
        return self.splits.get(split, ())

    def counts(self, split: str) -> SplitCounts:
        rows = self.manifest[self.manifest["split"] == split]
        per_tar = Counter(rows["shard"].tolist())
        pairs = int(rows["captions"].map(lambda c: max(1, len(c)) if c is not None else 1).sum())
        attrs = int(rows["mals_attrs"].map(lambda a: a is not None).sum())
        names = [Path(t).name for t in self.tars]
        return SplitCounts(len(rows), pairs, attrs, {n: per_tar.get(n, 0) for n in names})

    def pure_tars(self, split: str) -> frozenset:
        """The tars of `split` that hold no sample of another split (manifest.parquet)."""
        splits = self.manifest.groupby("shard")["split"]
        one = (splits.nunique() == 1) & (splits.first() == split)           # shard name -> bool
        return frozenset(t for t in self.split_tars(split) if one.get(Path(t).name, False))

    def pair_layout(self, split: str) -> tuple[dict, int]:
        """Stable pair numbering of a split: ({tar path: (N+1,) cumulative pair offsets}, total pairs).

        Pairs are numbered in tar order, then sample order inside the tar (= manifest order), then
        caption order; sample i of a tar's split samples owns pairs offsets[i] .. offsets[i+1]-1.
        """
        rows = self.manifest[self.manifest["split"] == split]
        layout, total = {}, 0
        for tar in self.split_tars(split):
            sub = rows[rows["shard"] == Path(tar).name]["captions"]
            counts = np.array([max(1, len(c)) if c is not None else 1 for c in sub], dtype=np.int64)
            layout[tar] = total + np.concatenate([[0], np.cumsum(counts)])
            total += int(counts.sum())
        return layout, total

    def dominant_source(self, split: str = "train") -> str:
        rows = self.manifest[self.manifest["split"] == split]
        if rows.empty or "source" not in rows:
            return "mals"
        return str(rows["source"].mode().iloc[0])


def open_shards(folder: str | Path) -> ShardSet:
    """Open a shard folder or fail with one line naming the folder and the fix."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"shard folder {folder} does not exist; build one with `mals shard` or `mals run`")
    tars = tuple(sorted(str(p.resolve()) for p in folder.glob("*.tar")))
    if not tars:
        raise UserError(f"shard folder {folder} holds no .tar shards; build it with `mals shard RUN --out "
                        f"{folder}` or point --shards at a folder of WebDataset tars")
    man_path = folder / "manifest.parquet"
    if not man_path.is_file():
        raise UserError(f"{man_path} is missing; shards need their manifest (rebuild with `mals shard`)")
    manifest = pd.read_parquet(man_path)
    missing = {"key", "shard", "split", "captions"} - set(manifest.columns)
    if missing:
        raise UserError(f"{man_path}: missing column(s) {sorted(missing)}; rebuild with `mals shard`")
    if "mals_attrs" not in manifest:  # builds before the rename called it "attrs"
        manifest["mals_attrs"] = manifest.get("attrs")
    unknown = set(manifest["split"]) - set(SPLITS)
    if unknown:
        raise UserError(f"{man_path}: unknown split value(s) {sorted(unknown)}; expected {SPLITS}")
    _check_sizes(folder, tars, manifest)
    return ShardSet(folder, tars, manifest, _split_tars(folder, tars, manifest))


def _split_tars(folder: Path, tars: tuple[str, ...], manifest: pd.DataFrame) -> dict:
    """split -> its tars, from splits.json (checked against the manifest) or else from the manifest."""
    by_name = {Path(t).name: t for t in tars}
    held = {s: set(manifest.loc[manifest["split"] == s, "shard"]) for s in SPLITS}
    path = folder / "splits.json"
    if not path.is_file():
        return {s: tuple(t for n, t in by_name.items() if n in held[s]) for s in SPLITS}
    try:
        listed = json.loads(path.read_text())
        listed = {s: list(listed.get(s) or []) for s in SPLITS}
    except (json.JSONDecodeError, AttributeError, TypeError) as err:
        raise UserError(f"{path}: not a JSON object of split -> tar names ({err}); rebuild with `mals shard`, "
                        "or delete it to take the splits from manifest.parquet") from None
    for split in SPLITS:
        absent = sorted(set(listed[split]) - set(by_name))
        unlisted = sorted(held[split] - set(listed[split]))
        if absent or unlisted:
            what = f"names {absent[0]}, not in the folder" if absent else f"lacks {unlisted[0]}, which holds {split} samples"
            raise UserError(f"{path}: {split} {what}; the folder mixes two builds, rebuild it")
    return {s: tuple(by_name[n] for n in sorted(listed[s])) for s in SPLITS}


def read_tar(path: str, skips=None) -> Iterator[dict]:
    """The samples of one shard tar in tar order, as WebDataset dicts (`__key__`, `__url__`, ext -> bytes).

    The one function that opens shard tars: the training stream, validation, evaluation, search and
    embedding all read through it. A truncated or unreadable tar is a one-line UserError, or, given
    `skips` (a `skips.Skips`), one warning naming the tar and the last good key, and the samples read
    before the damage (the partly read sample is dropped)."""
    current: dict | None = None
    last = None
    try:
        for name, read in iter_members(path):
            key, _, ext = name.rpartition("/")[2].partition(".")   # keys never contain a dot
            if current is not None and current["__key__"] != key:
                last = current["__key__"]
                yield current
                current = None
            current = current or {"__key__": key, "__url__": path}
            current[ext] = read()
    except (tarfile.TarError, EOFError, OSError) as err:
        if skips is None:
            raise UserError(f"{path}: unreadable shard ({err}); check it with `mals verify {Path(path).parent}` "
                            "and rebuild the folder") from None
        skips.add(path, f"after {last}" if last else "at the start",
                  f"truncated or unreadable tar ({err}); the rest of this tar is skipped")
        return
    if current is not None:
        yield current


def to_sample(files: dict) -> ShardSample:
    """`contract.read_sample` with the tar named in the one-line error."""
    try:
        return read_sample(files)
    except SampleError as err:
        raise UserError(f"{files.get('__url__')}: {err}; check it with `mals verify` and rebuild the folder") from None


def iter_split(shards: ShardSet, split: str, skips=None) -> Iterator[ShardSample]:
    """Every sample of a split in tar order, undecoded, reading only the split's tars (`skips`: see read_tar)."""
    for _, sample in iter_split_tars(shards, split, skips):
        yield sample


def iter_split_tars(shards: ShardSet, split: str, skips=None) -> Iterator[tuple[str, ShardSample]]:
    """(tar path, sample) of every sample of a split, as `iter_split`."""
    for tar in shards.split_tars(split):
        for files in read_tar(tar, skips):
            sample = to_sample(files)
            if sample.split == split:       # a folder without splits.json may mix splits in a tar
                yield tar, sample


def _check_sizes(folder: Path, tars: tuple[str, ...], manifest: pd.DataFrame) -> None:
    """sizes.json (samples per tar) must agree with the manifest, or the epoch length would lie."""
    sizes_path = folder / "sizes.json"
    names = {Path(t).name for t in tars}
    strays = set(manifest["shard"]) - names
    if strays:
        raise UserError(f"{folder}/manifest.parquet names shard {min(strays)} that is not in the "
                        "folder; copy the missing tar or rebuild the shards")
    if not sizes_path.is_file():
        return
    try:
        sizes = json.loads(sizes_path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{sizes_path}: not valid JSON ({err.msg}); rebuild with `mals shard`") from None
    per_tar = Counter(manifest["shard"].tolist())
    for name, n in sizes.items():
        if name in names and isinstance(n, int) and n != per_tar.get(name, 0):
            raise UserError(f"{sizes_path}: {name} has {n} samples but manifest.parquet lists "
                            f"{per_tar.get(name, 0)}; the folder mixes two builds, rebuild it")


def require_split(shards: ShardSet, split: str, what: str) -> SplitCounts:
    counts = shards.counts(split)
    if counts.samples == 0:
        raise UserError(f"shards {shards.folder} hold no {split!r} samples, needed for {what}; rebuild "
                        f"with a split that gives {split} a share (e.g. `mals shard --split ...`)")
    return counts


def require_attrs(shards: ShardSet, recipe: str) -> None:
    """Attribute recipes cannot run on shards without attributes."""
    counts = shards.counts("train")
    if counts.samples and counts.with_attrs == 0:
        raise UserError(f"shards {shards.folder} carry no attributes (mals_attrs is null for all "
                        f"{counts.samples} train samples) but recipe {recipe!r} needs them; run `mals attrs` "
                        "before `mals shard`, or train with --recipe finetune")
