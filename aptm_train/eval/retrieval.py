"""Text-to-image retrieval evaluation: ITC, ITM re-ranking, score fusion once over the full matrix.

spec/method.md, "Retrieval evaluation": every query's top-k ITC candidates are scored by ITM;
non-candidates get the row's minimum ITM score; the ITM and ITC matrices are each min-max
normalised over the WHOLE matrix and fused as ITM_norm + 0.002 * ITC_norm. The original
normalised per GPU before summing, so its numbers moved with the GPU count; here every process
gathers the features and candidate scores first and the main process fuses once, so 1 and N
processes give the same metrics. Orderings: "itc", "itm", "fused".
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .encode import EncodedImages, Encoder, SplitData, encode_texts
from .metrics import QueryRanks, chance_metrics, rank_queries, summarize
from .rerank import Candidates, itc_block, rerank

MODES = ("itc", "itm", "fused")
ITC_WEIGHT = 0.002


@dataclass(frozen=True)
class RetrievalSettings:
    k: int = 128                 # ITC candidates re-ranked by ITM per query
    query_chunk: int = 32        # queries per re-ranking step (and per ITC row block)
    pair_batch: int = 512        # (text, image) pairs per fusion-encoder call
    modes: tuple[str, ...] = ("fused",)
    top: int = 10                # ranked gallery indices kept per query (rankings file, HTML page)


@dataclass
class RetrievalResult:
    metrics: dict[str, dict[str, float]]          # mode -> {"R@1", ..., "mAP", "mINP", "queries"}
    chance: dict[str, float]
    ranks: dict[str, QueryRanks] = field(default_factory=dict)   # mode -> per-query results
    gallery: int = 0


def itc_matrix(text_feats: torch.Tensor, image_feats: torch.Tensor, query_chunk: int) -> torch.Tensor:
    """(Q, G) fp32 on CPU, built from the same row blocks the re-ranking used."""
    n_q = text_feats.shape[0]
    return torch.cat([itc_block(text_feats, image_feats, s, min(n_q, s + query_chunk)).cpu()
                      for s in range(0, n_q, query_chunk)])


def itm_matrix(cands: Candidates, n_gallery: int) -> torch.Tensor:
    """(Q, G): ITM scores at the candidates, the row's minimum ITM score everywhere else."""
    full = cands.itm.min(dim=1, keepdim=True).values.expand(-1, n_gallery).clone()   # (Q, G)
    full.scatter_(1, cands.index, cands.itm)
    return full


def _min_max(m: torch.Tensor) -> tuple[float, float]:
    lo, hi = float(m.min()), float(m.max())
    return lo, (hi - lo) if hi > lo else 1.0


def fuse_scores(itc: torch.Tensor, itm_full: torch.Tensor, weight: float = ITC_WEIGHT, *,
                inplace: bool = False, chunk: int = 1024) -> torch.Tensor:
    """ITM_norm + weight * ITC_norm, each min-max normalised over the whole (Q, G) matrix.

    With `inplace` the result overwrites `itm_full` (saves one Q x G matrix for big galleries).
    """
    itc_lo, itc_range = _min_max(itc)
    itm_lo, itm_range = _min_max(itm_full)
    out = itm_full if inplace else itm_full.clone()
    for s in range(0, out.shape[0], chunk):           # chunked: no Q x G temporaries
        block = out[s:s + chunk]
        block.sub_(itm_lo).div_(itm_range)
        block.add_((itc[s:s + chunk] - itc_lo) / itc_range, alpha=weight)
    return out


def evaluate_retrieval(enc: Encoder, data: SplitData, images: EncodedImages,
                       settings: RetrievalSettings) -> RetrievalResult | None:
    """Metrics of every requested ordering; the main process returns them, the others None."""
    bad = [m for m in settings.modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown retrieval mode(s) {bad}; choose from {MODES}")
    text_feats = encode_texts(enc, data.captions, desc="queries")          # (Q, E)
    cands = None
    if {"itm", "fused"} & set(settings.modes):
        cands = rerank(enc, data.captions, text_feats, images.feats, images.tokens, k=settings.k,
                       query_chunk=settings.query_chunk, pair_batch=settings.pair_batch)
    if not enc.dist.is_main:
        return None
    query_ids, gallery_ids = data.query_ids, data.person_ids
    result = RetrievalResult({}, chance_metrics(query_ids, gallery_ids), gallery=len(gallery_ids))

    def score(mode: str, matrix: torch.Tensor) -> None:
        ranks = rank_queries(matrix, query_ids, gallery_ids, top=settings.top)
        result.metrics[mode], result.ranks[mode] = summarize(ranks), ranks

    itc = itc_matrix(text_feats, images.feats, settings.query_chunk)       # (Q, G)
    if "itc" in settings.modes:
        score("itc", itc)
    if cands is not None:
        full = itm_matrix(cands, itc.shape[1])                              # (Q, G)
        if "itm" in settings.modes:
            score("itm", full)
        if "fused" in settings.modes:
            score("fused", fuse_scores(itc, full, inplace=True))
    return result
