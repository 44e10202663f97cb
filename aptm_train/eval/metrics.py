"""Text-to-image retrieval metrics as pure functions: R@K, mAP, mINP (docs/method.md, "Retrieval evaluation").

A query ranks the whole gallery by descending score; ties are broken by gallery index (a stable
sort on the fp32 scores), so the result never depends on the sorting kernel. A gallery image is
relevant iff its id equals the query's id.

* AP = (1/n) * sum over relevant ranks r of (relevant within the top r) / r  (n = relevant count)
* INP = n / (rank of the last relevant image)
* R@K = % of queries with a relevant image in the top K

Queries are processed in chunks sized from a byte budget, so a 20,000 x 20,000 problem needs a
few hundred MB beyond the score matrix itself. Only the relevant positions are kept per chunk
(sparse), so nothing quadratic is built besides the chunk's sort. A query with no relevant gallery
image is an input error, not a zero (docs/method.md, "Metrics").
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from mals_gen.errors import UserError

#: Bytes per score-matrix element a chunk needs: the fp32 copy, sorted values, int64 order,
#: gathered int64 ids and the bool hit mask.
_BYTES_PER_ELEMENT = 4 + 4 + 8 + 8 + 1
DEFAULT_CHUNK_BYTES = 256 * 2**20


@dataclass(frozen=True)
class QueryRanks:
    """Per-query results of ranking the gallery (all arrays have one row per query)."""
    ap: np.ndarray            # (Q,) float64 in [0, 1]
    inp: np.ndarray           # (Q,) float64 in [0, 1]
    first_rank: np.ndarray    # (Q,) int64, 1-based rank of the first relevant image
    n_relevant: np.ndarray    # (Q,) int64
    top: np.ndarray           # (Q, T) int64 gallery indices of the top T (T = 0 unless asked)
    top_scores: np.ndarray    # (Q, T) float32


def encode_ids(query_ids: Sequence, gallery_ids: Sequence) -> tuple[torch.Tensor, torch.Tensor]:
    """Map arbitrary ids (str, int) to int64 codes shared by queries and gallery."""
    q = np.asarray(query_ids.cpu() if isinstance(query_ids, torch.Tensor) else list(query_ids))
    g = np.asarray(gallery_ids.cpu() if isinstance(gallery_ids, torch.Tensor) else list(gallery_ids))
    if q.ndim != 1 or g.ndim != 1:
        raise ValueError("query_ids and gallery_ids must be 1-d")
    try:
        _, codes = np.unique(np.concatenate([q, g]), return_inverse=True)
    except TypeError:       # mixed kinds (e.g. int and str): compare as text
        _, codes = np.unique(np.concatenate([q.astype(str), g.astype(str)]), return_inverse=True)
    codes = torch.from_numpy(codes.astype(np.int64).reshape(-1))
    return codes[:len(q)], codes[len(q):]


def chunk_rows(n_gallery: int, chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> int:
    """Queries per chunk so that one chunk's working set stays within `chunk_bytes`."""
    return max(1, chunk_bytes // max(1, n_gallery * _BYTES_PER_ELEMENT))


def rank_order(scores: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(c, G) scores -> (sorted scores, gallery order) descending, ties by gallery index."""
    neg, order = torch.sort(-scores.float(), dim=1, stable=True)           # (c, G), (c, G)
    return -neg, order


def rank_queries(similarity, query_ids: Sequence, gallery_ids: Sequence, *, top: int = 0,
                 chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> QueryRanks:
    """Rank the gallery for every query; per-query AP, INP, first relevant rank and the top `top`.

    similarity: (Q, G) scores (higher = better; numpy or torch, any float dtype, cast to fp32).
    query_ids: (Q,) ids; gallery_ids: (G,) ids.
    """
    sim = torch.as_tensor(similarity)
    if sim.ndim != 2:
        raise ValueError(f"similarity must be (queries, gallery), got shape {tuple(sim.shape)}")
    n_q, n_g = sim.shape
    if len(query_ids) != n_q or len(gallery_ids) != n_g:
        raise ValueError(f"similarity is {n_q} x {n_g} but there are {len(query_ids)} query ids and "
                         f"{len(gallery_ids)} gallery ids")
    q_codes, g_codes = encode_ids(query_ids, gallery_ids)
    top = min(top, n_g)
    step = chunk_rows(n_g, chunk_bytes)
    parts = [_rank_chunk(sim[s:s + step], q_codes[s:s + step], g_codes, top, s) for s in range(0, n_q, step)]
    return QueryRanks(*(np.concatenate([p[i] for p in parts]) if parts else np.zeros(0) for i in range(6)))


def _rank_chunk(scores: torch.Tensor, q_codes: torch.Tensor, g_codes: torch.Tensor, top: int, offset: int):
    scores = scores.float()                                                 # (c, G) fp32
    if torch.isnan(scores).any():
        row = int(torch.isnan(scores).any(1).nonzero()[0]) + offset
        raise UserError(f"similarity row {row} contains NaN; the scores are broken (check the model output)")
    sorted_scores, order = rank_order(scores)                              # (c, G), (c, G)
    hits = g_codes[order] == q_codes[:, None]                               # (c, G) bool
    n_rel = hits.sum(1)                                                     # (c,)
    if (n_rel == 0).any():
        row = int((n_rel == 0).nonzero()[0]) + offset
        raise UserError(f"query {row} has no relevant gallery image (no gallery image shares its id); "
                        "every query's person must appear in the gallery: check the split's person ids")
    rows, cols = hits.nonzero(as_tuple=True)                                # (H,), (H,) row-major order
    ranks = cols.double() + 1.0                                             # (H,) 1-based ranks
    starts = torch.cumsum(n_rel, 0) - n_rel                                 # (c,) first hit per row
    k = torch.arange(len(rows), dtype=torch.float64) - starts[rows].double() + 1.0   # (H,) k-th hit
    ap = torch.zeros(len(n_rel), dtype=torch.float64).index_add_(0, rows, k / ranks) / n_rel.double()
    last = ranks[starts + n_rel - 1]                                        # (c,)
    first = ranks[starts].long()                                            # (c,)
    inp = n_rel.double() / last
    # clone: a slice's .numpy() would keep the whole (c, G) sort result alive until the end
    return (ap.numpy(), inp.numpy(), first.numpy(), n_rel.numpy(),
            order[:, :top].clone().numpy(), sorted_scores[:, :top].clone().numpy())


def summarize(ranks: QueryRanks, ks: Sequence[int] = (1, 5, 10)) -> dict[str, float]:
    """Per-query results -> {"R@1", "R@5", "R@10", "mAP", "mINP", "queries"} in %."""
    if len(ranks.ap) == 0:
        raise UserError("no queries to evaluate; the split holds no captions")
    out = {f"R@{k}": 100.0 * float(np.mean(ranks.first_rank <= k)) for k in ks}
    out["mAP"] = 100.0 * float(np.mean(ranks.ap))
    out["mINP"] = 100.0 * float(np.mean(ranks.inp))
    out["queries"] = len(ranks.ap)
    return out


def retrieval_metrics(similarity, query_ids: Sequence, gallery_ids: Sequence, *, ks: Sequence[int] = (1, 5, 10),
                      chunk_bytes: int = DEFAULT_CHUNK_BYTES) -> dict[str, float]:
    """R@K, mAP, mINP (%) of a (Q, G) score matrix; see the module docstring."""
    return summarize(rank_queries(similarity, query_ids, gallery_ids, chunk_bytes=chunk_bytes), ks)


def chance_metrics(query_ids: Sequence, gallery_ids: Sequence, *, ks: Sequence[int] = (1, 5, 10)
                   ) -> dict[str, float]:
    """The expected metrics of a uniformly random ranking, exactly (no sampling).

    With n relevant among G: P(miss in top k) = prod_{j<k} (G-n-j)/(G-j);
    E[AP] = (H_G + (n-1)/(G-1) * (G - H_G)) / G (each rank is relevant with probability n/G, and
    given that, each earlier rank with probability (n-1)/(G-1));
    E[INP] = n * sum_l P(last = l) / l with P(last = l) = C(l-1, n-1) / C(G, n).
    """
    q_codes, g_codes = encode_ids(query_ids, gallery_ids)
    n_g = len(g_codes)
    counts = torch.bincount(g_codes, minlength=int(max(q_codes.max(), g_codes.max())) + 1).numpy()
    n_rel = counts[q_codes.numpy()]                                         # (Q,)
    if (n_rel == 0).any():
        raise UserError(f"query {int(np.argmax(n_rel == 0))} has no relevant gallery image; check the split's person ids")
    per_n = {int(n): _chance_one(int(n), n_g, ks) for n in np.unique(n_rel)}
    out = {key: float(np.mean([per_n[int(n)][key] for n in n_rel])) for key in per_n[int(n_rel[0])]}
    out["queries"] = len(n_rel)
    return out


def _chance_one(n: int, g: int, ks: Sequence[int]) -> dict[str, float]:
    from scipy.special import gammaln

    out = {}
    for k in ks:
        j = np.arange(min(k, g))
        out[f"R@{k}"] = 100.0 * (1.0 - float(np.prod(np.clip((g - n - j) / (g - j), 0.0, None))))
    h_g = float(np.sum(1.0 / np.arange(1, g + 1)))
    out["mAP"] = 100.0 * (h_g + ((n - 1) / (g - 1) if g > 1 else 0.0) * (g - h_g)) / g
    last = np.arange(n, g + 1, dtype=np.float64)                            # possible last ranks
    log_p = (gammaln(last) - gammaln(n) - gammaln(last - n + 1)) - (gammaln(g + 1) - gammaln(n + 1) - gammaln(g - n + 1))
    out["mINP"] = 100.0 * n * float(np.sum(np.exp(log_p) / last))
    return out
