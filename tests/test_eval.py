"""`aptm-train eval` on a tiny random model: outputs, batched vs per-query re-ranking, 1 vs 2 processes."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pandas as pd
import pytest
import torch

from aptm_train.data.shards import open_shards
from aptm_train.eval.encode import encode_texts, read_and_encode_split
from aptm_train.eval.rerank import itm_per_query, rerank
from aptm_train.eval.retrieval import MODES
from aptm_train.eval.run import EvalConfig, build_encoder, run_eval
from tests._eval_fixtures import one_thread, tiny_checkpoint, tiny_shards  # noqa: F401 (autouse fixture)
from tests.conftest import REPO


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    return tiny_checkpoint(root / "ckpt"), tiny_shards(root / "shards"), root


def _cfg(setup, **kw) -> EvalConfig:
    ckpt, shards, _ = setup
    return EvalConfig(checkpoint=str(ckpt), shards=str(shards), progress=False, batch_size=4, query_chunk=3,
                      pair_batch=7, k=5, **kw)


def test_retrieval_writes_table_json_rankings_and_html(setup, tmp_path):
    lines = []
    payload = run_eval(_cfg(setup, modes=("itc", "itm", "fused"), out=str(tmp_path), rankings=True, html=True),
                       echo=lines.append)
    table = lines[0]
    assert "fused" in table and "chance" in table and "mINP" in table
    saved = json.loads((tmp_path / "retrieval_metrics.json").read_text())
    assert saved["retrieval"]["fused"] == pytest.approx(payload["retrieval"]["fused"])
    assert saved["images"] == 12 and saved["queries"] == 24     # test split: 12 images, 2 captions each
    ranks = pd.read_parquet(tmp_path / "rankings_fused.parquet")
    assert len(ranks) == 24 and len(ranks["top_keys"][0]) == 10
    assert 100 * (ranks["first_rank"] <= 1).mean() == pytest.approx(payload["retrieval"]["fused"]["R@1"])
    assert 100 * ranks["ap"].mean() == pytest.approx(payload["retrieval"]["fused"]["mAP"])
    page = (tmp_path / "retrieval.html").read_text()
    assert page.count("data:image/jpeg;base64") == 24 * 11            # own image + top 10 per query
    # the split carries mined attributes: each ordering's top 5 agreement next to chance
    agreement = saved["attribute_agreement"]
    assert agreement["k"] == 5 and set(agreement["orderings"]) == {"itc", "itm", "fused"}
    assert agreement["chance"]["gender"] == pytest.approx(payload["attribute_agreement"]["chance"]["gender"])
    assert any(line.startswith("attribute agreement of the top 5") for line in lines)


def test_batched_rerank_matches_per_query_loop(setup):
    ckpt, shards, _ = setup
    enc = build_encoder(ckpt, batch_size=4, progress=False)
    data, images = read_and_encode_split(enc, open_shards(shards), "test")
    feats = encode_texts(enc, data.captions)
    batched = rerank(enc, data.captions, feats, images.feats, images.tokens, k=6, query_chunk=4, pair_batch=5)
    loop = itm_per_query(enc, data.captions, feats, images.feats, images.tokens, k=6)
    assert torch.equal(batched.index, loop.index)
    assert torch.allclose(batched.itm, loop.itm, atol=1e-4)
    assert batched.itm.std() > 0                                     # not a constant


def test_attribute_task_scores_mals_slots(setup):
    lines = []
    payload = run_eval(_cfg(setup, task="attributes"), echo=lines.append)
    mals = payload["attributes"]["mals"]
    assert len(mals["per_attribute"]) == 27 and mals["images"] == 12
    assert all(row["known"] == 12 for row in mals["per_attribute"])
    assert 0 <= mals["mA"] <= 100 and "upper_red" in lines[0]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_give_the_same_metrics(setup, tmp_path):
    ckpt, shards, _ = setup
    single = run_eval(_cfg(setup, modes=MODES, emulated_gpus=3), echo=lambda *_: None)
    args = [sys.executable, "-m", "aptm_train", "eval", "--checkpoint", str(ckpt), "--shards", str(shards),
            "--mode", "all", "--emulated-gpus", "3", "--k", "5", "--batch-size", "4", "--query-chunk", "3",
            "--pair-batch", "7",
            "--device", "cpu", "--no-progress", "--out", str(tmp_path)]
    port = str(_free_port())
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank),
               "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "OMP_NUM_THREADS": "1"}
        procs.append(subprocess.Popen(args, env=env, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True))
    outs = [p.communicate(timeout=240) for p in procs]
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert "fused" in outs[0][0] and "fused" not in outs[1][0]      # only the main process reports
    double = json.loads((tmp_path / "retrieval_metrics.json").read_text())
    assert double["world_size"] == 2
    assert set(double["retrieval"]) == set(MODES)
    for mode in MODES:            # fused-per-gpu emulates 3 GPUs whatever the real process count
        assert double["retrieval"][mode] == single["retrieval"][mode], mode


def test_cli_rejects_bad_options_in_one_line(setup):
    from typer.testing import CliRunner

    from aptm_train.cli import app
    from mals_gen.errors import UserError

    ckpt, shards, _ = setup
    res = CliRunner().invoke(app, ["eval", "--checkpoint", str(ckpt), "--shards", str(shards), "--mode", "best"])
    assert isinstance(res.exception, UserError) and "--mode" in str(res.exception)
    assert "\n" not in str(res.exception)
    res = CliRunner().invoke(app, ["eval", "--checkpoint", str(shards), "--shards", str(shards)])
    assert isinstance(res.exception, UserError) and "config.json" in str(res.exception)
    res = CliRunner().invoke(app, ["eval", "--checkpoint", str(ckpt), "--shards", str(shards), "--precision", "half"])
    assert isinstance(res.exception, UserError) and "--precision 'half'" in str(res.exception)
    res = CliRunner().invoke(app, ["eval", "--checkpoint", str(ckpt), "--shards", str(shards), "--itc-weight", "-1"])
    assert isinstance(res.exception, UserError) and "--itc-weight" in str(res.exception)
    # training's word for full precision is accepted too
    assert build_encoder(ckpt, precision="no", progress=False).precision == "fp32"


def test_help_lists_the_orderings_and_mode_takes_several():
    from typer.testing import CliRunner

    from aptm_train.cli import app
    from aptm_train.commands.eval import parse_modes
    from mals_gen.errors import UserError

    res = CliRunner().invoke(app, ["eval", "--help"], terminal_width=200)
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    for mode in MODES:
        assert f" {mode} " in text.replace("|", " ").replace("(", " ").replace(":", " "), mode
    assert "--emulated-gpus" in text
    assert parse_modes("fused-per-gpu, itc,fused") == ("itc", "fused", "fused-per-gpu")
    assert parse_modes("all") == MODES
    with pytest.raises(UserError, match="choose all or one or more of itc, itm, fused, itm-paper"):
        parse_modes("itc,itm-1000")


def test_itc_weight_moves_fused_from_itm_towards_itc(setup):
    modes = ("itc", "itm", "fused")
    low = run_eval(_cfg(setup, modes=modes, itc_weight=0.0), echo=lambda *_: None)["retrieval"]
    high = run_eval(_cfg(setup, modes=modes, itc_weight=1e6), echo=lambda *_: None)["retrieval"]
    assert low["fused"] == low["itm"] and high["fused"] == high["itc"]


def test_every_ordering_runs_and_one_emulated_gpu_is_fused(setup):
    payload = run_eval(_cfg(setup, modes=MODES, emulated_gpus=4), echo=lambda *_: None)
    metrics = payload["retrieval"]
    assert list(metrics) == list(MODES) and payload["headline"] == "fused"
    assert run_eval(_cfg(setup, modes=("fused-per-gpu",), emulated_gpus=1),
                    echo=lambda *_: None)["retrieval"]["fused-per-gpu"] == metrics["fused"]
