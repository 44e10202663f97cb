"""`mals attrs --in FILE --out FILE`: label any table of captions (JSONL, parquet or CSV).

The text comes from the `caption` column, else `text` (or the column the user names). The
output keeps every input column and adds `mined_attrs` (27 int8, -1 = undecided), `attr_source` and one
int8 column per attribute name. The output file is written atomically, so a killed run leaves no
partial file and rerunning gives the same result.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from ..contract import MALS_ATTRIBUTE_NAMES, NUM_MALS_ATTRIBUTES
from ..errors import UserError
from ..fsutil import atomic_path
from .miner import RULES_VERSION, mine_many

FORMATS = (".jsonl", ".parquet", ".csv")
TEXT_COLUMNS = ("caption", "text")
CHUNK = 100_000  # rows per progress step


def _format(path: Path, role: str) -> str:
    suffix = path.suffix.lower()
    if suffix == ".json" and role == "--in":
        suffix = ".jsonl"
    if suffix not in FORMATS:
        raise UserError(f"{role} {path}: unknown format {path.suffix or '(none)'}; "
                        f"use one of {', '.join(FORMATS)}")
    return suffix


def _read_jsonl(path: Path) -> pd.DataFrame:
    rows = []
    with open(path, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(f"{path} line {n}: not valid JSON ({err.msg}); fix or remove the line") from None
            if not isinstance(row, dict):
                raise UserError(f"{path} line {n}: expected a JSON object per line, got {type(row).__name__}")
            rows.append(row)
    return pd.DataFrame(rows)


def read_table(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    fmt = _format(path, "--in")
    if not path.is_file():
        raise UserError(f"--in {path} does not exist; check the path")
    try:
        if fmt == ".jsonl":
            return _read_jsonl(path)
        if fmt == ".parquet":
            return pq.read_table(path).to_pandas()
        return pd.read_csv(path, keep_default_na=False, dtype=str)
    except (pa.ArrowInvalid, OSError, pd.errors.ParserError, UnicodeDecodeError) as err:
        raise UserError(f"--in {path}: cannot read it as {fmt[1:]} ({err}); check the file") from None


def text_column(frame: pd.DataFrame, path: Path, column: str | None = None) -> str:
    """The column holding the text: `column` if given, else caption, else text."""
    wanted = (column,) if column else TEXT_COLUMNS
    for name in wanted:
        if name in frame.columns:
            return name
    found = ", ".join(map(str, frame.columns)) or "none"
    raise UserError(f"{path}: no {' or '.join(repr(w) for w in wanted)} column (columns: {found}); "
                    "rename the text column to `caption` or pass --column NAME")


def _texts(series: pd.Series, path: Path, column: str) -> list[str]:
    out = []
    for i, value in enumerate(series.tolist()):
        if value is None or (isinstance(value, float) and np.isnan(value)):
            out.append("")
        elif isinstance(value, str):
            out.append(value)
        else:
            raise UserError(f"{path} record {i + 1}: `{column}` is {type(value).__name__}, not text; "
                            "give one caption per row")
    return out


def label_frame(frame: pd.DataFrame, texts: list[str], source: str, progress: bool = False) -> pd.DataFrame:
    """`frame` plus the mined columns (mined names replace same-named input columns)."""
    from tqdm import tqdm

    parts = []
    with tqdm(total=len(texts), desc="attrs", unit="caption", disable=not progress) as bar:
        for start in range(0, len(texts), CHUNK):
            parts.append(mine_many(texts[start:start + CHUNK]))
            bar.update(len(parts[-1]))
    labels = np.concatenate(parts) if parts else np.zeros((0, NUM_MALS_ATTRIBUTES), np.int8)
    out = frame.copy()
    out["mined_attrs"] = list(labels)
    out["attr_source"] = f"{RULES_VERSION}:{source}"
    for i, name in enumerate(MALS_ATTRIBUTE_NAMES):
        out[name] = labels[:, i]
    return out


def write_table(frame: pd.DataFrame, path: Path) -> None:
    fmt = _format(path, "--out")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(path) as tmp:
        if fmt == ".parquet":
            labels = np.stack(frame["mined_attrs"].tolist()) if len(frame) else np.zeros((0, NUM_MALS_ATTRIBUTES))
            attrs = pa.FixedSizeListArray.from_arrays(
                pa.array(labels.reshape(-1).astype(np.int8), pa.int8()), NUM_MALS_ATTRIBUTES)
            table = pa.Table.from_pandas(frame.drop(columns=["mined_attrs"]), preserve_index=False)
            table = table.add_column(list(frame.columns).index("mined_attrs"), "mined_attrs", attrs)
            pq.write_table(table, tmp, compression="zstd")
        elif fmt == ".csv":
            frame.assign(mined_attrs=[json.dumps(a.tolist()) for a in frame["mined_attrs"]]).to_csv(tmp, index=False)
        else:
            with open(tmp, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(rec, ensure_ascii=False, default=_json_default) + "\n" for rec in frame.assign(mined_attrs=[a.tolist() for a in frame["mined_attrs"]]).to_dict("records"))


def _json_default(value):
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def label_file(in_path: str | Path, out_path: str | Path, column: str | None = None,
               progress: bool = True) -> dict:
    """Read `in_path`, mine every row's text, write `out_path`; returns a small summary."""
    in_path, out_path = Path(in_path), Path(out_path)
    _format(out_path, "--out")
    frame = read_table(in_path)
    col = text_column(frame, in_path, column)
    texts = _texts(frame[col], in_path, col)
    out = label_frame(frame, texts, col, progress=progress)
    write_table(out, out_path)
    decided = int((np.stack(out["mined_attrs"].tolist()) >= 0).sum()) if len(out) else 0
    return {"rows": len(out), "column": col, "decided_slots": decided, "out": str(out_path)}
