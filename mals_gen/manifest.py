"""Typed parquet manifest parts: write one atomically, read a stage, join stages on `key`.

Each stage writes `RUN/<stage>/part-NNNNN.parquet` with `key` plus the columns it adds (explicit
schemas in `contract.py`); a part counts once its done marker exists (paths: `layout.py`). `load_manifest` joins the stages, so upstream columns are never rewritten.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .errors import UserError
from .fsutil import atomic_path
from .layout import done_path, manifest_dir, part_path
from .stages import MANIFEST_STAGES


def write_part(path: str | Path, rows: Sequence[dict] | dict, schema: pa.Schema) -> None:
    """Write rows (a list of dicts, or a dict of columns) as one parquet file, atomically."""
    if isinstance(rows, dict):
        table = pa.Table.from_pydict(rows, schema=schema)
    else:
        table = pa.Table.from_pylist(list(rows), schema=schema)
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")


def read_part(run_dir: str | Path, stage: str, index: int, columns: Iterable[str] | None = None) -> pa.Table:
    path = part_path(run_dir, stage, index)
    if not path.exists():
        raise UserError(f"{path} is missing: run `mals {stage}` on {run_dir} first")
    try:
        return pq.read_table(path, columns=list(columns) if columns else None)
    except (OSError, pa.ArrowInvalid, KeyError) as err:
        raise UserError(f"{path}: cannot read columns {list(columns or [])} ({err}); delete "
                        f"{done_path(run_dir, stage, index)} and rerun `mals {stage}` on {run_dir}") from None


def read_joined_part(run_dir: str | Path, index: int, columns: Mapping[str, Sequence[str]]) -> list[dict]:
    """Part `index` of several stages joined on `key`: one dict per row of the first stage, in its order.

    `columns` maps stage -> the columns wanted from it (`key` is always read); a key missing from
    a later stage gets None in that stage's columns. Column names must differ between stages.
    """
    (first, first_cols), *rest = columns.items()
    rows = read_part(run_dir, first, index, ["key", *_without_key(first_cols)]).to_pylist()
    seen = set(_without_key(first_cols))
    for stage, wanted in rest:
        cols = _without_key(wanted)
        if seen & set(cols):
            raise ValueError(f"read_joined_part: column(s) {sorted(seen & set(cols))} asked from two stages")
        seen |= set(cols)
        by_key = {r["key"]: r for r in read_part(run_dir, stage, index, ["key", *cols]).to_pylist()}
        for row in rows:
            found = by_key.get(row["key"]) or {}
            row.update({c: found.get(c) for c in cols})
    return rows


def _without_key(columns: Sequence[str]) -> list[str]:
    return [c for c in columns if c != "key"]


def done_part_files(run_dir: str | Path, stage: str) -> list[Path]:
    """Parquet parts of `stage` whose done marker exists, in part order."""
    return [p for p in sorted(manifest_dir(run_dir, stage).glob("part-*.parquet"))
            if done_path(run_dir, stage, int(p.stem.removeprefix("part-"))).exists()]


def read_stage(run_dir: str | Path, stage: str, columns: Iterable[str] | None = None) -> pd.DataFrame:
    files = done_part_files(run_dir, stage)
    if not files:
        raise UserError(f"{manifest_dir(run_dir, stage)} has no finished parts: run `mals {stage}` first")
    tables = [pq.read_table(f, columns=list(columns) if columns else None) for f in files]
    return pa.concat_tables(tables).to_pandas()


def available_stages(run_dir: str | Path) -> list[str]:
    return [s for s in MANIFEST_STAGES if done_part_files(run_dir, s)]


def load_manifest(run_dir: str | Path, stages: Sequence[str] | None = None) -> pd.DataFrame:
    """One row per planned sample with the columns of every finished stage (left join on key)."""
    stages = list(stages or available_stages(run_dir))
    if not stages:
        raise UserError(f"{run_dir} holds no finished stage; run `mals generate --out {run_dir}` first")
    frame = read_stage(run_dir, stages[0])
    for stage in stages[1:]:
        frame = frame.merge(read_stage(run_dir, stage), on="key", how="left", validate="one_to_one")
    return frame
