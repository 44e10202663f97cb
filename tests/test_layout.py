"""Run folders: each stage folder is a directory of parquet only, opened as is by pandas,
pyarrow.dataset, Polars and DuckDB; images, markers and stats live beside it; `mals inspect` fits."""
from __future__ import annotations

from pathlib import Path

import pytest

from mals_gen.errors import UserError
from mals_gen.filter.stage import FilterConfig, run_filter
from mals_gen.inspect_run import inspect_run
from mals_gen.runner import run_stage, split_into_parts
from tests.test_filter import fixture_samples, make_run

STAGE_DIRS = ("plan", "generate", "caption", "attrs", "filter_checks", "filter")


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> tuple[Path, int]:
    samples = fixture_samples()
    run = make_run(tmp_path_factory.mktemp("layout") / "run", samples)
    run_filter(run, FilterConfig(), progress=False, echo=None)
    return run, len(samples)


def test_stage_folders_hold_parquet_only(run):
    run_dir, _ = run
    for stage in STAGE_DIRS:
        names = [p.name for p in (run_dir / stage).iterdir()]
        assert names and all(n.startswith("part-") and n.endswith(".parquet") for n in names), (stage, names)
        assert sorted(p.name for p in (run_dir / "state" / stage).glob("*.done.json")) == [
            n.replace(".parquet", ".done.json") for n in sorted(names)]
        assert (run_dir / "state" / stage / "stats.json").is_file()
    assert (run_dir / "state" / "filter" / "config.json").is_file()
    assert sorted(p.name for p in (run_dir / "images").iterdir()) == ["part-00000.tar", "part-00001.tar",
                                                                     "part-00002.tar"]
    assert not (run_dir / "filter" / "checks").exists()


@pytest.mark.parametrize("stage", STAGE_DIRS)
def test_every_reader_opens_a_stage_folder_as_is(run, stage):
    import duckdb
    import pandas as pd
    import polars as pl
    import pyarrow.dataset as ds

    run_dir, n = run
    folder = run_dir / stage
    assert len(pd.read_parquet(folder)) == n
    assert ds.dataset(folder).count_rows() == n
    assert pl.scan_parquet(folder).collect().height == n
    assert pl.read_parquet(f"{folder}/*.parquet").height == n
    assert duckdb.sql(f"SELECT count(*) FROM '{folder}/*.parquet'").fetchall() == [(n,)]
    assert pd.read_parquet(folder)["key"].is_unique


def test_recursive_glob_counts_each_sample_once_per_stage(run):
    import duckdb

    run_dir, n = run
    rows = duckdb.sql(f"SELECT filename, key FROM read_parquet('{run_dir}/**/*.parquet', filename=true)").fetchall()
    per_stage: dict[str, list[str]] = {}
    for filename, key in rows:
        per_stage.setdefault(Path(filename).parent.name, []).append(key)
    assert set(per_stage) == set(STAGE_DIRS)
    for keys in per_stage.values():
        assert len(keys) == len(set(keys)) == n


def test_image_path_points_into_images(run):
    import pandas as pd

    run_dir, _ = run
    frame = pd.read_parquet(run_dir / "generate")
    assert frame["image_path"].str.startswith("images/part-").all()
    assert all((run_dir / p).is_file() for p in frame["image_path"].unique())


def test_half_written_parts_stay_out_of_the_manifest_folder(tmp_path):
    import polars as pl
    import pyarrow as pa
    import pyarrow.parquet as pq

    seen = []

    def process(ctx):
        with ctx.output(".parquet") as tmp:
            assert tmp.parent == tmp_path / "state" / "s"
            pq.write_table(pa.table({"key": [f"k{ctx.part.index}"]}), tmp)
            # a reader of the folder meanwhile sees only finished parts
            seen.append(pl.scan_parquet(tmp_path / "s").collect().height if ctx.part.index else 0)
        return {}

    run_stage("s", tmp_path, split_into_parts(2, 1), process, progress=False)
    assert seen == [0, 1] and sorted(p.name for p in (tmp_path / "s").iterdir()) == [
        "part-00000.parquet", "part-00001.parquet"]


def test_a_run_folder_of_the_old_layout_is_refused(tmp_path):
    (tmp_path / "generate").mkdir()
    (tmp_path / "generate" / "part-00000.done.json").write_text("{}")
    with pytest.raises(UserError, match="rerun into a new --out folder"):
        run_stage("generate", tmp_path, split_into_parts(2, 1), lambda ctx: {}, progress=False)


def test_inspect_fits_the_terminal(run):
    run_dir, _ = run
    lines: list[str] = []
    inspect_run(run_dir, rows=3, sheet_samples=4, echo=lines.append, width=80)
    printed = [line for line in "\n".join(lines).splitlines() if str(run_dir) not in line]  # paths stay whole
    assert len(printed) > 10 and max(len(line) for line in printed) <= 80
    assert any("…" in line for line in printed)  # attribute lists and captions are cut
