"""The one deterministic tar writer behind every shard we produce.

Members get fixed metadata (mtime 0, uid/gid 0, uname/gname "mals", mode 0644) and are written in
the order the caller gives (plan order), so the same samples always give byte-identical tars. The
tar is written to a temporary name beside the target and renamed when complete, and its SHA-256 is
computed while writing (no second read of the file).

Headers are the POSIX ustar headers `tarfile` itself writes for such members (a test checks they
are byte-equal), built from a template by patching name, size and checksum: `tarfile.addfile`
spends most of its time rebuilding the same header. Names over 100 bytes fall back to tarfile's
own PAX header. The archive ends like tarfile's: two zero blocks, padded to a 10240-byte record.
"""
from __future__ import annotations

import hashlib
import tarfile
from contextlib import ExitStack
from pathlib import Path

from ..fsutil import atomic_path

TAR_FORMAT = tarfile.PAX_FORMAT
BLOCK = tarfile.BLOCKSIZE            # 512
RECORD = tarfile.RECORDSIZE          # 10240
_OWNER = "mals"
_NUL_BLOCK = bytes(BLOCK)


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


def _template() -> bytes:
    """tarfile's header for an empty name and size 0, with the checksum field blanked (8 spaces)."""
    buf = bytearray(member_info("", 0).tobuf(TAR_FORMAT, "utf-8", "surrogateescape"))
    buf[148:156] = b" " * 8
    return bytes(buf)


_TEMPLATE = _template()


def tar_header(name: str, size: int) -> bytes:
    """The 512-byte header (or PAX headers for a long name) of a member with fixed metadata."""
    raw = name.encode("utf-8")
    if len(raw) > 100 or size >= 8 ** 11 or not name.isascii():
        return member_info(name, size).tobuf(TAR_FORMAT, "utf-8", "surrogateescape")
    buf = bytearray(_TEMPLATE)
    buf[0:len(raw)] = raw
    buf[124:136] = b"%011o\0" % size
    buf[148:155] = b"%06o\0" % sum(buf)  # the checksum counts its own field as spaces
    return bytes(buf)


class DeterministicTarWriter:
    """`with DeterministicTarWriter(path) as w: w.add(name, data)`; atomic and hashed.

    `w.sha256` (hex) and `w.count` (members) are valid after the block exits without error.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.count = 0
        self.sha256 = ""
        self._stack = ExitStack()
        self._file = None
        self._hash = hashlib.sha256()
        self._written = 0

    def __enter__(self) -> DeterministicTarWriter:  # noqa: PYI034 - final class, no Self needed
        tmp = self._stack.enter_context(atomic_path(self.path))
        self._file = self._stack.enter_context(open(tmp, "wb", buffering=1 << 20))
        return self

    def _write(self, data: bytes) -> None:
        self._hash.update(data)
        self._file.write(data)
        self._written += len(data)

    def add(self, name: str, data: bytes) -> None:
        assert self._file is not None, "use DeterministicTarWriter as a context manager"
        pad = -len(data) % BLOCK
        self._write(b"".join((tar_header(name, len(data)), data, _NUL_BLOCK[:pad])))
        self.count += 1

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None and self._file is not None:
                end = self._written + 2 * BLOCK  # end-of-archive marker, then pad the record
                self._write(bytes(2 * BLOCK + (-end % RECORD)))
                self.sha256 = self._hash.hexdigest()
        finally:
            # On error the temporary file is removed by atomic_path; on success it is renamed.
            self._stack.__exit__(exc_type, exc, tb)
