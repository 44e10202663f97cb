"""ITM re-ranking: score each query's top-k ITC candidates with the fusion encoder, batched across queries.

The original scored one query at a time (k pairs per fusion call, one Python iteration per
query). Here a chunk of queries is handled together: their ITC top-k are taken from one (c, G)
similarity block, their texts are encoded once, and all c * k (text, image) pairs go through
the fusion encoder in batches of `pair_batch`, which keeps an accelerator busy. Candidates
are the first k of a stable descending sort, so ties go to the lower gallery index and the
candidate set is deterministic. `itm_per_query` is the original's loop, kept as the baseline
for scripts/bench_eval.py.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .dist import gather_rows
from .encode import Encoder
from .metrics import rank_order


@dataclass
class Candidates:
    index: torch.Tensor      # (Q, k) long: gallery indices of each query's ITC top-k, best first
    itm: torch.Tensor        # (Q, k) fp32: ITM "match" logit of each candidate


def itc_block(text_feats: torch.Tensor, image_feats: torch.Tensor, start: int, stop: int) -> torch.Tensor:
    """(stop - start, G) fp32 cosine similarities; always computed with the same row blocks, so a
    1-process and an N-process run see bitwise the same values."""
    return (text_feats[start:stop].float() @ image_feats.float().T)        # (c, G)


@torch.no_grad()
def itm_scores(enc: Encoder, texts: list[str], candidates: torch.Tensor, image_tokens: torch.Tensor,
               pair_batch: int = 512) -> torch.Tensor:
    """ITM match logits of every (text i, image candidates[i, j]) pair: (c, k) fp32."""
    c, k = candidates.shape
    ids, mask = enc.tokenize(texts)                                         # (c, L), (c, L)
    with enc.autocast():
        text_tokens, _ = enc.model.encode_text(ids, mask)                   # (c, L, Dt)
    q_of_pair = torch.arange(c, device=enc.device).repeat_interleave(k)    # (c*k,)
    img_of_pair = candidates.reshape(-1).to(enc.device)                     # (c*k,)
    out = torch.empty(c * k, dtype=torch.float32, device=enc.device)
    for s in range(0, c * k, pair_batch):
        q, im = q_of_pair[s:s + pair_batch], img_of_pair[s:s + pair_batch]
        with enc.autocast():
            logits = enc.model.itm_logits(text_tokens[q], mask[q], image_tokens[im].to(text_tokens.dtype))
        out[s:s + len(q)] = logits[:, 1].float()                           # (p,) "match" logit
    return out.view(c, k)


def rerank(enc: Encoder, texts: list[str], text_feats: torch.Tensor, image_feats: torch.Tensor,
           image_tokens: torch.Tensor, *, k: int = 128, query_chunk: int = 32, pair_batch: int = 512
           ) -> Candidates:
    """ITC top-k + ITM scores for every query; chunks are dealt across processes and gathered."""
    n_q, n_g = len(texts), image_feats.shape[0]
    k = min(k, n_g)
    idx_rows, itm_rows, owned = [], [], []
    with enc.bar(n_q, "itm re-rank") as bar:
        for b, start in enumerate(range(0, n_q, query_chunk)):
            stop = min(n_q, start + query_chunk)
            if enc.dist.owns(b):
                _, order = rank_order(itc_block(text_feats, image_feats, start, stop))   # (c, G)
                cand = order[:, :k]                                         # (c, k)
                idx_rows.append(cand)
                itm_rows.append(itm_scores(enc, texts[start:stop], cand, image_tokens, pair_batch))
                owned.append(torch.arange(start, stop))
            bar.update(stop - start)
    if not owned:
        idx_rows = [torch.zeros(0, k, dtype=torch.long, device=enc.device)]
        itm_rows = [torch.zeros(0, k, device=enc.device)]
        owned = [torch.zeros(0, dtype=torch.long)]
    where = torch.cat(owned).to(enc.device)
    index = gather_rows(torch.cat(idx_rows), where, n_q, enc.dist)         # (Q, k)
    itm = gather_rows(torch.cat(itm_rows), where, n_q, enc.dist)           # (Q, k)
    return Candidates(index.cpu(), itm.float().cpu())


@torch.no_grad()
def itm_per_query(enc: Encoder, texts: list[str], text_feats: torch.Tensor, image_feats: torch.Tensor,
                  image_tokens: torch.Tensor, *, k: int = 128) -> Candidates:
    """The original's way (baseline): per query, top-k by ITC, then one fusion call on its k pairs."""
    k = min(k, image_feats.shape[0])
    index, itm = [], []
    for i, text in enumerate(texts):
        sims = text_feats[i].float() @ image_feats.float().T                # (G,)
        cand = torch.sort(-sims, stable=True).indices[:k]                   # (k,)
        ids, mask = enc.tokenize([text])                                    # (1, L)
        with enc.autocast():
            tokens, _ = enc.model.encode_text(ids, mask)                    # (1, L, Dt)
            logits = enc.model.itm_logits(tokens.expand(k, -1, -1), mask.expand(k, -1),
                                          image_tokens[cand].to(tokens.dtype))   # (k, 2)
        index.append(cand)
        itm.append(logits[:, 1].float())
    return Candidates(torch.stack(index).cpu(), torch.stack(itm).cpu())
