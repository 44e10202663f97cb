"""Deterministic tar members: fixed mtime, owner and mode, so equal inputs give equal bytes."""
from __future__ import annotations

import io
import tarfile
from collections.abc import Iterator
from pathlib import Path

from .errors import UserError


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mtime = 0
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def iter_members(path: str | Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every regular file in a tar, in order; a damaged tar is a UserError."""
    try:
        with tarfile.open(path, "r:") as tar:
            for info in tar:
                if info.isfile():
                    yield info.name, tar.extractfile(info).read()
    except (tarfile.TarError, OSError, EOFError) as err:
        raise UserError(f"{path}: cannot read tar ({err}); delete its part's .done.json to redo it") from None


def read_members(path: str | Path) -> dict[str, bytes]:
    return dict(iter_members(path))
