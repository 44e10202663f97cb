"""Attribute recognition by prompt matching: PA-100K (26 attributes) and the 27 MALS attributes.

For every image and every prompt the ITM "match" logit is computed (the prompts are encoded once;
(image, prompt) pairs go through the fusion encoder in batches). Attribute i uses prompts 2i and
2i+1 and the predicted label is the index of the higher logit (a tie gives 0): for PA-100K label
1 = the second, positive prompt = "present"; for MALS the label follows docs/attributes.md
(0 = first prompt, 1 = second), whatever the polarity. Slots labelled -1 are skipped.

Metrics (docs/method.md, PA-100K), with label 1 as "positive":
* mA = mean over attributes of (TP/P + TN/N) / 2 (an attribute without positives or without
  negatives in the ground truth averages the rate it has);
* instance Accuracy = mean |pred AND gt| / |pred OR gt|; Precision = mean |pred AND gt| / |pred|;
  Recall = mean |pred AND gt| / |gt|, each over images, with the usual 1e-20 in the denominators
  (an empty set scores 0, as the standard PA-100K evaluation code does);
  F1 = 2 P R / (P + R) from those averages.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .dist import gather_rows
from .encode import EncodedImages, Encoder, SplitData

EPS = 1e-20


@torch.no_grad()
def prompt_logits(enc: Encoder, image_tokens: torch.Tensor, prompts: Sequence[str], *,
                  image_batch: int = 16, pair_batch: int = 512) -> torch.Tensor:
    """(N, P) fp32 ITM match logits of every (image, prompt) pair; image batches dealt across processes."""
    n, p = image_tokens.shape[0], len(prompts)
    ids, mask = enc.tokenize(list(prompts))                                 # (P, L), (P, L)
    with enc.autocast():
        text_tokens, _ = enc.model.encode_text(ids, mask)                   # (P, L, Dt)
    rows, where = [], []
    with enc.bar(n, "attribute prompts") as bar:
        for b, start in enumerate(range(0, n, image_batch)):
            stop = min(n, start + image_batch)
            if enc.dist.owns(b):
                img = torch.arange(start, stop, device=enc.device).repeat_interleave(p)   # (c*P,)
                txt = torch.arange(p, device=enc.device).repeat(stop - start)              # (c*P,)
                out = torch.empty(len(img), device=enc.device)
                for s in range(0, len(img), pair_batch):
                    i, t = img[s:s + pair_batch], txt[s:s + pair_batch]
                    with enc.autocast():
                        logits = enc.model.itm_logits(text_tokens[t], mask[t],
                                                      image_tokens[i].to(text_tokens.dtype))   # (q, 2)
                    out[s:s + len(i)] = logits[:, 1].float()
                rows.append(out.view(stop - start, p))
                where.append(torch.arange(start, stop))
            bar.update(stop - start)
    if not rows:
        rows, where = [torch.zeros(0, p, device=enc.device)], [torch.zeros(0, dtype=torch.long)]
    return gather_rows(torch.cat(rows), torch.cat(where).to(enc.device), n, enc.dist).float().cpu()


def predict_labels(logits: np.ndarray | torch.Tensor) -> np.ndarray:
    """(N, 2A) prompt logits -> (N, A) int8 labels: 1 iff prompt 2i+1 beats prompt 2i."""
    logits = np.asarray(logits, dtype=np.float32)
    return (logits[:, 1::2] > logits[:, 0::2]).astype(np.int8)


def attribute_metrics(pred: np.ndarray, gt: np.ndarray, names: Sequence[str]) -> dict:
    """mA, instance Accuracy / Precision / Recall / F1 (%) and a per-attribute table.

    pred: (N, A) in {0, 1}; gt: (N, A) in {0, 1, -1}; -1 slots are ignored everywhere.
    """
    pred, gt = np.asarray(pred, dtype=np.int64), np.asarray(gt, dtype=np.int64)
    if pred.shape != gt.shape or pred.shape[1] != len(names):
        raise ValueError(f"pred {pred.shape}, gt {gt.shape} and {len(names)} names disagree")
    known = gt >= 0
    pos, neg = known & (gt == 1), known & (gt == 0)
    tp, tn = (pos & (pred == 1)).sum(0), (neg & (pred == 0)).sum(0)       # (A,)
    n_pos, n_neg = pos.sum(0), neg.sum(0)
    table = []
    for a, name in enumerate(names):
        rates = [r for r in (tp[a] / n_pos[a] if n_pos[a] else None, tn[a] / n_neg[a] if n_neg[a] else None)
                 if r is not None]
        table.append({"attribute": name, "known": int(known[:, a].sum()), "positives": int(n_pos[a]),
                      "negatives": int(n_neg[a]),
                      "tpr": 100.0 * tp[a] / n_pos[a] if n_pos[a] else float("nan"),
                      "tnr": 100.0 * tn[a] / n_neg[a] if n_neg[a] else float("nan"),
                      "ma": 100.0 * float(np.mean(rates)) if rates else float("nan"),
                      "accuracy": 100.0 * (tp[a] + tn[a]) / known[:, a].sum() if known[:, a].any() else float("nan")})
    scored = [row["ma"] for row in table if not np.isnan(row["ma"])]
    p1, g1 = (pred == 1) & known, gt == 1                                   # instance sets (N, A)
    inter, union = (p1 & g1).sum(1), (p1 | g1).sum(1)                       # (N,)
    rows = known.any(1)                                                     # images with any label
    acc = float(np.mean(inter[rows] / (union[rows] + EPS))) if rows.any() else float("nan")
    prec = float(np.mean(inter[rows] / (p1.sum(1)[rows] + EPS))) if rows.any() else float("nan")
    rec = float(np.mean(inter[rows] / (g1.sum(1)[rows] + EPS))) if rows.any() else float("nan")
    f1 = 2 * prec * rec / (prec + rec) if prec + rec > 0 else 0.0
    return {"mA": float(np.mean(scored)) if scored else float("nan"), "accuracy": 100.0 * acc,
            "precision": 100.0 * prec, "recall": 100.0 * rec, "f1": 100.0 * f1,
            "images": int(rows.sum()), "per_attribute": table}


def attribute_sets(data: SplitData, which: str = "auto") -> list[tuple[str, np.ndarray]]:
    """(set name, (N, A) labels) for each attribute set to evaluate: "pa100k", "mals", or both (auto)."""
    sets = []
    if which in ("auto", "pa100k") and data.pa100k is not None:
        sets.append(("pa100k", data.pa100k))
    if which in ("auto", "mals") and data.attrs is not None and (data.attrs >= 0).any():
        sets.append(("mals", data.attrs))
    return sets


def evaluate_attributes(enc: Encoder, data: SplitData, images: EncodedImages, which: str = "auto", *,
                        pair_batch: int = 512) -> dict[str, dict] | None:
    """{set name: metrics} on the main process (None elsewhere); a UserError when the split has no labels."""
    from mals_gen.contract import MALS_ATTRIBUTE_NAMES, PA100K_ATTRIBUTE_NAMES
    from mals_gen.errors import UserError

    from ..prompts import prompt_set

    sets = attribute_sets(data, which)
    if not sets:
        raise UserError(f"the split carries no {'attribute' if which == 'auto' else which} labels "
                        "(KEY.json 'attrs' / 'pa100k_attrs'); evaluate shards that have them")
    names = {"pa100k": PA100K_ATTRIBUTE_NAMES, "mals": MALS_ATTRIBUTE_NAMES}
    out = {}
    for name, labels in sets:
        logits = prompt_logits(enc, images.tokens, prompt_set(name), pair_batch=pair_batch)   # (N, 2A)
        if enc.dist.is_main:
            out[name] = attribute_metrics(predict_labels(logits.numpy()), labels, names[name])
    return out if enc.dist.is_main else None
