"""Streaming tar reads (mals_gen/tarstream.py `iter_members`, behind `shards.read_tar`): the same members
as tarfile, also when a PAX header appears mid-archive (tarfile takes over there); damage is a
tarfile.ReadError."""
from __future__ import annotations

import io
import tarfile

import pytest

from mals_gen.tarstream import iter_members


def write_tar(path, names: list[str], fmt=tarfile.USTAR_FORMAT, with_dir: bool = False):
    with tarfile.open(path, "w", format=fmt) as tf:
        if with_dir:
            info = tarfile.TarInfo("folder")
            info.type = tarfile.DIRTYPE
            tf.addfile(info)
        for i, name in enumerate(names):
            data = bytes(range(256)) * (i + 1) + name.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return path


def by_tarfile(path) -> list[tuple[str, bytes]]:
    with tarfile.open(path, "r|") as tf:
        return [(m.name, tf.extractfile(m).read()) for m in tf if m.isfile()]


def ours(path) -> list[tuple[str, bytes]]:
    return [(name, read()) for name, read in iter_members(path)]


@pytest.mark.parametrize("case", ["ustar", "pax mid-archive", "directory"])
def test_members_equal_tarfiles(tmp_path, case):
    names = [f"s_{i:03d}.{ext}" for i in range(4) for ext in ("jpg", "json")]
    if case == "pax mid-archive":
        names.insert(3, "x" * 150 + ".txt")                   # a long name: tarfile writes a PAX header
    path = write_tar(tmp_path / "a.tar", names, fmt=tarfile.PAX_FORMAT if case == "pax mid-archive"
                     else tarfile.USTAR_FORMAT, with_dir=case == "directory")
    assert ours(path) == by_tarfile(path) and len(ours(path)) == len(names)


def test_unread_members_are_skipped(tmp_path):
    path = write_tar(tmp_path / "a.tar", ["a.jpg", "a.json", "b.jpg"])
    assert [name for name, _ in iter_members(path)] == ["a.jpg", "a.json", "b.jpg"]


def test_damage_is_a_read_error(tmp_path):
    path = write_tar(tmp_path / "a.tar", ["a.jpg", "b.jpg"])
    data = path.read_bytes()
    cut = tmp_path / "cut.tar"
    cut.write_bytes(data[:512 + 100])                          # inside the first member's data
    with pytest.raises(tarfile.ReadError, match="unexpected end"):
        ours(cut)
    broken = bytearray(data)
    broken[10] ^= 0xFF                                         # the first header's name: checksum fails
    (tmp_path / "broken.tar").write_bytes(bytes(broken))
    with pytest.raises(tarfile.ReadError, match="checksum"):
        ours(tmp_path / "broken.tar")
    (tmp_path / "empty.tar").write_bytes(b"")
    with pytest.raises(tarfile.ReadError, match="empty"):
        ours(tmp_path / "empty.tar")
    (tmp_path / "half.tar").write_bytes(data[:1024 + 100])     # the second header (after a.jpg: 1 + 1 blocks) cut
    names = []
    with pytest.raises(tarfile.ReadError):
        for name, read in iter_members(tmp_path / "half.tar"):
            names.append(name)
            read()
    assert names == ["a.jpg"]


def test_byte_sum_equals_sum():
    import os

    from mals_gen.tarstream import byte_sum

    for n in (0, 1, 8, 255, 256, 257, 511, 512):
        data = os.urandom(n)
        assert byte_sum(data) == sum(data)
        assert byte_sum(b"\xff" * n) == 255 * n          # the largest sums stay exact
    with pytest.raises(ValueError):
        byte_sum(bytes(513))
