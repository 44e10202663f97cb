"""List the images of a SOURCE and read their bytes, whatever the SOURCE is.

Every entry has a `ref` (what the user would recognise: a path, or `TAR::member`), and its key is
a hash of that ref, so the same file gets the same key on every rerun and added files get new keys.
"""
from __future__ import annotations

import hashlib
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff")
LIST_SUFFIXES = (".txt", ".lst", ".list")
TAR_SEP = "::"
PATH_COLUMNS = ("path", "image_path", "file", "filename", "image")


@dataclass(frozen=True)
class Entry:
    ref: str          # absolute path, or "ABS_TAR::member"
    key: str          # stable sample key (contract.is_valid_key)


def key_of(ref: str, prefix: str = "im") -> str:
    """A key from the ref's hash: no dots or slashes, the same on every machine for the same ref."""
    return f"{prefix}_{hashlib.sha1(ref.encode('utf-8')).hexdigest()[:20]}"


def list_source(source: str | Path, path_column: str | None = None) -> list[Entry]:
    """Every image of SOURCE in a stable (sorted) order."""
    src = Path(source).resolve()
    if not src.exists():
        raise UserError(f"import source {source} does not exist: pass a folder, a list file, a tar or a parquet")
    refs = sorted(set(_refs(src, path_column)))
    return [Entry(ref, key_of(ref)) for ref in refs]


def _refs(src: Path, path_column: str | None) -> Iterator[str]:
    if src.is_dir():
        tars = sorted(src.rglob("*.tar"))
        for path in src.rglob("*"):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                yield str(path)
        for tar in tars:
            yield from _tar_refs(tar)
    elif src.suffix == ".tar":
        yield from _tar_refs(src)
    elif src.suffix == ".parquet":
        yield from _parquet_refs(src, path_column)
    elif src.suffix.lower() in LIST_SUFFIXES:
        for line in src.read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.startswith("#"):
                yield str((src.parent / line.strip()).resolve())
    elif src.suffix.lower() in IMAGE_SUFFIXES:
        yield str(src)
    else:
        raise UserError(f"import source {src}: not a folder, .tar, .parquet or list file ({', '.join(LIST_SUFFIXES)})")


def _tar_refs(tar: Path) -> Iterator[str]:
    try:
        with tarfile.open(tar, "r:*") as tf:
            names = [m.name for m in tf if m.isfile() and Path(m.name).suffix.lower() in IMAGE_SUFFIXES]
    except (OSError, tarfile.TarError) as err:
        print(f"warning: {tar}: cannot list this tar ({err}); its images are skipped", file=sys.stderr)
        return
    for name in names:
        yield f"{tar}{TAR_SEP}{name}"


def _parquet_refs(path: Path, column: str | None) -> Iterator[str]:
    import pyarrow.parquet as pq

    names = pq.read_schema(path).names
    column = column or next((c for c in PATH_COLUMNS if c in names), None)
    if column is None or column not in names:
        raise UserError(f"{path}: no path column (looked for {column or ', '.join(PATH_COLUMNS)}); "
                        f"columns are {names}; pass --path-column NAME")
    for value in pq.read_table(path, columns=[column]).column(0).to_pylist():
        if value:
            yield str((path.parent / str(value)).resolve())


class SourceReader:
    """Read an entry's bytes; tars stay open for the life of the reader."""

    def __init__(self) -> None:
        self._tars: dict[str, tarfile.TarFile] = {}

    def read(self, ref: str) -> bytes:
        """The file's bytes; raises OSError (with the reason) when it cannot be read."""
        if TAR_SEP not in ref:
            return Path(ref).read_bytes()
        tar_path, member = ref.split(TAR_SEP, 1)
        try:
            if tar_path not in self._tars:
                self._tars[tar_path] = tarfile.open(tar_path, "r:*")  # noqa: SIM115  (closed in close())
            handle = self._tars[tar_path].extractfile(member)
            if handle is None:
                raise OSError(f"{member} is not a file")
            return handle.read()
        except (tarfile.TarError, KeyError) as err:
            raise OSError(f"cannot read {member} from {tar_path} ({err})") from None

    def close(self) -> None:
        for tar in self._tars.values():
            tar.close()
        self._tars.clear()
