"""Retrieval and attribute metrics against brute-force references and docs/method.md's worked example."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch

from aptm_train.eval.attributes import attribute_metrics, predict_labels
from aptm_train.eval.metrics import chance_metrics, rank_order, rank_queries, retrieval_metrics
from aptm_train.eval.rerank import Candidates
from aptm_train.eval.retrieval import fuse_per_gpu, fuse_scores, itm_matrix, itm_paper_matrix, per_gpu_blocks
from mals_gen.errors import UserError


def brute_force(sim: np.ndarray, qids, gids, ks=(1, 5, 10)) -> dict:
    """Per query: sort by (-score, gallery index), walk the ranking, count hits."""
    out = {f"R@{k}": 0.0 for k in ks} | {"mAP": 0.0, "mINP": 0.0}
    for q in range(sim.shape[0]):
        order = sorted(range(sim.shape[1]), key=lambda g: (-float(np.float32(sim[q, g])), g))
        rel = [gids[g] == qids[q] for g in order]
        n, hits, ap, last = sum(rel), 0, 0.0, 0
        for r, is_rel in enumerate(rel, 1):
            if is_rel:
                hits += 1
                ap += hits / r
                last = r
        first = rel.index(True) + 1
        for k in ks:
            out[f"R@{k}"] += first <= k
        out["mAP"] += ap / n
        out["mINP"] += n / last
    return {k: 100.0 * v / sim.shape[0] for k, v in out.items()}


def test_worked_example_of_the_spec():
    gallery = [7, 7, 7, 9, 9, 3]
    rankings = [[0, 3, 2, 5, 4, 1], [5, 4, 0, 1, 2, 3]]
    sim = np.zeros((2, 6), np.float32)
    for q, order in enumerate(rankings):
        sim[q, order] = np.arange(6, 0, -1)           # rank r gets score 6 - r
    m = retrieval_metrics(sim, [7, 9], gallery, ks=(1, 2))
    assert m["R@1"] == 50.0 and m["R@2"] == 100.0
    assert round(m["mAP"], 2) == 56.94 and round(m["mINP"], 2) == 41.67


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("chunk_bytes", [1, 5000, 2**28])
def test_matches_brute_force_with_ties_and_chunks(seed, chunk_bytes):
    rng = np.random.default_rng(seed)
    n_q, n_g = 23, 31
    gids = [f"p{v}" for v in rng.integers(0, 6, n_g)]
    qids = [gids[i] for i in rng.integers(0, n_g, n_q)]        # every query has a relevant image
    sim = np.round(rng.normal(size=(n_q, n_g)), 1).astype(np.float32)   # many exact ties
    ours = retrieval_metrics(torch.from_numpy(sim), qids, gids, chunk_bytes=chunk_bytes)
    ref = brute_force(sim, qids, gids)
    for key, value in ref.items():
        assert ours[key] == pytest.approx(value, abs=1e-9), key


def test_ties_break_by_gallery_index_and_top_is_returned():
    sim = np.zeros((1, 5), np.float32)                           # all tied
    ranks = rank_queries(sim, ["b"], ["a", "a", "b", "a", "b"], top=5)
    assert ranks.top[0].tolist() == [0, 1, 2, 3, 4]
    assert ranks.first_rank[0] == 3 and ranks.n_relevant[0] == 2
    assert ranks.ap[0] == pytest.approx((1 / 3 + 2 / 5) / 2)
    assert ranks.inp[0] == pytest.approx(2 / 5)


def test_query_without_relevant_image_is_an_input_error():
    with pytest.raises(UserError, match="query 1 has no relevant gallery image"):
        retrieval_metrics(np.ones((2, 3)), ["a", "z"], ["a", "b", "c"])
    with pytest.raises(UserError, match="NaN"):
        retrieval_metrics(np.full((1, 2), np.nan), ["a"], ["a", "b"])


def test_chance_is_the_exact_expectation_over_all_permutations():
    gids, qids = [1, 1, 2, 3, 3, 3], [1, 2, 3]
    acc = {}
    perms = list(itertools.permutations(range(6)))
    for perm in perms:
        sim = np.tile(-np.asarray(perm, np.float32), (3, 1))     # every query ranks as `perm`
        for k, v in retrieval_metrics(sim, qids, gids, ks=(1, 2, 5)).items():
            acc[k] = acc.get(k, 0.0) + v / len(perms)
    chance = chance_metrics(qids, gids, ks=(1, 2, 5))
    for key in ("R@1", "R@2", "R@5", "mAP", "mINP"):
        assert chance[key] == pytest.approx(acc[key], abs=1e-9), key


def test_fusion_normalises_over_the_whole_matrix():
    itc = torch.tensor([[0.1, 0.5, 0.3], [0.2, 0.9, 0.0]])
    cands = Candidates(torch.tensor([[1, 2], [1, 0]]), torch.tensor([[4.0, -2.0], [1.0, 3.0]]))
    full = itm_matrix(cands, 3)
    assert full.tolist() == [[-2.0, 4.0, -2.0], [3.0, 1.0, 1.0]]      # non-candidates: row minimum
    fused = fuse_scores(itc, full)
    expected = (full + 2.0) / 6.0 + 0.002 * (itc - 0.0) / 0.9
    assert torch.allclose(fused, expected)
    assert torch.equal(fuse_scores(itc, full.clone(), inplace=True), fused)


def test_itm_paper_puts_every_candidate_above_the_rest():
    # one query of person 1; gallery image 3 is its only match and the weaker of its two candidates
    cands = Candidates(torch.tensor([[2, 3]]), torch.tensor([[5.0, 1.0]]))
    gallery = [0, 0, 0, 1]
    today = itm_matrix(cands, 4)                        # [1, 1, 5, 1]: image 3 ties with the rest ...
    paper = itm_paper_matrix(cands, 4)                  # [-1000, -1000, 5, 1]
    assert paper.tolist() == [[-1000.0, -1000.0, 5.0, 1.0]]
    assert rank_order(today)[1].tolist() == [[2, 0, 1, 3]]       # ... and loses them on gallery index
    assert rank_order(paper)[1].tolist() == [[2, 3, 0, 1]]
    assert rank_queries(today, [1], gallery).first_rank.tolist() == [4]
    assert rank_queries(paper, [1], gallery).first_rank.tolist() == [2]


def test_per_gpu_blocks_follow_the_official_split():
    assert per_gpu_blocks(10, 4) == [(0, 3), (3, 6), (6, 9), (9, 10)]     # step 10 // 4 + 1 = 3
    assert per_gpu_blocks(8, 4) == [(0, 3), (3, 6), (6, 8)]              # the 4th process owns nothing
    assert per_gpu_blocks(5, 1) == [(0, 5)]


def test_per_gpu_fusion_by_hand():
    # 3 queries on 2 GPUs: step 3 // 2 + 1 = 2, so GPU 0 owns rows 0-1 and GPU 1 owns row 2
    itc = torch.tensor([[0.2, 0.8, 0.0], [0.5, 0.1, 0.4], [1.0, 0.3, 0.6]])   # min 0, max 1
    full = torch.tensor([[2.0, 1.9, -8.0], [0.0, 4.0, 1.0], [3.0, -2.0, 0.0]])
    out = fuse_per_gpu(itc, full, gpus=2)
    # each GPU's ITM maximum is the 1000 it kept in the other GPU's rows; ITC counts once per GPU
    expected = torch.cat([(full[:2] + 8.0) / 1008.0, (full[2:] + 2.0) / 1002.0]) + 2 * 0.002 * itc
    assert torch.allclose(out, expected, rtol=0, atol=1e-7)
    assert out[0].tolist() == pytest.approx([10 / 1008 + 0.0008, 9.9 / 1008 + 0.0032, 0.0], abs=1e-7)
    assert rank_order(out)[1][0].tolist() == [1, 0, 2]                 # the cosine decides row 0 ...
    assert rank_order(fuse_scores(itc, full))[1][0].tolist() == [0, 1, 2]     # ... the ITM, globally
    assert torch.allclose(fuse_per_gpu(itc, full, gpus=1), fuse_scores(itc, full), atol=1e-7)


def test_per_gpu_fusion_on_four_gpus_weighs_the_cosine_about_8_1():
    # 7 queries on 4 GPUs: GPU 0 owns rows 0-1 with smallest ITM -12.25; ITC spans exactly [0, 1].
    # Per GPU the order is that of ITM + 4 * 0.002 * (1000 + 12.25) * cos = ITM + 8.098 * cos, so A
    # (ITM 1.0, cos 0.5) beats B (ITM 1.8, cos 0.4) by 8.098 * 0.1 - 0.8 > 0; once globally the
    # cosine weighs 0.002 * 14.05 = 0.028 and B wins.
    itc = torch.full((7, 3), 0.3)
    itc[0] = torch.tensor([0.5, 0.4, 0.0])
    itc[1, 0] = 1.0
    full = torch.zeros(7, 3)
    full[0] = torch.tensor([1.0, 1.8, -12.25])
    assert rank_order(fuse_per_gpu(itc, full, gpus=4))[1][0].tolist() == [0, 1, 2]
    assert rank_order(fuse_scores(itc, full))[1][0].tolist() == [1, 0, 2]
    assert rank_order(fuse_per_gpu(itc, full, gpus=3))[1][0].tolist() == [1, 0, 2]   # 3 * 2.0245 < 8


def _official_per_gpu_sum(itc: np.ndarray, full: np.ndarray, gpus: int) -> np.ndarray:
    """The later official code run literally on `gpus` processes, in float64: each builds its own
    matrix (its rows scored, 1000 elsewhere), normalises it and the ITC matrix, and all are summed."""
    n_q = full.shape[0]
    step = n_q // gpus + 1
    itc_norm = (itc - itc.min()) / (itc.max() - itc.min())
    total = np.zeros_like(full)
    for rank in range(gpus):
        rows = slice(rank * step, min(n_q, rank * step + step))
        if rank * step >= n_q:
            continue                                    # owns nothing: 0 / 0 in the original
        mine = np.full_like(full, 1000.0)
        mine[rows] = full[rows]
        total += (mine - mine.min()) / (mine.max() - mine.min()) + 0.002 * itc_norm
    return total


@pytest.mark.parametrize("n_q,gpus", [(13, 4), (8, 4), (9, 2), (6, 1), (3, 8)])
def test_per_gpu_fusion_matches_a_literal_simulation(n_q, gpus):
    rng = np.random.default_rng(n_q * 10 + gpus)
    itc = rng.uniform(-0.2, 0.9, (n_q, 11))
    full = rng.normal(0.0, 4.0, (n_q, 11))
    ref = _official_per_gpu_sum(itc, full, gpus)
    ours = fuse_per_gpu(torch.tensor(itc, dtype=torch.float32), torch.tensor(full, dtype=torch.float32), gpus)
    n_blocks = len(per_gpu_blocks(n_q, gpus))
    assert np.allclose(ours.numpy(), ref - (n_blocks - 1), rtol=0, atol=2e-6)     # up to the row constant


def test_attribute_predictions_and_metrics():
    # prompt 2i vs 2i+1: label 1 iff the second prompt wins (PA-100K: present; MALS: second prompt)
    logits = np.array([[0.0, 1.0, 2.0, 1.0], [3.0, 3.0, -1.0, 0.5]])
    assert predict_labels(logits).tolist() == [[1, 0], [0, 1]]
    pred = np.array([[1, 0, 1], [1, 1, 0], [0, 0, 0], [0, 1, 1]])
    gt = np.array([[1, 0, -1], [0, 1, 0], [0, 1, 1], [-1, 1, 1]])
    m = attribute_metrics(pred, gt, ["a", "b", "c"])
    a, b, c = m["per_attribute"]
    assert (a["tpr"], a["tnr"], a["ma"]) == (100.0, 50.0, 75.0)
    assert b["tnr"] == 100.0 and b["tpr"] == pytest.approx(200 / 3)
    assert c["known"] == 3 and c["ma"] == 75.0
    assert m["mA"] == pytest.approx((75.0 + (200 / 3 + 100) / 2 + 75.0) / 3)
    # instance: image 0 {a}/{a} 1; image 1 {a,b}/{b} 1/2; image 2 {}/{b,c} 0; image 3 {b,c}/{b,c} 1
    assert m["accuracy"] == pytest.approx(100 * (1 + 0.5 + 0 + 1) / 4)
    assert m["precision"] == pytest.approx(100 * (1 + 0.5 + 0 + 1) / 4)
    assert m["recall"] == pytest.approx(100 * (1 + 1 + 0 + 1) / 4)
