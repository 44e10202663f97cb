"""The descriptions `mals styles` learns from: a table (JSONL / parquet / CSV) or a shard folder.

A shard folder (an imported CUHK-PEDES / ICFG-PEDES / RSTPReid, or any of ours) gives every caption
of its manifest.parquet; a table gives the text column (`caption`, else `text`, or `--column`).
"""
from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq

from ..errors import UserError


def read_descriptions(source: str | Path, column: str | None = None, split: str | None = "train") -> list[str]:
    """Every non-empty description of `source`; a shard folder gives only `split` (None: all)."""
    from ..attrs.table import _texts, read_table, text_column

    source = Path(source)
    if source.is_dir():
        return _shard_captions(source, split)
    frame = read_table(source)
    col = text_column(frame, source, column)
    return [t for t in _texts(frame[col], source, col) if t.strip()]


def _shard_captions(folder: Path, split: str | None) -> list[str]:
    manifest = folder / "manifest.parquet"
    if not manifest.is_file():
        raise UserError(f"--from {folder}: a folder must be a shard folder with manifest.parquet "
                        "(made by `mals shard` or `mals import`); or pass a .jsonl/.parquet/.csv table")
    table = pq.read_table(manifest, columns=["split", "captions"]).to_pydict()
    return [c for s, caps in zip(table["split"], table["captions"]) if split is None or s == split
            for c in (caps or ()) if c and c.strip()]
