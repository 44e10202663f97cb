"""Helpers shared by the losses: cross-entropy that ignores -100 and stays finite when all are ignored."""
from __future__ import annotations

import torch
import torch.nn.functional as F

IGNORE = -100


def safe_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean CE over labels != -100; 0 (with a graph) when there is none, instead of NaN."""
    valid = labels != IGNORE
    if not bool(valid.any()):
        return logits.sum() * 0.0
    return F.cross_entropy(logits[valid].float(), labels[valid], label_smoothing=label_smoothing)


def grouped_cross_entropy(logits: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor,
                          label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean over groups of each group's mean CE over labels != -100 (groups with none are left out).

    logits (N, C), labels (N,), groups (N,) small non-negative ints. 0 (with a graph) when no label is valid.
    """
    valid = labels != IGNORE
    if not bool(valid.any()):
        return logits.sum() * 0.0
    ce = F.cross_entropy(logits[valid].float(), labels[valid], label_smoothing=label_smoothing,
                         reduction="none")                                  # (M,)
    g = groups[valid]
    n = int(groups.max()) + 1
    total = torch.zeros(n, device=ce.device, dtype=ce.dtype).index_add(0, g, ce)
    count = torch.zeros(n, device=ce.device, dtype=ce.dtype).index_add(0, g, torch.ones_like(ce))
    seen = count > 0
    return (total[seen] / count[seen]).mean()
