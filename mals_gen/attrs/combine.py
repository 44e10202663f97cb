"""Several captions of one image -> one label vector, and how much the captions agree.

Per slot the label most captions decide wins; a tie (e.g. one caption says black, the other not
black) leaves the slot unknown (-1), since the losses ignore -1 but learn from a wrong label.
Agreement is over the slots at least two captions decide: the share where all of them agree.
"""
from __future__ import annotations

import numpy as np


def combine_labels(labels: np.ndarray) -> tuple[np.ndarray, float]:
    """(M, 27) int8 labels of one image's M captions -> ((27,) int8 labels, agreement or NaN)."""
    if labels.shape[0] == 1:
        return labels[0].copy(), float("nan")
    zeros = (labels == 0).sum(0)                          # (27,)
    ones = (labels == 1).sum(0)                           # (27,)
    out = np.where(ones > zeros, 1, np.where(zeros > ones, 0, -1)).astype(np.int8)
    multi = (zeros + ones) >= 2
    if not multi.any():
        return out, float("nan")
    unanimous = (zeros == 0) | (ones == 0)
    return out, float((unanimous & multi).sum() / multi.sum())


def combine_groups(labels: np.ndarray, counts: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Labels of all captions stacked (sum(counts), 27) -> per image (N, 27) labels and (N,) agreement.

    An image with no caption gets all -1 and NaN."""
    n_slots = labels.shape[1]
    out = np.full((len(counts), n_slots), -1, np.int8)
    agree = np.full(len(counts), np.nan, np.float32)
    start = 0
    for i, count in enumerate(counts):
        if count:
            out[i], agree[i] = combine_labels(labels[start:start + count])
        start += count
    return out, agree
