"""`mals verify shards/NAME`: check a shard folder end to end, one line per problem.

Checks that every tar listed in `sizes.json` exists, opens, holds complete samples (every member
`contract.sample_members` writes, readable by `contract.read_sample` under the right key) and as
many as `sizes.json` says; that no tar is unlisted; that every file in `checksums.sha256` matches (hashed while the tar is parsed, so
each byte is read once); and that `manifest.parquet` lists exactly the same keys, shards and
splits; that no temporary file of an interrupted write is left. Every image gets the shard
writer's own check (a fast 1/8-scale decode, `images.decode_problem`), so plain verify catches
what the writer would have refused; `decode=True` decodes every image at full size.
"""
from __future__ import annotations

import hashlib
import io
import json
import tarfile
from collections import defaultdict
from pathlib import Path

from ..contract import SHARD_EXTS, SHARD_IMAGE_EXT, SHARD_META_EXT, SampleError, read_sample
from ..errors import UserError
from .dataset import SHARD_NAME
from .images import decode_problem
from .state import stray_files


class _HashingReader(io.RawIOBase):
    """A read-only file that hashes whatever passes through it."""

    def __init__(self, raw):
        self._raw = raw
        self.sha256 = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.sha256.update(data)
        return data

    def readinto(self, buf) -> int:
        data = self.read(len(buf))
        buf[:len(data)] = data
        return len(data)

    def drain(self) -> str:
        while self.read(1 << 20):
            pass
        return self.sha256.hexdigest()


def _read_json(path: Path, problems: list[str]):
    if not path.exists():
        problems.append(f"{path.name}: missing")
        return None
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        problems.append(f"{path.name}: not valid JSON ({err})")
        return None


