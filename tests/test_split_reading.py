"""Readers open only their split's tars: evaluation of the test split, validation and the training
stream count the tars they open (every shard tar is opened by `tarstream.iter_members` in `shards.read_tar`)."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

import aptm_train.data.shards as shards_module
from aptm_train.data.pipeline import PairStream, make_loader, make_spec
from aptm_train.data.shards import iter_split, open_shards
from aptm_train.eval.encode import read_and_encode_split
from aptm_train.eval.run import build_encoder
from aptm_train.train.validate import val_samples
from mals_gen.contract import SPLITS
from mals_gen.errors import UserError
from tests._eval_fixtures import one_thread, tiny_checkpoint  # noqa: F401 (autouse fixture)
from tests._train_shards import write_shards


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_shards(tmp_path_factory.mktemp("shards"), n=100, per_tar=20)   # 80 train, 10 val, 10 test


@pytest.fixture
def opened(monkeypatch):
    """Names of the tars opened while the test runs."""
    names: list[str] = []
    real = shards_module.iter_members

    def counting(path):
        names.append(Path(path).name)
        return real(path)

    monkeypatch.setattr(shards_module, "iter_members", counting)
    return names


def _names(shards, split: str) -> list[str]:
    return [Path(t).name for t in shards.split_tars(split)]


def test_each_split_lists_its_own_tars(folder):
    shards = open_shards(folder)
    listed = json.loads((folder / "splits.json").read_text())
    assert {s: _names(shards, s) for s in listed} == listed
    assert len(listed["train"]) == 4 and len(listed["val"]) == len(listed["test"]) == 1


def test_eval_of_the_test_split_opens_only_test_tars(folder, opened, tmp_path):
    shards = open_shards(folder)
    enc = build_encoder(tiny_checkpoint(tmp_path / "ckpt"), batch_size=8, progress=False)
    data, images = read_and_encode_split(enc, shards, "test")
    assert len(data.keys) == images.feats.shape[0] == 10
    assert opened == _names(shards, "test")


def test_validation_opens_only_val_tars(folder, opened):
    shards = open_shards(folder)
    samples = val_samples(shards, 0, "person")
    assert len(samples) == 10
    assert opened == _names(shards, "val")


def test_training_stream_opens_only_train_tars(folder, opened):
    shards = open_shards(folder)
    pairs = list(make_loader(PairStream(make_spec(shards, "train"), lambda image: 0)))
    assert len(pairs) == 120                                     # 80 images, every odd one with 2 captions
    assert set(opened) == set(_names(shards, "train")) and "<fileobj>" not in opened


def test_folder_without_splits_json_reads_the_manifest_tars(folder, tmp_path, opened):
    """Older folders have no splits.json: the manifest's shard column says which tars hold a split."""
    old = tmp_path / "old"
    shutil.copytree(folder, old)
    (old / "splits.json").unlink()
    shards, new = open_shards(old), open_shards(folder)
    assert {s: _names(shards, s) for s in SPLITS} == {s: _names(new, s) for s in SPLITS}
    assert [s.key for s in iter_split(shards, "val")] == [s.key for s in iter_split(new, "val")]
    assert opened == 2 * _names(shards, "val")


def test_splits_json_that_disagrees_with_the_manifest_is_one_line(tmp_path):
    folder = write_shards(tmp_path / "s", n=30, per_tar=10)
    listed = json.loads((folder / "splits.json").read_text())
    listed["val"], listed["test"] = listed["test"], listed["val"]
    (folder / "splits.json").write_text(json.dumps(listed))
    with pytest.raises(UserError, match="splits.json: val lacks .*mixes two builds"):
        open_shards(folder)
