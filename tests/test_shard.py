"""`mals shard`: layout, webdataset/pandas/pyarrow/duckdb readability, determinism, splits, crop."""
from __future__ import annotations

import io
import json
import tarfile

import pyarrow.parquet as pq
import pytest
from PIL import Image
from typer.testing import CliRunner

from mals_gen.cli import app
from mals_gen.contract import SHARD_META_FIELDS
from mals_gen.errors import UserError
from mals_gen.shard.select import ShardConfig, run_shard
from mals_gen.shard.split import SplitFractions, parse_fractions, split_of

from ._shard_fixtures import build_run, jpeg_bytes, tar_samples

FAILED, FILTERED = {3}, {5, 6}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("shard")
    run = build_run(root / "run", n=30, part_size=10, failed=FAILED, filtered=FILTERED)
    out = root / "shards"
    run_shard(run, out, ShardConfig(samples_per_shard=8, workers=1, height=64), progress=False, echo=None)
    return run, out


def test_webdataset_reads_exactly_sizes_json(built):
    import webdataset as wds

    _, out = built
    sizes = json.loads((out / "sizes.json").read_text())
    urls = [str(out / name) for name in sorted(sizes)]
    samples = list(wds.WebDataset(urls, shardshuffle=False).decode("pil"))
    assert len(samples) == sum(sizes.values()) == 30 - len(FAILED) - len(FILTERED)
    for s in samples:
        assert set(SHARD_META_FIELDS) <= set(s["json"])
        assert s["txt"] == s["json"]["captions"][0]
        assert s["json"]["key"] == s["__key__"] and s["json"]["person_id"] == s["__key__"]
        assert s["jpg"].height == 64  # resized to the configured height
    keys = {s["__key__"] for s in samples}
    assert not keys & {f"t_{i:09d}" for i in FAILED | FILTERED}


def test_crop_to_person_box_keeps_the_person_aspect(built):
    _, out = built
    rows = pq.read_table(out / "manifest.parquet").to_pandas().set_index("key")
    # odd samples carry a box of 24 x 72 px (w x h) in a 48 x 96 image -> 64 high, 21 wide
    assert tuple(rows.loc["t_000000001", ["width", "height"]]) == (21, 64)
    assert tuple(rows.loc["t_000000002", ["width", "height"]]) == (32, 64)


def test_manifest_opens_in_pandas_pyarrow_duckdb_polars(built):
    import duckdb
    import pandas as pd
    import polars as pl

    _, out = built
    path = out / "manifest.parquet"
    frame = pd.read_parquet(path)
    assert len(frame) == 27 and {"key", "shard", "split", "caption", "mals_attrs"} <= set(frame.columns) and "attrs" not in frame.columns
    assert pq.read_table(path).num_rows == 27
    per_shard = dict(duckdb.sql(f"select shard, count(*) from '{path}' group by shard").fetchall())
    assert per_shard == json.loads((out / "sizes.json").read_text())
    assert pl.read_parquet(path).height == 27


def test_tar_members_have_fixed_metadata_and_no_split_is_mixed(built):
    _, out = built
    splits = json.loads((out / "splits.json").read_text())
    for split, names in splits.items():
        for name in names:
            with tarfile.open(out / name) as tf:
                members = tf.getmembers()
                assert {(m.mtime, m.uid, m.gid, m.uname, m.mode) for m in members} == {(0, 0, 0, "mals", 0o644)}
            assert {s.split for s in tar_samples(out / name)} == {split}
    text = (out / "README.md").read_text()
    assert "27 samples" in text and "upper_black" in text and "samples_per_shard: 8" in text


def test_wids_index_gives_random_access(built):
    import random

    from mals_gen.tario import PartTar

    _, out = built
    sizes = json.loads((out / "sizes.json").read_text())
    splits = json.loads((out / "splits.json").read_text())
    index = json.loads((out / "wids.json").read_text())
    assert index["wids_version"] == 1
    assert [(s["url"], s["nsamples"]) for s in index["shardlist"]] == sorted(sizes.items())
    for split, names in splits.items():
        part = json.loads((out / f"{split}.wids.json").read_text())
        assert [s["url"] for s in part["shardlist"]] == names and part["wids_version"] == 1
    checksums = (out / "checksums.sha256").read_text()
    assert "wids.json" in checksums and "train.wids.json" in checksums
    # (webdataset 1.0 ships no `wids` module:) sample i read through the index is manifest row i
    keys = pq.read_table(out / "manifest.parquet", columns=["key"]).column("key").to_pylist()
    bounds, total = [], 0
    for shard in index["shardlist"]:
        bounds.append((total, shard))
        total += shard["nsamples"]
    assert total == len(keys)
    for i in random.Random(0).sample(range(total), 8):
        start, shard = max((b for b in bounds if b[0] <= i), key=lambda b: b[0])
        with PartTar(out / shard["url"]) as tar:
            members = [m for m in tar.index if m.endswith(".json")]
            assert len(members) == shard["nsamples"]
            meta = json.loads(tar.read(members[i - start]))
        assert meta["key"] == keys[i]


