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
