"""The wids index of a shard folder: random access to sample i without reading the tars before it.

`wids.json` lists every shard in order, `<split>.wids.json` one split's shards (shards/README.md):
`{"wids_version": 1, "name": ..., "shardlist": [{"url": "000000.tar", "nsamples": 10000}, ...]}`.
URLs are relative to the index file, so the folder can be moved or served as is.
"""
from __future__ import annotations

from pathlib import Path

from ..contract import SPLITS
from ..fsutil import write_json_atomic

INDEX = "wids.json"


def index_name(split: str | None = None) -> str:
    return INDEX if split is None else f"{split}.{INDEX}"


def wids_index(name: str, tars: list[str], sizes: dict[str, int]) -> dict:
    return {"wids_version": 1, "name": name,
            "shardlist": [{"url": tar, "nsamples": int(sizes[tar])} for tar in tars]}


def write_wids_index(out_dir: Path, sizes: dict[str, int], splits: dict[str, list[str]]) -> list[str]:
    """Write the folder's and each non-empty split's index beside sizes.json; returns the file names."""
    written = [index_name()]
    # named "all", not after the folder: identical builds stay byte-identical wherever they are written
    write_json_atomic(out_dir / index_name(), wids_index("all", sorted(sizes), sizes))
    for split in SPLITS:
        if splits.get(split):
            write_json_atomic(out_dir / index_name(split), wids_index(split, list(splits[split]), sizes))
            written.append(index_name(split))
        else:  # left from an earlier build of this folder that had this split
            (out_dir / index_name(split)).unlink(missing_ok=True)
    return written