def _read_checksums(path: Path, problems: list[str]) -> dict[str, str]:
    if not path.exists():
        problems.append(f"{path.name}: missing")
        return {}
    out = {}
    for lineno, line in enumerate(path.read_text().splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64:
            problems.append(f"{path.name}: line {lineno} is not `<sha256>  <file>`")
            continue
        out[name] = digest
    return out


def _check_sample(shard: str, key: str, files: dict[str, bytes], decode: bool) -> tuple[str | None, list[str]]:
    """(the sample's split or None, its problems)."""
    problems = [f"{shard}: sample {key} lacks .{ext}" for ext in SHARD_EXTS if ext not in files]
    split = None
    if SHARD_META_EXT in files and SHARD_IMAGE_EXT in files:
        try:
            split = read_sample({**files, "__key__": key}).split
        except SampleError as err:
            problems.append(f"{shard}: {err}")
    if SHARD_IMAGE_EXT in files:
        problem = decode_problem(files[SHARD_IMAGE_EXT], fast=not decode)
        if problem:
            problems.append(f"{shard}: sample {key} {problem}")
    return split, problems


def _scan_tar(path: Path, decode: bool) -> tuple[dict[str, str], str, list[str]]:
    """(key -> split, sha256 of the file, problems) for one shard."""
    problems: list[str] = []
    samples: dict[str, dict[str, bytes]] = defaultdict(dict)
    with open(path, "rb") as raw:
        reader = _HashingReader(raw)
        try:
            end = 0
            with tarfile.open(fileobj=reader, mode="r|") as tf:
                for member in tf:
                    end = member.offset_data + -(-member.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
                    key, _, ext = member.name.partition(".")
                    data = tf.extractfile(member).read() if member.isfile() else b""
                    if len(data) != member.size:  # stream mode returns short data at a cut, no error
                        raise tarfile.ReadError(f"member {member.name} ends after {len(data)} of "
                                                f"{member.size} bytes")
                    samples[key][ext] = data
            if not _ends_properly(path, end):  # tarfile stops silently at a cut inside a header
                raise tarfile.ReadError(f"no end-of-archive marker after byte {end}")
        except (tarfile.TarError, OSError, EOFError) as err:
            problems.append(f"{path.name}: unreadable after {len(samples)} samples ({err}); the tar is "
                            "truncated or damaged")
        digest = reader.drain()
    splits = {}
    for key, files in samples.items():
        splits[key], found = _check_sample(path.name, key, files, decode)
        problems += found
    return splits, digest, problems


def _ends_properly(path: Path, end: int) -> bool:
    """A complete tar has two zero blocks right after its last member's data."""
    with open(path, "rb") as f:
        f.seek(end)
        marker = f.read(2 * tarfile.BLOCKSIZE)
    return len(marker) == 2 * tarfile.BLOCKSIZE and not any(marker)


def _check_manifest(folder: Path, tar_keys: dict[str, dict[str, str]], problems: list[str]) -> None:
    path = folder / "manifest.parquet"
    if not path.exists():
        problems.append("manifest.parquet: missing")
        return
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path, columns=["key", "shard", "split"]).to_pydict()
    except Exception as err:  # noqa: BLE001 - pyarrow raises many types for a damaged file
        problems.append(f"manifest.parquet: unreadable ({err})")
        return
    listed = {}
    for key, shard, split in zip(table["key"], table["shard"], table["split"]):
        if key in listed:
            problems.append(f"manifest.parquet: key {key} appears twice")
        listed[key] = (shard, split)
    in_tars = {key: (shard, split) for shard, keys in tar_keys.items() for key, split in keys.items()}
    for key in sorted(set(in_tars) - set(listed))[:20]:
        problems.append(f"manifest.parquet: lacks sample {key} of {in_tars[key][0]}")
    for key in sorted(set(listed) - set(in_tars))[:20]:
        problems.append(f"manifest.parquet: lists sample {key} ({listed[key][0]}) that no tar holds")
    for key in sorted(set(listed) & set(in_tars)):
        if listed[key] != in_tars[key]:
            problems.append(f"manifest.parquet: sample {key} says {listed[key]}, the tar says {in_tars[key]}")


def verify_shards(folder: str | Path, *, decode: bool = False, progress: bool = False) -> list[str]:
    """Every problem of the shard folder as one line each; an empty list means it is sound."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UserError(f"{folder} is not a folder; pass the folder that `mals shard` or `mals import` wrote")
    problems: list[str] = []
    sizes = _read_json(folder / "sizes.json", problems) or {}
    checksums = _read_checksums(folder / "checksums.sha256", problems)
    on_disk = sorted(p.name for p in folder.iterdir() if SHARD_NAME.match(p.name))
    problems += [f"{name}: not listed in sizes.json" for name in on_disk if name not in sizes]
    problems += [f"{name}: stray temporary file of an interrupted write; rerun the command that wrote "
                 "this folder (it deletes it) or delete it" for name in stray_files(folder)]
    tar_keys: dict[str, dict[str, str]] = {}
    digests: dict[str, str] = {}
    seen: dict[str, str] = {}
    from tqdm import tqdm

    for name in tqdm(sorted(sizes), desc="verify", unit="shard", disable=not progress):
        path = folder / name
        if not path.exists():
            problems.append(f"{name}: missing (listed in sizes.json)")
            continue
        keys, digests[name], found = _scan_tar(path, decode)
        problems += found
        tar_keys[name] = keys
        if len(keys) != sizes[name]:
            problems.append(f"{name}: holds {len(keys)} samples, sizes.json says {sizes[name]}")
        for key in keys:
            if key in seen:
                problems.append(f"{name}: sample {key} is also in {seen[key]}")
            seen[key] = name
    problems += [f"{name}: not listed in checksums.sha256" for name in sorted(sizes) if name not in checksums]
    for name, expected in checksums.items():
        path = folder / name
        if not path.exists():
            if name not in sizes:  # missing shards were reported above
                problems.append(f"{name}: missing (listed in checksums.sha256)")
            continue
        actual = digests.get(name) or _file_sha256(path)
        if actual != expected:
            problems.append(f"{name}: checksum mismatch (the file changed or is damaged)")
    _check_manifest(folder, tar_keys, problems)
    return problems


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