def test_two_runs_give_byte_identical_shards(built, tmp_path):
    run, out = built
    again = tmp_path / "again"
    run_shard(run, again, ShardConfig(samples_per_shard=8, workers=2, height=64), progress=False, echo=None)
    for name in sorted(json.loads((out / "sizes.json").read_text())) + ["sizes.json", "manifest.parquet"]:
        assert (out / name).read_bytes() == (again / name).read_bytes(), name


def test_rerun_is_a_no_op_and_config_change_rebuilds(built, tmp_path):
    run, _ = built
    out = tmp_path / "s"
    cfg = ShardConfig(samples_per_shard=100, workers=1, resize=False, crop=False)
    first = run_shard(run, out, cfg, progress=False, echo=None)
    stamp = (out / "000000.tar").stat().st_mtime_ns
    second = run_shard(run, out, cfg, progress=False, echo=None)
    assert first.parts_done_now == 3 and second.parts_skipped == 3 and second.parts_done_now == 0
    assert (out / "000000.tar").stat().st_mtime_ns == stamp
    run_shard(run, out, ShardConfig(samples_per_shard=1000, split=SplitFractions(1.0, 0.0, 0.0), workers=1,
                                    resize=False, crop=False), progress=False, echo=None)
    assert sorted(p.name for p in out.glob("*.tar")) == ["000000.tar"]  # stale shards removed
    assert sorted(p.name for p in out.glob("*wids.json")) == ["train.wids.json", "wids.json"]


def test_passthrough_copies_jpeg_bytes_untouched(built, tmp_path):
    run, _ = built
    out = tmp_path / "native"
    summary = run_shard(run, out, ShardConfig(resize=False, crop=False, workers=1), progress=False, echo=None)
    assert summary.totals["reencoded"] == 0
    data = tar_samples(out / "000000.tar")[0].image
    assert data == jpeg_bytes(0)
    assert Image.open(io.BytesIO(data)).size == (48, 96)


def test_split_by_stable_hash():
    fractions = SplitFractions(0.8, 0.1, 0.1)
    keys = [f"k_{i:09d}" for i in range(20000)]
    splits = [split_of(k, fractions) for k in keys]
    assert splits == [split_of(k, fractions) for k in keys]
    assert abs(splits.count("train") / len(keys) - 0.8) < 0.02
    assert abs(splits.count("test") / len(keys) - 0.1) < 0.02
    assert parse_fractions("train=0.5,test=0.5") == SplitFractions(0.5, 0.0, 0.5)
    with pytest.raises(UserError, match="sum to 1"):
        parse_fractions("train=0.5,val=0.1")


def test_unfinished_stage_is_refused(tmp_path):
    run = build_run(tmp_path / "run", n=20, part_size=10, with_attrs=False, with_filter=False)
    (run / "state" / "caption" / "part-00001.done.json").unlink()
    with pytest.raises(UserError, match="1 of 2 parts done"):
        run_shard(run, tmp_path / "out", ShardConfig(workers=1), progress=False, echo=None)


def test_cli_shard(tmp_path):
    run = build_run(tmp_path / "run", n=12, part_size=6, with_attrs=False, with_filter=False)
    out = tmp_path / "cli"
    result = CliRunner().invoke(app, ["shard", str(run), "--out", str(out), "--samples-per-shard", "5",
                                      "--no-resize", "--workers", "1", "--split", "train=1", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "sizes.json").read_text()) == {"000000.tar": 5, "000001.tar": 5, "000002.tar": 2}
    first = tar_samples(out / "000000.tar")[0]
    assert first.key == "t_000000000" and first.mals_attrs is None and first.split == "train" and first.scores == {}


def test_fast_paths_agree_with_tarfile_and_pil(tmp_path):
    from mals_gen.shard.images import jpeg_size
    from mals_gen.shard.tarwriter import TAR_FORMAT, member_info, tar_header
    from mals_gen.tario import tar_index as _tar_index

    for name, size in (("k.jpg", 0), ("s_000000001.json", 12345), ("x" * 100, 7), ("y" * 150, 3), ("é.txt", 1)):
        assert tar_header(name, size) == member_info(name, size).tobuf(TAR_FORMAT, "utf-8", "surrogateescape")
    path = tmp_path / "t.tar"
    with tarfile.open(path, "w") as tf:
        for i, name in enumerate(("a.jpg", "b" * 120 + ".jpg", "c.jpg")):
            info = tarfile.TarInfo(name)
            info.size = 10 * i + 1
            tf.addfile(info, io.BytesIO(bytes(info.size)))
    with tarfile.open(path) as tf:
        assert _tar_index(path) == {m.name: (m.offset_data, m.size) for m in tf}
    for size in ((96, 48), (17, 333)):
        data = jpeg_bytes(1, size)
        assert jpeg_size(data) == Image.open(io.BytesIO(data)).size
    assert jpeg_size(b"\x89PNG....") is None
