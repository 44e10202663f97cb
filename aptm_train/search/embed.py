"""Embedding export for other tools: image / text ITC features as parquet or .npy (+ ids)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mals_gen.errors import UserError
from mals_gen.fsutil import atomic_path

from .index import encode_readable, open_gallery


def embed_images(enc, folder: str | Path) -> tuple[list[str], np.ndarray]:
    """(item ids, (N, E) fp32) of the readable images of a folder of images or a shard folder
    (unreadable ones are skipped with a warning line each)."""
    items, feats, _ = encode_readable(enc, open_gallery(folder), "images")
    return list(items), feats


def embed_texts(enc, path: str | Path) -> tuple[list[str], np.ndarray]:
    """(texts, (T, E) fp32) of a text file with one text per line (blank lines skipped)."""
    from ..eval.encode import encode_texts

    path = Path(path)
    if not path.is_file():
        raise UserError(f"--texts {path}: no such file; pass a text file with one query per line")
    texts = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if not texts:
        raise UserError(f"--texts {path}: the file holds no text")
    return texts, encode_texts(enc, texts).float().cpu().numpy()


def write_embeddings(out: str | Path, name: str, ids: list[str], vecs: np.ndarray, fmt: str) -> Path:
    """parquet: columns id (string), embedding (fixed-size list of float32); npy: NAME.npy + NAME_ids.txt."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    if fmt == "npy":
        with atomic_path(out / f"{name}_ids.txt") as tmp:
            tmp.write_text("".join(i.replace("\n", " ") + "\n" for i in ids), encoding="utf-8")
        with atomic_path(out / f"{name}.npy") as tmp, open(tmp, "wb") as f:
            np.save(f, vecs.astype(np.float32))
        return out / f"{name}.npy"
    import pyarrow as pa
    import pyarrow.parquet as pq

    flat = pa.array(vecs.astype(np.float32).reshape(-1))
    table = pa.table({"id": pa.array(ids, pa.string()),
                      "embedding": pa.FixedSizeListArray.from_arrays(flat, vecs.shape[1])})
    with atomic_path(out / f"{name}.parquet") as tmp:
        pq.write_table(table, tmp)
    return out / f"{name}.parquet"
