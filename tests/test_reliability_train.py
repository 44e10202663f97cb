"""aptm-train under corrupt data and restarts: broken JPEGs and truncated tars in training, validation,
eval and search are skipped with one warning line (counted, capped by data.max_bad_fraction in
training); --resume refuses a changed config unless allowed and keeps log.jsonl single."""
from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
import torch

from aptm_train.data.batching import BatchStream, batches, epoch_batches
from aptm_train.data.pipeline import PairStream, make_loader, make_spec
from aptm_train.data.shards import open_shards
from aptm_train.data.transforms import test_transform as eval_transform
from aptm_train.train.cli_options import overrides
from aptm_train.train.config import resolve
from aptm_train.train.loop import train
from mals_gen.errors import UserError
from tests._eval_fixtures import one_thread, tiny_checkpoint  # noqa: F401 (autouse fixture)
from tests._train_shards import sample, split_of, train_keys, write_shards

GARBAGE = b"\xff\xd8\xff\xe0 not a jpeg at all"


def tar_members(tar: Path) -> list[tuple[tarfile.TarInfo, bytes]]:
    with tarfile.open(tar) as tf:
        return [(m, tf.extractfile(m).read()) for m in tf.getmembers() if m.isfile()]


def corrupt_image(tar: Path, key: str, data: bytes | None = None) -> None:
    """Rewrite `tar` with KEY.jpg replaced by undecodable bytes (default: the JPEG cut in half)."""
    members = tar_members(tar)
    with tarfile.open(tar, "w") as tf:
        for m, b in members:
            if Path(m.name).name == f"{key}.jpg":
                b = data if data is not None else b[: len(b) // 2]
                m.size = len(b)
            tf.addfile(m, io.BytesIO(b))


def truncate_tar(tar: Path, keep_samples: int) -> None:
    """Cut `tar` inside the member after the first `keep_samples` samples (as a killed copy leaves it)."""
    with tarfile.open(tar) as tf:
        infos = [m for m in tf.getmembers() if m.isfile()]
    keys = list(dict.fromkeys(Path(m.name).name.split(".")[0] for m in infos))
    first_lost = next(m for m in infos if Path(m.name).name.split(".")[0] == keys[keep_samples])
    with open(tar, "r+b") as f:
        f.truncate(first_lost.offset_data + 10)


def one_line(err: UserError) -> str:
    assert "\n" not in str(err)
    return str(err)


@pytest.fixture()
def damaged(tmp_path) -> tuple[Path, str, str]:
    """40 samples, 10 per tar: one train JPEG broken, the first train tar cut after its 5th sample."""
    folder = write_shards(tmp_path / "shards", n=40)
    shards = open_shards(folder)
    first, second = shards.split_tars("train")[:2]
    broken = next(s for s in open_shards(folder).manifest.itertuples()
                  if s.shard == Path(second).name and s.split == "train").key
    corrupt_image(Path(second), broken)
    truncate_tar(Path(first), keep_samples=5)
    return folder, broken, first


def _train_rows(folder: Path, tar: str):
    rows = open_shards(folder).manifest
    return rows[(rows["shard"] == Path(tar).name) & (rows["split"] == "train")]


def lost_keys(folder: Path, tar: str, keep: int) -> set[str]:
    return set(_train_rows(folder, tar)["key"].iloc[keep:])


def last_read(folder: Path, tar: str, keep: int) -> str:
    return _train_rows(folder, tar)["key"].iloc[keep - 1]


def pairs_of(folder: Path, keys: set[str]) -> int:
    rows = open_shards(folder).manifest
    return int(rows[rows["key"].isin(keys)]["captions"].map(len).sum())


def test_stream_skips_broken_jpeg_and_truncated_tar_but_keeps_its_length(damaged):
    folder, broken, first = damaged
    shards = open_shards(folder)
    spec = make_spec(shards, "train", seed=1)
    items = list(make_loader(PairStream(spec, eval_transform((96, 32), "mals"))))
    good = {f"{p['key']}#{p['caption_index']}" for p in items if "bad" not in p}
    bad = [p["bad"] for p in items if "bad" in p]
    lost = lost_keys(folder, first, 5) | {broken}
    assert len(items) == spec.pairs_per_rank                        # the epoch keeps its length
    assert good == {k for k in train_keys(40) if k.split("#")[0] not in lost}
    assert len(bad) == spec.pairs_per_rank - len(good)
    where = {(f, k) for f, k, _ in bad}
    assert len(where) == 2 and (first, f"after {last_read(folder, first, 5)}") in where
    assert all("truncated" in r for f, _, r in bad if f == first)
    assert all("unreadable image" in r for f, k, r in bad if f != first) and broken in {k for _, k in where}
    # batches (made by two workers): bad items count towards the batch but are left out of it, and listed
    two = PairStream(make_spec(shards, "train", seed=1, num_workers=2), eval_transform((96, 32), "mals"))
    out = list(batches(iter(make_loader(BatchStream(two, 4, key_batch)))))
    assert sum(len(b["workers"]) for b in out) == len(items) and len(out) == len(epoch_batches(len(items), 2, 4))
    assert sum(len(b["keys"]) for b in out) == len(good) and sum(len(b["skipped"]) for b in out) == len(bad)
    assert {b for batch in out for b in batch["skipped"]} == set(bad)
    padded = list(batches(iter(make_loader(BatchStream(two, 4, key_batch))), pad=True))
    assert [len(b["keys"]) for b in padded] == [len(b["workers"]) for b in out]   # equal sizes across ranks


def key_batch(pairs: list[dict]) -> dict:
    return {"keys": [p["key"] for p in pairs]}


def test_stream_names_a_tar_that_ends_early_without_an_error(tmp_path):
    folder = write_shards(tmp_path / "shards", n=40)
    first = open_shards(folder).split_tars("train")[0]
    members = tar_members(Path(first))
    with tarfile.open(first, "w") as tf:        # a clean tar that lacks its last samples
        for m, b in members[:6]:
            tf.addfile(m, io.BytesIO(b))
    spec = make_spec(open_shards(folder), "train")
    items = list(make_loader(PairStream(spec, eval_transform((96, 32), "mals"))))
    bad = [p["bad"] for p in items if "bad" in p]
    assert len(items) == spec.pairs_per_rank and bad
    assert all(f == first and "manifest.parquet lists" in r for f, _, r in bad)


def tiny_cfg(shards: Path, out: Path, sets=(), **flags):
    args = {"shards": str(shards), "out": str(out), "model_size": "aptm-tiny", "batch_size": 4, "lr": 5e-4,
            "log_every": 1, "max_steps": 3, "save_every": 2, "workers": 0} | flags
    over = overrides(["model_overrides.vision.img_size=[64,32]", "schedule.warmup_steps=1",
                      "data.val_max_images=4", *sets], **args)
    return resolve("pretrain", None, over)


def test_training_skips_counts_and_stops_past_the_threshold(damaged, tmp_path):
    folder, broken, first = damaged
    lines = []
    with pytest.raises(UserError) as err:        # default data.max_bad_fraction (1%): far too many lost
        train(tiny_cfg(folder, tmp_path / "strict", pretrained=False), echo=lines.append, progress=False)
    assert "data.max_bad_fraction=0.01" in one_line(err.value) and "mals verify --decode" in str(err.value)
    lines.clear()
    result = train(tiny_cfg(folder, tmp_path / "lenient", ["data.max_bad_fraction=0.5"], pretrained=False,
                            epochs=1, max_steps=0), echo=lines.append, progress=False)
    warnings = [line for line in lines if line.startswith("warning: skipped")]
    assert any(first in w and "truncated" in w for w in warnings)
    assert any(broken in w and "unreadable image" in w for w in warnings)
    assert len(warnings) == 2                               # one line per tar / key, not per pair
    records = [json.loads(r) for r in (tmp_path / "lenient" / "log.jsonl").read_text().splitlines()]
    skipped = [r["skipped_pairs"] for r in records if "skipped_pairs" in r]
    lost = pairs_of(folder, lost_keys(folder, first, 5) | {broken})
    assert result["step"] == -(-48 // 4)                    # the epoch kept its 12 batches of 48 pairs
    assert skipped and skipped[-1] == lost


@pytest.fixture(scope="module")
def run_with_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("resume")
    shards = write_shards(root / "shards", n=20)
    run = root / "run"
    train(tiny_cfg(shards, run, pretrained=False, max_steps=2, save_every=1), progress=False)
    return shards, run


def test_resume_refuses_a_changed_config_and_records_an_allowed_one(run_with_checkpoint):
    shards, run = run_with_checkpoint
    before = (run / "config.yaml").read_text()
    with pytest.raises(UserError) as err:
        train(tiny_cfg(shards, run, pretrained=False, max_steps=2, save_every=1, lr=1e-3, batch_size=2),
              resume=True, progress=False)
    text = one_line(err.value)
    assert "optim.lr: 0.0005 -> 0.001" in text and "data.batch_size: 4 -> 2" in text
    assert "--allow-config-change" in text and (run / "config.yaml").read_text() == before
    # settings that cannot change the result may change freely
    train(tiny_cfg(shards, run, pretrained=False, max_steps=2, save_every=5, log_every=3, keep_last=2),
          resume=True, progress=False)
    assert not (run / "config_changes.jsonl").exists()
    lines = []
    result = train(tiny_cfg(shards, run, pretrained=False, max_steps=3, save_every=1), resume=True,
                   allow_config_change=True, echo=lines.append, progress=False)
    change = json.loads((run / "config_changes.jsonl").read_text().splitlines()[-1])
    assert result["step"] == 3 and change["changes"] == {"max_steps": [2, 3]} and change["step"] == 2
    assert any("max_steps: 2 -> 3" in line for line in lines)
    log = [json.loads(r) for r in (run / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if r.get("config_changes") == {"max_steps": [2, 3]}] == [2]


def test_resume_truncates_the_log_to_the_checkpoint(tmp_path):
    shards = write_shards(tmp_path / "shards", n=20)
    run = tmp_path / "run"
    train(tiny_cfg(shards, run, pretrained=False, max_steps=4, save_every=2, keep_last=2), progress=False)
    shutil.rmtree(run / "checkpoints" / "step-00000004")      # as if killed after step 4's records,
    shutil.rmtree(run / "model")                              # before its checkpoint (the last at 2)
    with open(run / "log.jsonl", "a") as f:
        f.write('{"step": 5, "loss": 1.0}\n{"step": 6, "lo')        # and a half-written last line
    lines = []
    train(tiny_cfg(shards, run, pretrained=False, max_steps=4, save_every=2, keep_last=2), resume=True,
          echo=lines.append, progress=False)
    steps = [r["step"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert steps == [1, 2, 3, 4]
    assert any("dropped" in line and "after step 2" in line for line in lines)


def test_eval_leaves_out_a_broken_image_and_drops_its_queries(tmp_path):
    from aptm_train.eval.run import EvalConfig, run_eval

    folder = write_shards(tmp_path / "shards", n=40, per_tar=40)
    test_keys = [f"s_{i:09d}" for i in range(40) if split_of(i) == "test"]
    tar = open_shards(folder).split_tars("test")[0]
    corrupt_image(Path(tar), test_keys[1], GARBAGE)           # s_19: two captions
    ckpt = tiny_checkpoint(tmp_path / "ckpt")
    lines = []
    payload = run_eval(EvalConfig(checkpoint=str(ckpt), shards=str(folder), progress=False, batch_size=2, k=2),
                       echo=lines.append)
    assert payload["images"] == 3 and payload["queries"] == 6 and payload["dropped_queries"] == 2
    assert payload["skipped"][0]["key"] == test_keys[1] and payload["skipped"][0]["file"] == tar
    assert any("their 2 query(ies) dropped" in line for line in lines)
    assert payload["retrieval"]["fused"]["R@1"] >= 0


def test_search_skips_broken_images_in_folder_and_shard_galleries(tmp_path, capsys):
    from aptm_train.eval.run import build_encoder
    from aptm_train.search.embed import embed_images
    from aptm_train.search.index import build_or_load_index, open_gallery
    from aptm_train.search.search import search

    gallery = tmp_path / "gallery"
    gallery.mkdir()
    for i in range(6):
        (gallery / f"img{i}.jpg").write_bytes(sample(i)[0])
    (gallery / "img2.jpg").write_bytes(sample(2)[0][:300])             # truncated JPEG
    (gallery / "notes.jpg").write_text("not an image")                  # a text file named .jpg
    enc = build_encoder(tiny_checkpoint(tmp_path / "ckpt"), batch_size=2, progress=False)
    gal = open_gallery(gallery)
    index, _ = build_or_load_index(enc, gal, "id", tmp_path / "i.npz", echo=lambda *_: None)
    err = capsys.readouterr().err
    assert "img2.jpg" in err and "notes.jpg" in err and "skipped 2 unreadable" in err
    assert index.items == tuple(i for i in gal.items if i not in ("img2.jpg", "notes.jpg"))
    hits = search(enc, index, gal, "a person in red", top=4, rerank=3)
    assert len(hits) == 4 and all(gal.items[h.index] == h.item for h in hits)
    again, reused = build_or_load_index(enc, gal, "id", tmp_path / "i.npz", echo=lambda *_: None)
    assert reused and again.items == index.items
    from typer.testing import CliRunner

    from aptm_train.cli import app
    done = CliRunner().invoke(app, ["search", "a person in red", "--checkpoint", str(tmp_path / "ckpt"),
                                    "--gallery", str(gallery), "--index", str(tmp_path / "cli.npz"), "--top", "5",
                                    "--device", "cpu", "--no-progress", "--threads", "1",
                                    "--png", str(tmp_path / "r.png")])
    assert done.exit_code == 0, done.output
    assert "built index of 5 images" in done.stdout and (tmp_path / "r.png").stat().st_size > 0
    # a shard gallery with a broken member, and the embed export
    shards = write_shards(tmp_path / "shards", n=12, per_tar=12)
    rows = open_shards(shards).manifest
    tar = shards / rows.loc[rows["key"] == "s_000000003", "shard"].iloc[0]
    corrupt_image(tar, "s_000000003", GARBAGE)
    ids, vecs = embed_images(enc, shards)
    assert len(ids) == 11 and vecs.shape[0] == 11 and f"{tar.name}/s_000000003" not in ids
    assert "s_000000003" in capsys.readouterr().err


def test_threads_default_to_this_process_share(monkeypatch):
    import os

    from aptm_train.threads import default_threads, set_threads

    cores = len(os.sched_getaffinity(0))
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert default_threads() == 3                     # the user's setting wins
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert default_threads() == max(1, cores // 2)
    old = torch.get_num_threads()
    try:
        assert set_threads(None) == torch.get_num_threads() == max(1, cores // 2)
        assert set_threads(1) == torch.get_num_threads() == 1
        with pytest.raises(UserError):
            set_threads(0)
    finally:
        torch.set_num_threads(old)
