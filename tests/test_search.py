"""`aptm-train search` / `embed` mechanics on a tiny random model: index reuse and rebuild, ranking, exports."""
from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from aptm_train.cli import app
from aptm_train.eval.run import build_encoder
from aptm_train.search.index import build_or_load_index, checkpoint_identity, open_gallery
from aptm_train.search.search import search
from tests._eval_fixtures import one_thread, tiny_checkpoint, tiny_shards  # noqa: F401 (autouse fixture)
from tests._train_shards import sample


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    root = tmp_path_factory.mktemp("search")
    folder = root / "gallery"
    for i in range(14):
        sub = folder / ("a" if i % 2 else "b/c")
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"img{i:02d}.jpg").write_bytes(sample(i)[0])
    ckpt = tiny_checkpoint(root / "ckpt")
    return ckpt, folder, tiny_shards(root / "shards", n=30), build_encoder(ckpt, batch_size=4, progress=False)


def test_index_is_reused_until_the_gallery_changes(env, tmp_path):
    ckpt, folder, _, enc = env
    gal = open_gallery(folder)
    assert len(gal.items) == 14 and gal.items[0] == "a/img01.jpg"
    ident = checkpoint_identity(ckpt, "mals")
    path = tmp_path / "gallery.npz"
    index, reused = build_or_load_index(enc, gal, ident, path, echo=lambda *_: None)
    assert not reused and index.feats.shape == (14, 16)
    np.testing.assert_allclose(np.linalg.norm(index.feats, axis=1), 1.0, atol=1e-5)
    again, reused = build_or_load_index(enc, open_gallery(folder), ident, path, echo=lambda *_: None)
    assert reused and np.array_equal(again.feats, index.feats)
    # another checkpoint / transform -> rebuild; a changed file -> rebuild
    assert not build_or_load_index(enc, gal, checkpoint_identity(ckpt, "cuhk-pedes"), path,
                                   echo=lambda *_: None)[1]
    victim = folder / "a" / "img01.jpg"
    st = victim.stat()
    os.utime(victim, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    assert not build_or_load_index(enc, open_gallery(folder), ident, path, echo=lambda *_: None)[1]


def test_search_reranks_candidates_by_itm(env, tmp_path):
    _, folder, shards, enc = env
    gal = open_gallery(folder)
    index, _ = build_or_load_index(enc, gal, "x", tmp_path / "i.npz", echo=lambda *_: None)
    hits = search(enc, index, gal, "a man in a red shirt", top=6, rerank=4)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5, 6]
    itm = [h.itm for h in hits[:4]]
    assert all(v is not None for v in itm) and itm == sorted(itm, reverse=True)
    assert all(h.itm is None for h in hits[4:])
    assert len({h.item for h in hits}) == 6
    # a shard folder is a gallery too (TAR/KEY items, all splits)
    sgal = open_gallery(shards)
    assert sgal.kind == "shards" and len(sgal.items) == 30 and sgal.items[0].startswith("000000.tar/")
    sindex, _ = build_or_load_index(enc, sgal, "x", tmp_path / "s.npz", echo=lambda *_: None)
    assert len(search(enc, sindex, sgal, "red", top=3, rerank=3)) == 3


def test_cli_search_and_embed(env, tmp_path):
    ckpt, folder, _, _ = env
    runner = CliRunner()
    env_vars = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    args = ["search", "a person in red", "--checkpoint", str(ckpt), "--gallery", str(folder), "--top", "3",
            "--rerank", "5", "--device", "cpu", "--no-progress", "--html", str(tmp_path / "r.html"),
            "--png", str(tmp_path / "r.png")]
    first = runner.invoke(app, args, env=env_vars)
    assert first.exit_code == 0, first.output
    assert "built index of 14 images" in first.output and "img" in first.output
    second = runner.invoke(app, args, env=env_vars)
    assert "reused index of 14 images" in second.output
    assert (tmp_path / "r.png").stat().st_size > 0 and "base64" in (tmp_path / "r.html").read_text()
    (tmp_path / "q.txt").write_text("a red shirt\n\nblue pants\n")
    out = tmp_path / "emb"
    res = runner.invoke(app, ["embed", "--checkpoint", str(ckpt), "--images", str(folder), "--texts",
                              str(tmp_path / "q.txt"), "--out", str(out), "--device", "cpu", "--no-progress"])
    assert res.exit_code == 0, res.output
    images = pd.read_parquet(out / "images.parquet")
    assert len(images) == 14 and len(images["embedding"][0]) == 16
    assert pd.read_parquet(out / "texts.parquet")["id"].tolist() == ["a red shirt", "blue pants"]
    res = runner.invoke(app, ["embed", "--checkpoint", str(ckpt), "--texts", str(tmp_path / "q.txt"),
                              "--out", str(out), "--format", "npy", "--device", "cpu", "--no-progress"])
    assert res.exit_code == 0 and np.load(out / "texts.npy").shape == (2, 16)
    assert (out / "texts_ids.txt").read_text().splitlines() == ["a red shirt", "blue pants"]


def test_search_check_reads_keys_from_both_gallery_kinds(env, tmp_path):
    """scripts/search_check.py scores hits by sample key: the stem of FOLDER/KEY.jpg or SHARD.tar/KEY."""
    ckpt, folder, shards, _ = env
    spec = importlib.util.spec_from_file_location("search_check", Path(__file__).parents[1] / "scripts" / "search_check.py")
    search_check = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(search_check)
    runner = CliRunner()
    for gallery, prefix in ((folder, "img"), (shards, "")):
        res = runner.invoke(app, ["search", "red", "--checkpoint", str(ckpt), "--gallery", str(gallery), "--top", "4",
                                  "--rerank", "0", "--device", "cpu", "--no-progress"],
                            env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
        assert res.exit_code == 0, res.output
        keys = search_check.keys_from_search_output(res.output)
        assert len(keys) == 4 and len(set(keys)) == 4
        assert all(k.startswith(prefix) and "." not in k and "/" not in k for k in keys), keys
