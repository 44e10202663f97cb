"""PA-100K: `annotation.mat` (MATLAB v5, read with scipy) + `release_data/release_data/*.jpg`.

Keys of the .mat: {train,val,test}_images_name (cell arrays of names), {train,val,test}_label
(N x 26, 0/1) and `attributes` (26 names). PA-100K has no captions: each sample carries its 26
labels as `pa100k_attrs` (1 = present), `attrs` null and an empty caption list. No identities:
every image is its own person.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ..contract import NUM_PA100K_ATTRIBUTES, SPLITS
from ..errors import UserError
from .common import Record, make_key

SOURCE = "pa100k"
_IMAGE_DIRS = ("data/release_data/release_data", "release_data/release_data", "release_data", "data", ".")


def _cell_strings(value, path: Path, name: str) -> list[str]:
    """A MATLAB cell array of char arrays (as scipy loads it) -> list of str."""
    out = []
    for item in np.asarray(value, dtype=object).ravel():
        while isinstance(item, np.ndarray) and item.dtype == object and item.size == 1:
            item = item.ravel()[0]
        if isinstance(item, np.ndarray):
            item = "".join(item.ravel().tolist()) if item.dtype.kind == "U" else None
        if not isinstance(item, str) or not item:
            raise UserError(f"{path}: {name} must be a cell array of image names, found {item!r}")
        out.append(item.strip())
    return out


def load_annotation(path: Path) -> dict:
    from scipy.io import loadmat

    try:
        mat = loadmat(str(path))
    except Exception as err:  # noqa: BLE001 - scipy raises ValueError/TypeError/... for damaged files
        raise UserError(f"{path}: cannot read it as a MATLAB file ({err}); the file is truncated or "
                        "damaged: download it again") from None
    return mat


def _split_arrays(mat: dict, path: Path, split: str) -> tuple[list[str], np.ndarray]:
    for name in (f"{split}_images_name", f"{split}_label"):
        if name not in mat:
            present = sorted(k for k in mat if not k.startswith("__"))
            raise UserError(f"{path}: missing variable {name!r}; variables present: {', '.join(present)}; "
                            "is this PA-100K's annotation.mat?")
    names = _cell_strings(mat[f"{split}_images_name"], path, f"{split}_images_name")
    labels = np.asarray(mat[f"{split}_label"])
    if labels.shape != (len(names), NUM_PA100K_ATTRIBUTES) or not np.isin(labels, (0, 1)).all():
        raise UserError(f"{path}: {split}_label must be {len(names)} x {NUM_PA100K_ATTRIBUTES} labels in 0/1, "
                        f"got shape {labels.shape}")
    return names, labels.astype(np.int64)


def find_images(root: Path) -> Path:
    for rel in _IMAGE_DIRS:
        candidate = root / rel
        if candidate.is_dir() and any(candidate.glob("*.jpg")):
            return candidate
    return root / _IMAGE_DIRS[0]


def read_records(root: Path, images: Path | None) -> tuple[list[Record], Path, Path]:
    candidates = [root] if root.is_file() else [root / "annotation.mat", root / "data" / "annotation.mat"]
    annotation = next((p for p in candidates if p.is_file()), None)
    if annotation is None:
        raise UserError(f"{root}: no annotation.mat found (looked in {', '.join(map(str, candidates))})")
    base = annotation.parent if root.is_file() else root
    images_root = images or find_images(base)
    mat = load_annotation(annotation)
    records = []
    for split in SPLITS:
        names, labels = _split_arrays(mat, annotation, split)
        for i, (name, row) in enumerate(zip(names, labels)):
            records.append(Record(
                key=make_key(SOURCE, name), image=images_root / name, captions=[],
                person_id=f"{SOURCE}:{name}", image_id=name, split=split, source=SOURCE,
                where=f"{annotation} {split}_images_name[{i}]", pa100k_attrs=[int(v) for v in row]))
    return records, annotation, images_root
