"""Atomic file writes: write to a temporary name beside the target, then rename.

A reader (or a resumed run) therefore sees either the complete file or none at all.
"""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path

from .errors import UserError

TMP_MARK = ".tmp-"


def tmp_name(path: Path, tmp_dir: Path | None = None) -> Path:
    return (tmp_dir or path.parent) / f"{path.name}{TMP_MARK}{os.getpid()}"


@contextmanager
def atomic_path(path: str | Path, tmp_dir: str | Path | None = None):
    """Yield a temporary path; on success rename it to `path`, on failure delete it.

    `tmp_dir` (same file system) keeps the half-written file out of `path`'s folder, so a reader
    of that folder never meets it.
    """
    path = Path(path)
    tmp = tmp_name(path, Path(tmp_dir) if tmp_dir else None)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_json_atomic(path: str | Path, data) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def write_bytes_atomic(path: str | Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def ensure_writable_dir(path: str | Path) -> Path:
    """Create `path` (and parents) or fail with one line saying why."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".write-probe{TMP_MARK}{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as err:
        raise UserError(f"cannot write to output folder {path}: {err.strerror or err}; "
                        "choose another --out") from None
    return path
