"""What a retrieval model ranks by: do the top-k images carry the query's mined attributes?

For each attribute group (gender, age, ..., upper colour, lower colour) and each ordering, the share
of (query, retrieved image) pairs in the top k whose mined labels agree on every slot of the group
that the query's image has (queries without any are not counted). A slot the retrieved image lacks
disagrees: mined from captions, an unknown label mostly means "not mentioned", and for presence
slots (a hat, a bag) that is mostly "absent". Chance is the same share over the whole gallery (what
a random ranking retrieves). A model
whose gender agreement sits at chance has not learnt gender, whatever its R@1; `aptm-train eval`
prints the table when the split carries mined attributes.
"""
from __future__ import annotations

import numpy as np

from mals_gen.contract import ATTR, LOWER_COLOUR_SLOTS, MALS_LABEL_WORDS, UPPER_COLOUR_SLOTS

#: group name -> the 27-slot indices it compares (the colour slots together: which colour it is)
GROUPS: dict[str, tuple[int, ...]] = {
    **{name: (ATTR[name],) for name in MALS_LABEL_WORDS},
    "upper colour": tuple(UPPER_COLOUR_SLOTS.values()),
    "lower colour": tuple(LOWER_COLOUR_SLOTS.values()),
}
TOP_K = 5


def _agree(query: np.ndarray, gallery: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """query (..., s), gallery (..., s) int labels (-1 unknown) -> (compared, agree) bool (...):
    compared where the query knows a slot, agree where the gallery has the same label on every one."""
    known = query >= 0
    compared = np.broadcast_to(known.any(-1), np.broadcast_shapes(query.shape, gallery.shape)[:-1])
    agree = compared & np.all(~known | (gallery == query), -1)
    return compared, agree


def top_agreement(attrs: np.ndarray, query_image: np.ndarray, top: np.ndarray, k: int = TOP_K) -> dict[str, float]:
    """group -> % of compared (query, top-k image) pairs that agree (nan where none compared).

    attrs (N, 27) of the gallery; query_image (Q,) the gallery index of each query's own image;
    top (Q, >= k) gallery indices, best first."""
    out = {}
    q = attrs[query_image]                                  # (Q, 27)
    for name, slots in GROUPS.items():
        s = list(slots)
        compared, agree = _agree(q[:, None, s], attrs[top[:, :k]][:, :, s])   # (Q, k)
        out[name] = 100.0 * agree.sum() / compared.sum() if compared.any() else float("nan")
    return out


def chance_agreement(attrs: np.ndarray, query_image: np.ndarray) -> dict[str, float]:
    """group -> % of compared (query, gallery image) pairs over the whole gallery that agree.

    Exact and cheap on big galleries: queries sharing a label pattern are counted once."""
    out = {}
    q = attrs[query_image]
    for name, slots in GROUPS.items():
        s = list(slots)
        gallery = attrs[:, s]                               # (N, s)
        patterns, counts = np.unique(q[:, s], axis=0, return_counts=True)
        compared = agree = 0
        for pattern, n in zip(patterns, counts):
            c, a = _agree(pattern[None, :], gallery)        # (N,)
            compared += n * int(c.sum())
            agree += n * int(a.sum())
        out[name] = 100.0 * agree / compared if compared else float("nan")
    return out


def agreement_table(by_mode: dict[str, dict[str, float]], chance: dict[str, float], k: int = TOP_K) -> str:
    """Rows: attribute groups; columns: each ordering's top-k agreement, then chance."""
    modes = list(by_mode)
    head = f"{'attribute':<14}" + "".join(f"{m:>8}" for m in modes) + f"{'chance':>8}"
    title = f"attribute agreement of the top {k} with the query's image (% of compared pairs; mined labels)"
    lines = [title, head, "-" * len(head)]
    for name in GROUPS:
        if np.isnan(chance[name]):
            continue                                        # no query knows this group
        lines.append(f"{name:<14}" + "".join(f"{by_mode[m][name]:>8.1f}" for m in modes) + f"{chance[name]:>8.1f}")
    return "\n".join(lines)
