"""The one deterministic tar writer behind every shard we produce.

Members get fixed metadata (mtime 0, uid/gid 0, uname/gname "mals", mode 0644) and are written in
the order the caller gives (plan order), so the same samples always give byte-identical tars. The
tar is written to a temporary name beside the target and renamed when complete, and its SHA-256 is
computed while writing (no second read of the file).
"""
from __future__ import annotations

import hashlib
import io
import tarfile
from contextlib import ExitStack
from pathlib import Path

from ..fsutil import atomic_path

TAR_FORMAT = tarfile.PAX_FORMAT
_OWNER = "mals"


class _HashingFile(io.RawIOBase):
    """A write-only file that forwards bytes to `raw` and feeds them to a SHA-256 on the way."""

    def __init__(self, raw):
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        self.sha256.update(data)
        return self._raw.write(data)


def member_info(name: str, size: int) -> tarfile.TarInfo:
    """A TarInfo with every field fixed except name and size."""
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = _OWNER
    info.type = tarfile.REGTYPE
    return info


class DeterministicTarWriter:
    """`with DeterministicTarWriter(path) as w: w.add("KEY.jpg", data)`; atomic and hashed.

    `w.sha256` (hex) and `w.count` (members) are valid after the block exits without error.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.count = 0
        self.sha256 = ""
        self._stack = ExitStack()
        self._tar: tarfile.TarFile | None = None
        self._hasher: _HashingFile | None = None

    def __enter__(self) -> "DeterministicTarWriter":
        tmp = self._stack.enter_context(atomic_path(self.path))
        raw = self._stack.enter_context(open(tmp, "wb", buffering=1 << 20))
        self._hasher = _HashingFile(raw)
        self._tar = tarfile.open(fileobj=self._hasher, mode="w", format=TAR_FORMAT)
        return self

    def add(self, name: str, data: bytes) -> None:
        assert self._tar is not None, "use DeterministicTarWriter as a context manager"
        self._tar.addfile(member_info(name, len(data)), io.BytesIO(data))
        self.count += 1

    def add_sample(self, key: str, files: dict[str, bytes]) -> None:
        """Add one sample's files (`{"jpg": ..., "txt": ..., "json": ...}`) in sorted extension order."""
        for ext in sorted(files):
            self.add(f"{key}.{ext}", files[ext])

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self._tar is not None:
                self._tar.close()  # end-of-archive blocks go through the hasher too
                self.sha256 = self._hasher.sha256.hexdigest()
        finally:
            # On error the temporary file is removed by atomic_path; on success it is renamed.
            self._stack.__exit__(exc_type, exc, tb)
