"""Text -> gallery search: ITC over the whole index, then ITM re-ranking of the best candidates.

The query's ITC feature is compared with every indexed image (a stable descending sort, ties by
gallery order); the top `rerank` candidates are re-encoded (their image tokens are not stored in
the index) and scored with the fusion encoder's ITM "match" logit. The candidates are ordered by
the evaluation's fusion, ITM_norm + itc_weight * ITC_norm (`eval.retrieval.fuse_scores` on the
query's row: ITM normalised over the candidates, ITC over the gallery; ties keep the ITC order),
then the rest of the gallery by ITC. The default weight, the official 0.002, is ITM's order.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..eval.encode import Encoder
from ..eval.retrieval import ITC_WEIGHT, fuse_scores
from .index import Gallery, GalleryIndex, load_images, pil_image


@dataclass(frozen=True)
class Hit:
    rank: int
    index: int            # gallery item number
    item: str             # relative path or TAR/KEY
    itc: float            # cosine similarity
    itm: float | None     # ITM match logit (None when not re-ranked)


@torch.no_grad()
def search(enc: Encoder, index: GalleryIndex, gallery: Gallery, query: str, *, top: int = 10,
           rerank: int = 32, itc_weight: float = ITC_WEIGHT) -> list[Hit]:
    """The `top` best gallery items for `query`."""
    text = enc.text_feats([query])                                          # (1, E)
    feats = torch.from_numpy(index.feats).to(enc.device)                    # (N, E)
    sims = (text.float() @ feats.float().T)[0]                              # (N,)
    order = torch.sort(-sims, stable=True).indices.cpu()                    # (N,) best first
    n_cand = min(max(rerank, 0), len(order))
    # index rows hold only the readable items: row -> the item's number in the gallery
    where = {item: p for p, item in enumerate(gallery.items)}
    pos = [where[item] for item in index.items]
    itm = {}
    if n_cand:
        cand = order[:n_cand].tolist()
        jpgs = load_images(gallery, [pos[i] for i in cand])
        itm = dict(zip(cand, itm_scores(enc, query, [pil_image(jpgs[pos[i]]) for i in cand]).tolist()))
        fused = _fused_row(sims.cpu(), cand, itm, itc_weight).tolist()
        cand_sorted = sorted(cand, key=lambda i: -fused[i])                 # stable: ties keep ITC order
        order = torch.cat([torch.tensor(cand_sorted, dtype=torch.long), order[n_cand:]])
    sims = sims.cpu().numpy()
    return [Hit(r + 1, pos[int(i)], index.items[int(i)], float(sims[int(i)]), itm.get(int(i)))
            for r, i in enumerate(order[:top].tolist())]


def _fused_row(sims: torch.Tensor, cand: list[int], itm: dict[int, float], weight: float) -> torch.Tensor:
    """(N,) the evaluation's fused score of one query: ITM at the candidates, their minimum elsewhere."""
    itm_row = torch.full_like(sims, min(itm.values()))
    itm_row[torch.tensor(cand)] = torch.tensor([itm[i] for i in cand])
    return fuse_scores(sims[None].float(), itm_row[None].float(), weight)[0]


@torch.no_grad()
def itm_scores(enc: Encoder, query: str, images: list, batch: int = 32) -> np.ndarray:
    """(len(images),) ITM match logits of (query, image) pairs."""
    ids, mask = enc.tokenize([query])                                       # (1, L)
    with enc.autocast():
        tokens, _ = enc.model.encode_text(ids, mask)                        # (1, L, Dt)
    out = []
    for s in range(0, len(images), batch):
        img_tokens, _ = enc.images(images[s:s + batch])                     # (b, T, Dv)
        b = img_tokens.shape[0]
        with enc.autocast():
            logits = enc.model.itm_logits(tokens.expand(b, -1, -1), mask.expand(b, -1),
                                          img_tokens.to(tokens.dtype))      # (b, 2)
        out.append(logits[:, 1].float().cpu())
    return torch.cat(out).numpy()


def format_hits(hits: list[Hit], gallery: Gallery) -> str:
    lines = [f"{'rank':>4}  {'itm':>8}  {'itc':>7}  item"]
    for h in hits:
        itm = f"{h.itm:8.3f}" if h.itm is not None else f"{'-':>8}"
        path = gallery.root / h.item if gallery.kind == "folder" else f"{gallery.root}/{h.item}"
        lines.append(f"{h.rank:>4}  {itm}  {h.itc:7.4f}  {path}")
    return "\n".join(lines)
