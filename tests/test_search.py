"""`aptm-train search` / `embed` mechanics on a tiny random model: index reuse and rebuild, ranking, exports."""
from __future__ import annotations

import importlib.util
import os
import sys
import tarfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from aptm_train.cli import app
from aptm_train.eval.run import build_encoder
from aptm_train.search.index import build_or_load_index, checkpoint_identity, open_gallery
from aptm_train.search.search import search
from mals_gen.contract import UPPER_COLOURS
from mals_gen.errors import UserError
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


def test_search_orders_candidates_by_the_evaluations_fusion(env, tmp_path):
    _, folder, _, enc = env
    gal = open_gallery(folder)
    index, _ = build_or_load_index(enc, gal, "x", tmp_path / "i.npz", echo=lambda *_: None)
    query = "a man in a red shirt"
    by_itm = search(enc, index, gal, query, top=6, rerank=5, itc_weight=0.0)
    by_itc = search(enc, index, gal, query, top=6, rerank=0)
    # the same five candidates: weight 0 is ITM's order, a huge weight is ITC's, the rest follows ITC
    assert [h.itm for h in by_itm[:5]] == sorted((h.itm for h in by_itm[:5]), reverse=True)
    assert [h.item for h in search(enc, index, gal, query, top=6, rerank=5, itc_weight=1e6)] == \
        [h.item for h in by_itc]
    assert {h.item for h in by_itm[:5]} == {h.item for h in by_itc[:5]} and by_itm[5].item == by_itc[5].item
    # in between: ITM_norm + w * ITC_norm over the candidates, as eval's fused
    mid = search(enc, index, gal, query, top=5, rerank=5, itc_weight=1.0)
    itm = torch.tensor([h.itm for h in mid])
    itc = torch.tensor([h.itc for h in mid])
    all_itc = torch.tensor([h.itc for h in search(enc, index, gal, query, top=len(gal.items), rerank=0)])
    score = (itm - itm.min()) / (itm.max() - itm.min()) + (itc - all_itc.min()) / (all_itc.max() - all_itc.min())
    assert torch.all(score[:-1] >= score[1:] - 1e-6)


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


