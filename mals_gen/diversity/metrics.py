"""Diversity measures of a set of captions, as pure functions over texts, ids and arrays.

distinct-n: unique n-grams / all n-grams over the whole set (1.0 = no n-gram repeats); vocabulary
size; length (words) distribution; style shares and their entropy (bits; normalised by log2 of the
number of styles used); mean pairwise cosine of caption embeddings (lower = more varied);
attribute coverage: the share of captions deciding each of the 27 MALS slots.
"""
from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np

_WORD = re.compile(r"[a-z0-9']+")


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def distinct_n(token_lists: Sequence[Sequence[str]], n: int) -> float:
    """Unique n-grams / total n-grams over all captions (NaN when there is no n-gram)."""
    grams = Counter(tuple(t[i:i + n]) for t in token_lists for i in range(len(t) - n + 1))
    total = sum(grams.values())
    return len(grams) / total if total else float("nan")


def length_stats(token_lists: Sequence[Sequence[str]]) -> dict:
    lengths = np.asarray([len(t) for t in token_lists], dtype=np.float64)
    if not lengths.size:
        return {"mean": float("nan"), "std": float("nan"), "p10": float("nan"), "median": float("nan"),
                "p90": float("nan")}
    p10, p50, p90 = np.percentile(lengths, [10, 50, 90])
    return {"mean": float(lengths.mean()), "std": float(lengths.std()), "p10": float(p10), "median": float(p50),
            "p90": float(p90)}


def style_entropy(style_ids: Sequence[int]) -> dict:
    """Captions per style: number of styles used, entropy in bits and normalised (1 = uniform)."""
    counts = Counter(int(s) for s in style_ids if s is not None and int(s) >= 0)
    total = sum(counts.values())
    if not total:
        return {"styles": 0, "styled_share": 0.0, "entropy_bits": float("nan"), "entropy_norm": float("nan"),
                "top_share": float("nan")}
    p = np.asarray(list(counts.values()), dtype=np.float64) / total
    entropy = float(-(p * np.log2(p)).sum())
    return {"styles": len(counts), "styled_share": total / max(len(style_ids), 1), "entropy_bits": entropy,
            "entropy_norm": entropy / math.log2(len(counts)) if len(counts) > 1 else 0.0,
            "top_share": float(p.max())}


def mean_pairwise_cosine(vectors: np.ndarray) -> float:
    """Mean cosine over all pairs i != j of (N, D) vectors (normalised here; NaN for N < 2)."""
    n = len(vectors)
    if n < 2:
        return float("nan")
    v = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    total = v.sum(0)                                     # (D,): sum_ij v_i.v_j = |sum v|^2
    return float((total @ total - n) / (n * (n - 1)))


def attribute_coverage(labels: np.ndarray) -> np.ndarray:
    """(27,) share of captions that decide each slot, from their (N, 27) mined labels."""
    return (labels >= 0).mean(0) if len(labels) else np.zeros(labels.shape[1] if labels.ndim == 2 else 27)


def summarize(texts: Sequence[str], style_ids: Sequence[int] | None = None, vectors: np.ndarray | None = None,
              labels: np.ndarray | None = None) -> dict:
    """Every measure of one set of captions (vectors / labels optional: their measures are NaN)."""
    tokens = [words(t) for t in texts]
    out = {"captions": len(texts), **{f"distinct_{n}": distinct_n(tokens, n) for n in (1, 2, 3)},
           "vocabulary": len({w for t in tokens for w in t}),
           **{f"length_{k}": v for k, v in length_stats(tokens).items()},
           **{f"style_{k}": v for k, v in style_entropy(style_ids or []).items()},
           "mean_pairwise_cosine": mean_pairwise_cosine(vectors) if vectors is not None else float("nan")}
    if labels is not None:
        coverage = attribute_coverage(labels)
        out["attribute_coverage"] = float(coverage.mean()) if coverage.size else float("nan")
    return out
