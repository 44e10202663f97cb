"""Evaluation outputs: a readable table, a JSON file, per-query rankings in parquet, an HTML page.

The HTML page shows a seeded sample of queries, each with its top-10 gallery images (thumbnails
inlined as base64, so the page is one self-contained file); a relevant image has a green frame,
others red, and the query's own image is shown first for reference.
"""
from __future__ import annotations

import base64
import html
import json
import math
import random
from pathlib import Path

from mals_gen.fsutil import atomic_path, write_json_atomic

from .encode import SplitData
from .retrieval import RetrievalResult

RETRIEVAL_COLUMNS = ("R@1", "R@5", "R@10", "mAP", "mINP")


def retrieval_table(result: RetrievalResult) -> str:
    """Rows: each ordering, then the chance level of a random ranking."""
    rows = [*result.metrics.items(), ("chance", result.chance)]
    width = max(10, *(len(name) + 2 for name, _ in rows))
    head = f"{'ordering':<{width}}" + "".join(f"{c:>8}" for c in RETRIEVAL_COLUMNS)
    lines = [head, "-" * len(head)]
    for name, row in rows:
        lines.append(f"{name:<{width}}" + "".join(f"{row[c]:>8.2f}" for c in RETRIEVAL_COLUMNS))
    q = result.chance.get("queries", 0)
    lines.append(f"{q:,} queries, {result.gallery:,} gallery images")
    return "\n".join(lines)


def attribute_table(name: str, metrics: dict) -> str:
    lines = [(f"{name}: mA {metrics['mA']:.2f}  Accuracy {metrics['accuracy']:.2f}  Precision "
              f"{metrics['precision']:.2f}  Recall {metrics['recall']:.2f}  F1 {metrics['f1']:.2f}  "
              f"({metrics['images']:,} images)"),
             f"{'attribute':<22}{'known':>7}{'pos':>7}{'neg':>7}{'TPR':>8}{'TNR':>8}{'mA':>8}{'acc':>8}"]
    for r in metrics["per_attribute"]:
        lines.append(f"{r['attribute']:<22}{r['known']:>7}{r['positives']:>7}{r['negatives']:>7}"
                     + "".join(f"{_num(r[c]):>8}" for c in ("tpr", "tnr", "ma", "accuracy")))
    return "\n".join(lines)


def _num(v: float) -> str:
    return "-" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:.2f}"


def write_json(path: Path, payload: dict) -> Path:
    write_json_atomic(path, _clean(payload))
    return path


def _clean(obj):
    """NaN is not JSON: write null."""
    if isinstance(obj, float) and math.isnan(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def write_rankings(path: Path, data: SplitData, result: RetrievalResult, mode: str) -> Path:
    """One row per query: caption, person, its image, the top-T gallery keys / scores / hits, AP, INP."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    r = result.ranks[mode]
    gallery_pids = data.person_ids
    qids = data.query_ids
    top_keys = [[data.keys[g] for g in row] for row in r.top]
    hits = [[gallery_pids[g] == qids[q] for g in row] for q, row in enumerate(r.top)]
    table = pa.table({
        "query": pa.array(range(len(qids)), pa.int64()),
        "caption": data.captions,
        "person_id": qids,
        "image_key": [data.keys[i] for i in data.query_image],
        "top_keys": pa.array(top_keys, pa.list_(pa.string())),
        "top_scores": pa.array([list(map(float, s)) for s in r.top_scores], pa.list_(pa.float32())),
        "top_hits": pa.array(hits, pa.list_(pa.bool_())),
        "first_rank": pa.array(r.first_rank, pa.int64()),
        "n_relevant": pa.array(r.n_relevant, pa.int64()),
        "ap": pa.array(r.ap, pa.float64()),
        "inp": pa.array(r.inp, pa.float64()),
        "ordering": [mode] * len(qids),
    })
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp)
    return path


def _img(jpg: bytes, colour: str, label: str) -> str:
    src = "data:image/jpeg;base64," + base64.b64encode(jpg).decode()
    return (f'<figure style="border:4px solid {colour}"><img src="{src}"><figcaption>{html.escape(label)}'
            "</figcaption></figure>")


def write_html(path: Path, data: SplitData, result: RetrievalResult, mode: str, *, samples: int = 24,
               seed: int = 0, title: str = "retrieval") -> Path:
    """Sampled queries with their top-10 images; needs thumbnails (read_and_encode_split(thumbnails=True))."""
    if data.thumbs is None:
        raise ValueError("write_html needs the split's thumbnails")
    r = result.ranks[mode]
    qids = data.query_ids
    chosen = sorted(random.Random(seed).sample(range(len(qids)), min(samples, len(qids))))
    m = result.metrics[mode]
    parts = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
             ("<style>body{font-family:sans-serif}figure{display:inline-block;margin:2px;padding:0}"
              "figcaption{font-size:10px;text-align:center}.q{margin:14px 0}</style>"),
             f"<h2>{html.escape(title)} - ordering {mode}</h2><p>"
             + " &nbsp; ".join(f"{c} {m[c]:.2f}" for c in RETRIEVAL_COLUMNS)
             + " &nbsp; (green frame = same person as the query)</p>"]
    for q in chosen:
        own = int(data.query_image[q])
        cells = [_img(data.thumbs[own], "#888", "query's image")]
        for rank, (g, s) in enumerate(zip(r.top[q][:10], r.top_scores[q][:10]), 1):
            hit = data.person_ids[g] == qids[q]
            cells.append(_img(data.thumbs[g], "#2a2" if hit else "#d33", f"{rank}: {s:.3f}"))
        parts.append(f"<div class='q'><b>#{q}</b> {html.escape(data.captions[q])} "
                     f"<i>(first hit at rank {int(r.first_rank[q])}, AP {100 * r.ap[q]:.1f})</i><br>"
                     + "".join(cells) + "</div>")
    with atomic_path(path) as tmp:
        Path(tmp).write_text("\n".join(parts))
    return path


def dumps(obj) -> str:
    return json.dumps(_clean(obj), indent=2)


def update_card(folder: Path, shards: str, split: str, payload: dict, echo=print) -> Path | None:
    """Put this eval's retrieval rows into the checkpoint folder's model card (README.md).

    Rows of the same (shards, split) are replaced; a folder without a card (older exports) gets one.
    A read-only folder keeps its card: one warning line, the metrics JSON is already written.
    """
    from ..model.card import card_rows, merge_rows, metric_row, write_card

    if not payload.get("retrieval"):
        return None
    new = [metric_row(str(shards), split, mode, m) for mode, m in payload["retrieval"].items()]
    try:
        config = json.loads((Path(folder) / "config.json").read_text())
        return write_card(folder, config, merge_rows(card_rows(folder), new))
    except OSError as err:
        echo(f"warning: {folder}/README.md not updated ({err.strerror or err}); the metrics are in the JSON")
        return None
