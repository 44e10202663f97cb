"""Per-tar resume state of a shard folder, and cleanup of what a killed writer left behind.

Each finished tar gets `.shard-state/NNNNNN.json`: the fingerprint of its planned content (its
samples and the image settings), its size and SHA-256, its manifest rows and its rejects. A rerun
keeps a tar whose record matches its new plan and whose file still has that size, and rewrites
only the others, so a killed `mals shard` resumes per tar and the result is byte-identical to an
uninterrupted run.
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from ..fsutil import TMP_MARK, write_json_atomic

STATE_DIR = ".shard-state"


@dataclass
class ShardResult:
    name: str
    sha256: str
    rows: list[dict]
    reencoded: int
    seconds: float
    split: str = ""
    fingerprint: str = ""
    size: int = 0                                      # bytes of the tar file
    rejects: list[dict] = field(default_factory=list)  # key, split, source, reason
    kept: bool = False                                 # reused from an earlier run, not rewritten


def save_state(out_dir: Path, result: ShardResult) -> None:
    """Record a finished tar (called right after its rename, in whichever process wrote it)."""
    record = {k: v for k, v in asdict(result).items() if k not in ("seconds", "kept")}
    (out_dir / STATE_DIR).mkdir(exist_ok=True)
    write_json_atomic(out_dir / STATE_DIR / f"{result.name}.json", record)


def load_state(out_dir: Path, name: str, fingerprint: str) -> ShardResult | None:
    """The earlier result for tar `name` if it was built from the same plan and is still whole."""
    path = out_dir / STATE_DIR / f"{name}.json"
    try:
        record = json.loads(path.read_text())
        size = (out_dir / name).stat().st_size
    except (OSError, ValueError):
        return None
    if record.get("fingerprint") != fingerprint or record.get("size") != size:
        return None
    try:
        return ShardResult(**record, seconds=0.0, kept=True)
    except TypeError:  # a record written by another version
        return None


def _alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie, killed but not yet reaped, does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):  # no /proc (not Linux): signal 0 reached it, so it exists
        return True


def clean_stale_tmp(out_dir: Path) -> list[Path]:
    """Delete temporary files of writers that are gone (killed); return what was deleted.

    A temporary name ends in `.tmp-PID` (`fsutil.tmp_name`); one of a live process other than
    this one is left alone.
    """
    removed = []
    for folder in (out_dir, out_dir / STATE_DIR):
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            pid = path.name.rpartition(TMP_MARK)[2]
            if TMP_MARK not in path.name or not path.is_file():
                continue
            if pid.isdigit() and int(pid) != os.getpid() and _alive(int(pid)):
                continue
            path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def stray_files(out_dir: Path) -> list[str]:
    """Temporary files under a shard folder, relative names (for `mals verify`)."""
    return sorted(str(p.relative_to(out_dir)) for p in out_dir.rglob(f"*{TMP_MARK}*") if p.is_file())
