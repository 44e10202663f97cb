"""Diversity of a run's captions: overall and per captioner, from RUN/caption (every caption).

Attribute coverage mines each caption with the rule miner (fast); the mean pairwise cosine embeds a
fixed random subsample (at most `sample` captions per group, seed 0, so two runs of the same images
are compared on the same rows) with the sentence encoder (bundled all-MiniLM-L6-v2 by default).
"""
from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..contract import caption_entries
from ..errors import UserError
from .metrics import summarize

SAMPLE = 1000


def run_captions(run_dir: str | Path) -> list[dict]:
    """Every caption of the run as CAPTION_ENTRY dicts plus `key`, in part order."""
    from ..manifest import read_stage

    try:
        frame = read_stage(run_dir, "caption", ["key", "caption", "captioner", "captions"])
    except (KeyError, ValueError):  # caption parts written before `captions` existed
        frame = read_stage(run_dir, "caption", ["key", "caption", "captioner"])
    return [{**e, "key": row["key"]} for row in frame.to_dict("records") for e in caption_entries(row)]


def _vectors(texts: list[str], encoder, sample: int) -> np.ndarray | None:
    if encoder is None or not texts:
        return None
    rng = np.random.default_rng(0)
    pick = np.sort(rng.choice(len(texts), size=min(sample, len(texts)), replace=False))
    return encoder.encode([texts[i] for i in pick])


def measure(entries: list[dict], encoder=None, sample: int = SAMPLE) -> dict:
    """{"overall": measures, "by_captioner": {name: measures}, "style_counts": {style: n}}."""
    from ..attrs.miner import mine_many

    if not entries:
        raise UserError("no captions to measure: run `mals caption` first")
    texts = [e["text"] for e in entries]
    labels = mine_many(texts)                                           # (N, 27)
    styles = [int(e["style"]) if e.get("style") is not None else -1 for e in entries]
    names = [e["captioner"] for e in entries]
    out = {"overall": summarize(texts, styles, _vectors(texts, encoder, sample), labels), "by_captioner": {}}
    for name in sorted(set(names)):
        idx = [i for i, n in enumerate(names) if n == name]
        group = [texts[i] for i in idx]
        out["by_captioner"][name] = summarize(group, [styles[i] for i in idx], _vectors(group, encoder, sample),
                                              labels[idx])
    out["style_counts"] = dict(Counter(s for s in styles if s >= 0).most_common())
    out["lengths"] = {name: [len(texts[i].split()) for i, n in enumerate(names) if n == name] for name in set(names)}
    return out


def default_encoder():
    """The bundled sentence encoder, or None (cosine left out) when it cannot be loaded."""
    from ..text_encoder import SentenceEncoder

    try:
        return SentenceEncoder()
    except UserError:
        return None


def measure_run(run_dir: str | Path, encoder="bundled", sample: int = SAMPLE) -> dict:
    """The diversity of a run's captions (`encoder`: "bundled", None for no embeddings, or an encoder)."""
    if encoder == "bundled":
        encoder = default_encoder()
    return measure(run_captions(run_dir), encoder, sample)
