"""`mals verify`: a sound folder passes; a flipped byte, a truncated tar, a missing shard and a
disagreeing manifest are each reported as one line, with a non-zero exit."""
from __future__ import annotations

import shutil

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mals_gen.cli import app
from mals_gen.shard.select import ShardConfig, run_shard
from mals_gen.shard.verify import verify_shards

from ._shard_fixtures import build_run


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    root = tmp_path_factory.mktemp("verify")
    run = build_run(root / "run", n=24, part_size=12, with_attrs=False, with_filter=False)
    out = root / "shards"
    run_shard(run, out, ShardConfig(samples_per_shard=10, workers=1, resize=False), progress=False, echo=None)
    return out


@pytest.fixture
def shards(pristine, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(pristine, copy)
    return copy


def test_sound_folder_passes(shards):
    assert verify_shards(shards) == []
    assert verify_shards(shards, decode=True) == []
    result = CliRunner().invoke(app, ["verify", str(shards)])
    assert result.exit_code == 0 and "is sound" in result.output


def test_flipped_byte_is_caught(shards):
    path = shards / "000000.tar"
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))
    problems = verify_shards(shards)
    assert any("000000.tar: checksum mismatch" in p for p in problems), problems
    result = CliRunner().invoke(app, ["verify", str(shards)])
    assert result.exit_code == 1 and "checksum mismatch" in result.output


def test_truncated_tar_is_caught(shards):
    path = shards / "000001.tar"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2 + 7])
    problems = verify_shards(shards)
    assert any(p.startswith("000001.tar: unreadable") for p in problems), problems
    assert any("000001.tar: checksum mismatch" in p for p in problems)
    assert any("000001.tar: holds" in p for p in problems)


def test_missing_shard_is_caught(shards):
    (shards / "000001.tar").unlink()
    problems = verify_shards(shards)
    assert "000001.tar: missing (listed in sizes.json)" in problems
    assert any("manifest.parquet: lists sample" in p for p in problems)


def test_manifest_disagreement_is_caught(shards):
    table = pq.read_table(shards / "manifest.parquet")
    pq.write_table(table.slice(1), shards / "manifest.parquet")
    problems = verify_shards(shards)
    assert any("manifest.parquet: lacks sample" in p for p in problems)
    assert any("manifest.parquet: checksum mismatch" in p for p in problems)
