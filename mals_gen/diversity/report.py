"""The report's caption-diversity section: a table per captioner and two figures.

`diversity_section(run, out)` returns an HTML fragment ("" when the run has no captions yet) and
writes diversity_lengths.png / diversity_styles.png next to report.html.
"""
from __future__ import annotations

import html
import math
from pathlib import Path

from ..errors import UserError

#: (key in the measures, column title, format)
COLUMNS = (
    ("captions", "captions", "{:.0f}"), ("distinct_1", "distinct-1", "{:.3f}"),
    ("distinct_2", "distinct-2", "{:.3f}"), ("distinct_3", "distinct-3", "{:.3f}"),
    ("vocabulary", "vocabulary", "{:.0f}"), ("length_mean", "words (mean)", "{:.1f}"),
    ("length_p10", "words p10", "{:.0f}"), ("length_p90", "words p90", "{:.0f}"),
    ("style_styles", "styles used", "{:.0f}"), ("style_entropy_norm", "style entropy (norm.)", "{:.3f}"),
    ("mean_pairwise_cosine", "mean pairwise cosine", "{:.3f}"), ("attribute_coverage", "attr. coverage", "{:.3f}"),
)


def fmt(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return pattern.format(value)


def table_html(rows: list[tuple[str, dict]]) -> str:
    """One row per (label, measures), one column per COLUMNS entry."""
    esc = html.escape
    head = "".join(f"<th>{esc(title)}</th>" for _, title, _ in COLUMNS)
    body = "".join(f"<tr><td>{esc(label)}</td>" + "".join(f"<td>{fmt(m.get(k), f)}</td>" for k, _, f in COLUMNS)
                   + "</tr>" for label, m in rows)
    return f"<table><tr><th></th>{head}</tr>{body}</table>"


def _figures(measured: dict, out: Path) -> list[str]:
    from ..report import _plt, _save

    plt, names = _plt(), []
    fig, ax = plt.subplots(figsize=(7, 3))
    for name, lengths in sorted(measured["lengths"].items()):
        ax.hist(lengths, bins=30, alpha=0.5, label=name)
    ax.set_xlabel("words per caption")
    ax.legend(fontsize=7)
    names.append(_save(fig, out / "diversity_lengths.png"))
    counts = list(measured["style_counts"].values())
    if counts:
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.bar(range(len(counts)), counts, width=1.0)
        ax.set_xlabel("style (by count)")
        ax.set_ylabel("captions")
        names.append(_save(fig, out / "diversity_styles.png"))
    return names


def diversity_section(run: Path, out: Path, encoder="bundled") -> str:
    """The HTML fragment of the diversity section ("" without captions)."""
    from .run import measure_run

    try:
        measured = measure_run(run, encoder)
    except UserError:
        return ""
    rows = [("all captions", measured["overall"]), *measured["by_captioner"].items()]
    from ..report import inline_img  # the report is one self-contained page: figures inlined

    figs = "".join(inline_img(out / n, "caption diversity") for n in _figures(measured, out))
    return ("<h2>Caption diversity</h2><p>distinct-n: unique / all n-grams; cosine: mean over pairs of "
            "MiniLM caption embeddings (lower = more varied); coverage: share of the 27 attribute slots "
            f"the captions decide.</p>{table_html(rows)}{figs}")
