"""The shard folder's README is a Hugging Face dataset card: `datasets.load_dataset(folder)` gives
train, val and test as separate splits with their counts (offline, in a fresh process)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from mals_gen.shard.select import ShardConfig, run_shard
from mals_gen.shard.split import SplitFractions

from ._shard_fixtures import build_run

pytest.importorskip("datasets")

_LOAD = """
import json, sys, datasets
d = datasets.load_dataset(sys.argv[1], cache_dir=sys.argv[2])
val = d["val"][0]
print(json.dumps({"counts": {k: len(v) for k, v in d.items()}, "keys": {k: sorted(v["__key__"]) for k, v in d.items()},
                  "image": list(val["jpg"].size), "meta_split": val["json"]["split"], "txt": val["txt"],
                  "captions": val["json"]["captions"]}))
"""


def test_load_dataset_gives_each_split_with_its_count(tmp_path):
    run = build_run(tmp_path / "run", n=24, part_size=8, failed={3}, filtered={5})
    out = tmp_path / "shards" / "tiny"
    run_shard(run, out, ShardConfig(samples_per_shard=4, workers=1, height=32,
                                    split=SplitFractions(0.5, 0.25, 0.25)), progress=False, echo=None)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf"),
           "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-c", _LOAD, str(out), str(tmp_path / "cache")], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    import pandas as pd

    manifest = pd.read_parquet(out / "manifest.parquet")
    expected = manifest.groupby("split")["key"].apply(sorted).to_dict()
    assert set(expected) == {"train", "val", "test"}
    assert got["counts"] == {s: len(k) for s, k in expected.items()} and got["keys"] == expected
    assert got["meta_split"] == "val" and got["image"][1] == 32 and got["txt"] == got["captions"][0]
    card = yaml.safe_load((out / "README.md").read_text().split("---\n")[1])
    assert card["dataset_info"]["splits"] == [
        {"name": s, "num_bytes": sum((out / t).stat().st_size for t in card["configs"][0]["data_files"][i]["path"]),
         "num_examples": len(expected[s])} for i, s in enumerate(("train", "val", "test"))]
    assert card["license"] and card["task_categories"] and card["size_categories"] == ["n<1K"]
