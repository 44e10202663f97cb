"""Text-to-image retrieval evaluation: ITC, ITM re-ranking, score fusion once over the full matrix.

docs/method.md, "Retrieval evaluation": every query's top-k ITC candidates are scored by ITM;
non-candidates get the row's minimum ITM score; the ITM and ITC matrices are each min-max
normalised over the WHOLE matrix and fused as ITM_norm + w * ITC_norm (w = `itc_weight`, the
official 0.002 by default). Every process gathers
the features and candidate scores first and the main process scores once, so 1 and N processes
give the same metrics. Orderings (`MODES`):

- `itc`: cosine similarity only; `itm`: ITM at the candidates, the row's minimum elsewhere;
  `fused`: the fusion above, normalised once (the default).
- `itm-paper`: the paper-era official code (July 2023): candidates by ITM, the rest of the gallery
  at -1000, so every candidate ranks above every non-candidate (with `itm` the weakest candidate
  ties with the rest, and ties go to the lower gallery index).
- `fused-per-gpu`: the later official fusion as it ran on `emulated_gpus` processes, normalised
  per process and summed (`fuse_per_gpu`): on 4 GPUs it ranks by about ITM + 8.1 x cosine, where
  `fused` ranks by about ITM + 0.06 x cosine. For comparing with published numbers (4-GPU runs).
A larger `itc_weight` gives ITC a larger share in `fused` on any number of processes (about 0.27
gives the 4-GPU ratio above); it pays where the ITM head is young (the CPU demo uses 1).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from . import ITC_WEIGHT
from .encode import EncodedImages, Encoder, SplitData, encode_texts
from .metrics import QueryRanks, chance_metrics, rank_queries, summarize
from .rerank import Candidates, itc_block, rerank

MODES = ("itc", "itm", "fused", "itm-paper", "fused-per-gpu")
RERANKED = frozenset(MODES) - {"itc"}      # orderings that need the ITM re-ranking
PAPER_REST = -1000.0    # the paper-era code's score for every gallery image outside the candidates
PER_GPU_FILL = 1000.0   # the later code's placeholder in the rows another process owned


@dataclass(frozen=True)
class RetrievalSettings:
    k: int = 128                 # ITC candidates re-ranked by ITM per query
    query_chunk: int = 32        # queries per re-ranking step (and per ITC row block)
    pair_batch: int = 512        # (text, image) pairs per fusion-encoder call
    modes: tuple[str, ...] = ("fused",)
    emulated_gpus: int = 4       # processes that `fused-per-gpu` emulates
    top: int = 10                # ranked gallery indices kept per query (rankings file, HTML page)
    itc_weight: float = ITC_WEIGHT   # w in `fused` = ITM_norm + w * ITC_norm


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


def itm_paper_matrix(cands: Candidates, n_gallery: int) -> torch.Tensor:
    """(Q, G): ITM scores at the candidates, -1000 everywhere else (the paper-era official code)."""
    full = torch.full((cands.index.shape[0], n_gallery), PAPER_REST)
    full.scatter_(1, cands.index, cands.itm)
    return full


def per_gpu_blocks(n_queries: int, gpus: int) -> list[tuple[int, int]]:
    """The official split of query rows over processes: `Q // gpus + 1` consecutive rows each.

    Only the blocks that hold rows are returned; with few queries the last processes own none.
    """
    step = n_queries // gpus + 1
    return [(r * step, min(n_queries, (r + 1) * step)) for r in range(gpus) if r * step < n_queries]


def fuse_per_gpu(itc: torch.Tensor, itm_full: torch.Tensor, gpus: int = 4, weight: float = ITC_WEIGHT, *,
                 chunk: int = 1024) -> torch.Tensor:
    """The later official fusion as `gpus` processes computed it, up to a constant per row.

    Process r scored the query rows of its block (`per_gpu_blocks`) and held 1000 in all other
    rows, then min-max normalised that whole (Q, G) ITM matrix, whose maximum was therefore 1000;
    every process normalised the same full ITC matrix and added `weight` * ITC_norm; the matrices
    were summed over processes. A row of block r thus scores
    (ITM - lo_r) / (1000 - lo_r) + n * weight * ITC_norm + (n - 1), lo_r = the block's smallest ITM
    score, n = processes that owned rows. The constant n - 1 changes no row's order and is left
    out. A process that owned no row made the original's sums NaN (0 / 0); here it adds nothing.
    With one process this is `fuse_scores`.
    """
    n_q = itm_full.shape[0]
    itc_lo, itc_range = _min_max(itc)
    blocks = per_gpu_blocks(n_q, gpus)
    itc_scale = len(blocks) * weight / itc_range
    out = torch.empty_like(itm_full, dtype=torch.float32)
    for start, stop in blocks:
        own = itm_full[start:stop]
        lo, hi = float(own.min()), float(own.max())
        if stop - start < n_q:
            hi = max(hi, PER_GPU_FILL)              # the other processes' rows held 1000
        span = hi - lo if hi > lo else 1.0
        for s in range(start, stop, chunk):          # chunked: no Q x G temporaries
            e = min(stop, s + chunk)
            torch.sub(itm_full[s:e], lo, out=out[s:e]).div_(span)
            out[s:e].add_(itc[s:e] - itc_lo, alpha=itc_scale)
    return out


def _orderings(modes: tuple[str, ...], itc: torch.Tensor, cands: Candidates | None, gpus: int,
               itc_weight: float = ITC_WEIGHT):
    """(mode, (Q, G) scores) for each requested ordering; `fused` last, as it overwrites the ITM matrix."""
    if "itc" in modes:
        yield "itc", itc
    if cands is None:
        return
    if "itm-paper" in modes:
        yield "itm-paper", itm_paper_matrix(cands, itc.shape[1])
    full = itm_matrix(cands, itc.shape[1])                                  # (Q, G)
    if "itm" in modes:
        yield "itm", full
    if "fused-per-gpu" in modes:
        yield "fused-per-gpu", fuse_per_gpu(itc, full, gpus)
    if "fused" in modes:
        yield "fused", fuse_scores(itc, full, itc_weight, inplace=True)


def evaluate_retrieval(enc: Encoder, data: SplitData, images: EncodedImages,
                       settings: RetrievalSettings) -> RetrievalResult | None:
    """Metrics of every requested ordering, in `MODES` order, on the main process (None on the others)."""
    bad = [m for m in settings.modes if m not in MODES]
    if bad:
        raise ValueError(f"unknown retrieval mode(s) {bad}; choose from {MODES}")
    if settings.itc_weight < 0:
        raise ValueError(f"itc_weight must be 0 or more, got {settings.itc_weight}")
    if settings.emulated_gpus < 1:
        raise ValueError(f"emulated_gpus must be at least 1, got {settings.emulated_gpus}")
    text_feats = encode_texts(enc, data.captions, desc="queries")          # (Q, E)
    cands = None
    if RERANKED & set(settings.modes):
        cands = rerank(enc, data.captions, text_feats, images.feats, images.tokens, k=settings.k,
                       query_chunk=settings.query_chunk, pair_batch=settings.pair_batch)
    if not enc.dist.is_main:
        return None
    query_ids, gallery_ids = data.query_ids, data.person_ids
    result = RetrievalResult({}, chance_metrics(query_ids, gallery_ids), gallery=len(gallery_ids))
    itc = itc_matrix(text_feats, images.feats, settings.query_chunk)       # (Q, G)
    scored = {}
    for mode, matrix in _orderings(tuple(settings.modes), itc, cands, settings.emulated_gpus,
                                   settings.itc_weight):
        ranks = rank_queries(matrix, query_ids, gallery_ids, top=settings.top)
        scored[mode] = summarize(ranks), ranks
        del matrix                                    # free each Q x G matrix before the next
    for mode in (m for m in MODES if m in scored):   # a stable order for tables and files
        result.metrics[mode], result.ranks[mode] = scored[mode]
    return result
