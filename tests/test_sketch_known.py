"""Sketch runs know each person's exact box and attributes: the filter and the shards use them."""
from __future__ import annotations

import numpy as np

from mals_gen.attrs.stage import AttrsConfig, run_attrs
from mals_gen.caption.stage import CaptionConfig, run_caption
from mals_gen.filter.stage import FilterConfig, run_filter
from mals_gen.generate.config import GenerateConfig
from mals_gen.generate.stage import run_generate
from mals_gen.manifest import load_manifest
from mals_gen.shard.select import ShardConfig, run_shard

from ._shard_fixtures import tar_samples


def test_sketch_box_and_attributes_reach_filter_and_shards(tmp_path):
    run = tmp_path / "run"
    run_generate(run, GenerateConfig(backend="sketch", n=8, part_size=4), progress=False, echo=None)
    run_caption(run, CaptionConfig(), progress=False, echo=None)
    run_attrs(run, AttrsConfig(), progress=False, echo=None)
    run_filter(run, FilterConfig(), progress=False, echo=None)
    frame = load_manifest(run)
    for _, row in frame.iterrows():
        known, asked = np.asarray(row["known_attrs"]), np.asarray(row["prompt_attrs"])
        assert ((asked == -1) | (asked == known)).all() and (known >= 0).all()
        x0, y0, x1, y1 = row["known_box"]
        assert 0 <= x0 < x1 <= row["width"] and 0 <= y0 < y1 <= row["height"]
        assert row["n_persons"] == 1 and row["reason"] not in ("no_person", "several_persons")
    run_shard(run, tmp_path / "shards", ShardConfig(attrs_from="known", height=64), progress=False, echo=None)
    samples = [s for tar in sorted((tmp_path / "shards").glob("*.tar")) for s in tar_samples(tar)]
    by_key = frame.set_index("key")
    assert samples
    for s in samples:
        assert s.attr_source == "known" and list(s.mals_attrs) == list(by_key.loc[s.key, "known_attrs"])