@pytest.fixture(scope="module")
def search_check():
    spec = importlib.util.spec_from_file_location("search_check", Path(__file__).parents[1] / "scripts" / "search_check.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["search_check"] = module      # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    yield module
    del sys.modules["search_check"]


def test_search_check_reads_keys_from_both_gallery_kinds(env, search_check, tmp_path, monkeypatch):
    """Hits are scored by sample key: the stem of FOLDER/KEY.jpg or of SHARD.tar/KEY."""
    ckpt, _, shards, _ = env
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert search_check.key_of("000000.tar/s_000000007") == "s_000000007"
    assert search_check.key_of("sub/s_000000007.jpg") == "s_000000007"
    folder = tmp_path / "keys"
    for tar in sorted(shards.glob("*.tar")):
        with tarfile.open(tar) as tf:
            for m in tf:
                if m.name.endswith(".jpg"):
                    (folder / "sub").mkdir(parents=True, exist_ok=True)
                    (folder / "sub" / m.name).write_bytes(tf.extractfile(m).read())
    known = set(pd.read_parquet(shards / "manifest.parquet")["key"])
    ranked = {}
    for gallery in (shards, folder):
        keys = search_check.Searcher(ckpt, gallery, device="cpu").ranked_keys("red", 6, 0)
        assert len(set(keys)) == 6 and set(keys) <= known, keys
        ranked[gallery] = keys
    assert ranked[shards] == ranked[folder]   # the same images in the same order rank the same


def test_search_check_end_to_end(env, search_check, tmp_path, monkeypatch):
    """One model load for all queries; a top K covering the whole gallery scores the base rate."""
    ckpt, folder, shards, _ = env
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    loads = []
    import aptm_train.eval.run as eval_run

    real = eval_run.build_encoder        # open_search looks it up on each call: count the model loads
    monkeypatch.setattr(eval_run, "build_encoder", lambda *a, **k: loads.append(1) or real(*a, **k))
    # the gallery folder's img*.jpg are not in the manifest: the shards' 30 samples are the labelled ones
    searcher = search_check.Searcher(ckpt, shards, device="cpu")
    rows = search_check.check(searcher, shards, [4, 30], rerank=3)
    assert loads == [1] and len(rows) == 2 * len(search_check.QUERIES)
    # tests/_train_shards: every sample is a "man" (all slots 1) whose upper colour cycles; 30 samples
    red = sum(UPPER_COLOURS[i % len(UPPER_COLOURS)] == "red" for i in range(30)) / 30
    by = {(r.query, r.top): r for r in rows}
    assert red > 0 and by["a man in a red shirt", 30].base == pytest.approx(red)
    assert by["a man in a red shirt", 30].hit == pytest.approx(red)
    assert by["a man in a red shirt", 4].hit * 4 in {0, 1, 2, 3, 4}
    assert by["a woman in a skirt", 4] == search_check.Row("a woman in a skirt", 4, 0.0, 0.0)
    lines = search_check.format_tables(rows, [4, 30]).splitlines()
    assert len(lines) == 2 + len(rows) and lines[0].split() == ["query", "top-4", "gallery", "lift"]
    assert lines[-1].split()[-3:] == ["0.0%", "0.0%", "nan"]
    unlabelled = search_check.check(search_check.Searcher(ckpt, folder, device="cpu"), shards, [3], rerank=0)
    assert all(np.isnan(r.hit) for r in unlabelled)   # no hit is a labelled sample: no share, not 0
    with pytest.raises(UserError, match="manifest"):
        search_check.check(searcher, tmp_path, [3], rerank=0)


def test_eval_of_a_model_folder_updates_its_card(env, tmp_path):
    import shutil

    from aptm_train.model.card import card_rows

    ckpt, _, shards, _ = env
    folder = shutil.copytree(ckpt, tmp_path / "ckpt")
    assert card_rows(folder) == []
    args = ["eval", "--checkpoint", str(folder), "--shards", str(shards), "--mode", "fused,itc", "--k", "4",
            "--device", "cpu", "--no-progress", "-o", str(tmp_path / "ev")]
    for _ in range(2):                                # a second eval of the same split replaces its rows
        res = CliRunner().invoke(app, args)
        assert res.exit_code == 0, res.output
    rows = card_rows(folder)
    assert len(rows) == 2 and all(f"| {shards} | test |" in r for r in rows)
    assert {r.split("|")[3].strip() for r in rows} == {"fused", "itc"}
    assert (tmp_path / "ev" / "retrieval_metrics.json").is_file()


def test_search_pictures_show_scores_captions_and_attributes(env, tmp_path):
    from PIL import Image

    from aptm_train.search.grid import THUMB_H, write_html, write_png
    from aptm_train.search.session import open_search

    ckpt, folder, shards, _ = env
    for gallery in (shards, folder):
        session = open_search(ckpt, gallery, device="cpu", echo=lambda *_: None,
                              index_path=tmp_path / f"{gallery.name}.npz", progress=False)
        query = "a man in a red <shirt>"
        hits = session.search(query, top=4, rerank=2)
        page = write_html(tmp_path / f"{gallery.name}.html", query, hits, session.gallery).read_text()
        assert "<h1>\u201ca man in a red &lt;shirt&gt;\u201d</h1>" in page and page.count("data:image/jpeg") == 4
        assert "#1</span>" in page and "ITM " in page and f"ITC {hits[0].itc:.3f}" in page and "ITM -" in page
        png = Image.open(write_png(tmp_path / f"{gallery.name}.png", query, hits, session.gallery))
        assert png.height >= THUMB_H + 60 and png.width >= 4 * 200
        if gallery == shards:
            sample_caption = "a person wearing"      # tests/_train_shards captions
            assert sample_caption in page and "attributes: man" in page
            assert "(train)" in page or "(test)" in page or "(val)" in page
        else:
            assert "attributes:" not in page and Path(hits[0].item).name in page
