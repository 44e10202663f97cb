"""`mals report RUN`: one HTML page (RUN/report/report.html) with PNG figures of a run.

Works with whichever stages are finished: stage statistics, attribute prevalence intended (plan
`prompt_attrs`) vs mined (attrs `mined_attrs`), reject reasons, histograms of the filter's measures
(CLIP score, blur, colourfulness, attribute agreement; kept vs rejected), and contact sheets of
kept and rejected samples with caption and reason (the person crop box drawn in red).
"""
from __future__ import annotations

import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from .contact_sheet import save_contact_sheet
from .contract import LABEL_UNKNOWN, MALS_ATTRIBUTE_NAMES, MALS_LABEL_WORDS, STAGE_ORDER
from .errors import UserError
from .fsutil import write_bytes_atomic
from .manifest import available_stages, load_manifest
from .plan import load_plan
from .tario import PartTars

SHEET_SIZE = 24
COLOURS = {"first": "#4c72b0", "second": "#dd8452", "unknown": "#d0d0d0", "kept": "#55a868", "rejected": "#c44e52"}


def _plt():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _save(fig, path: Path) -> str:
    fig.savefig(path, dpi=110, bbox_inches="tight")
    _plt().close(fig)
    return path.name


def _attr_label(name: str) -> str:
    if name in MALS_LABEL_WORDS:
        first, second = MALS_LABEL_WORDS[name]
        return f"{name} ({first} / {second})"
    return f"{name} (yes / no)"


def _label_shares(column: pd.Series) -> np.ndarray:
    """(27, 3) shares of label 0, label 1 and unknown over the samples of `column` (lists of 27)."""
    rows = [v for v in column if v is not None and not (isinstance(v, float) and np.isnan(v))]
    if not rows:
        return np.zeros((len(MALS_ATTRIBUTE_NAMES), 3))
    labels = np.stack([np.asarray(v, dtype=np.int16) for v in rows])        # (N, 27)
    return np.stack([(labels == 0).mean(0), (labels == 1).mean(0), (labels == LABEL_UNKNOWN).mean(0)], axis=1)


def prevalence_figure(frame: pd.DataFrame, path: Path) -> str | None:
    """Per attribute: stacked shares of label 0 / 1 / unknown, intended above mined."""
    sources = [(name, col) for name, col in (("intended", "prompt_attrs"), ("mined", "mined_attrs")) if col in frame]
    if not sources:
        return None
    plt = _plt()
    n = len(MALS_ATTRIBUTE_NAMES)
    fig, ax = plt.subplots(figsize=(10, 0.3 * n * len(sources) + 1.2))
    height = 0.8 / len(sources)
    for k, (name, col) in enumerate(sources):
        shares = _label_shares(frame[col])
        y = np.arange(n) + (k - (len(sources) - 1) / 2) * height
        left = np.zeros(n)
        for j, (part, colour) in enumerate(zip(("first", "second", "unknown"), (COLOURS["first"], COLOURS["second"],
                                                                           COLOURS["unknown"]))):
            ax.barh(y, shares[:, j], height * 0.92, left=left, color=colour, alpha=1.0 if k == 0 else 0.6,
                    hatch=None if k == 0 else "//", edgecolor="white", linewidth=0.3,
                    label=f"{name}: {('first label (0)', 'second label (1)', 'unknown (-1)')[j]}")
            left += shares[:, j]
    ax.set_yticks(np.arange(n), [_attr_label(a) for a in MALS_ATTRIBUTE_NAMES], fontsize=9)
    ax.set_ylim(n - 0.5, -0.5)   # first attribute on top, no empty margin
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of samples")
    ax.set_title("Attribute labels: " + " (solid) vs ".join(name for name, _ in sources)
                 + (" (hatched)" if len(sources) > 1 else ""))
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.045), ncol=3, fontsize=8, frameon=False)
    return _save(fig, path)


def reasons_figure(frame: pd.DataFrame, path: Path) -> str | None:
    if "reason" not in frame or frame["reason"].isna().all():
        return None
    counts = frame["reason"].dropna().value_counts()
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(counts) + 1.2))
    colours = [COLOURS["kept"] if r == "ok" else COLOURS["rejected"] for r in counts.index]
    ax.barh(counts.index, counts.values, color=colours)
    for i, v in enumerate(counts.values):
        ax.text(v, i, f" {v} ({100 * v / counts.sum():.1f}%)", va="center", fontsize=9)
    ax.invert_yaxis()
    ax.set_xlim(0, counts.max() * 1.3)
    ax.set_xlabel("samples")
    ax.set_title("Filter outcome per reason (ok = kept)")
    return _save(fig, path)


def histograms_figure(frame: pd.DataFrame, path: Path) -> str | None:
    panels = [(col, title, log) for col, title, log in (
        ("clip_score", "CLIP score (100 x cosine)", False), ("blur", "blur: variance of Laplacian (log10)", True),
        ("colourfulness", "colourfulness: channel-difference spread", False),
        ("attr_agreement", "attribute agreement (attrs stage)", False),
        ("attr_disagreement", "intended vs mined disagreement", False),
    ) if col in frame and frame[col].notna().any()]
    if not panels:
        return None
    plt = _plt()
    cols = min(3, len(panels))
    rows = -(-len(panels) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.4 * rows), squeeze=False)
    keep = frame["keep"] if "keep" in frame else pd.Series([np.nan] * len(frame), index=frame.index)
    for ax, (col, title, log) in zip(axes.ravel(), panels):
        values = frame[col].astype(float)
        if log:
            values = np.log10(values.clip(lower=1e-3))
        finite = values.dropna()
        bins = np.histogram_bin_edges(finite, bins=30) if len(finite) else 10
        groups = [("kept", values[keep == True]), ("rejected", values[keep == False])]
        if keep.isna().all():
            groups = [("all", values)]
        ax.hist([g.dropna() for _, g in groups], bins=bins, stacked=True, label=[n for n, _ in groups],
                color=[COLOURS.get(n, COLOURS["first"]) for n, _ in groups])
        ax.set_title(title, fontsize=10)
        ax.set_ylabel("samples")
        ax.legend(fontsize=8)
    for ax in axes.ravel()[len(panels):]:
        ax.axis("off")
    fig.tight_layout()
    return _save(fig, path)


def _pick_rejected(frame: pd.DataFrame, n: int) -> pd.DataFrame:
    """Round-robin over reasons, so every reason shows up on the sheet."""
    rejected = frame[frame["keep"] == False]
    groups = [g for _, g in rejected.groupby("reason", sort=True)]
    picked, i = [], 0
    while len(picked) < n and any(i < len(g) for g in groups):
        picked += [g.index[i] for g in groups if i < len(g)]
        i += 1
    return rejected.loc[picked[:n]]


def _thumbs(run: Path, rows: pd.DataFrame) -> list[tuple[Image.Image, str]]:
    items = []
    with PartTars(run) as tars:
        for _, row in rows.iterrows():
            rel = row.get("image_path")
            if not isinstance(rel, str) or not (run / rel).is_file() or row["image_member"] not in tars.get(rel):
                continue
            items.append(_thumb(tars.read(rel, row["image_member"]), row))
    return items


def _thumb(data: bytes, row) -> tuple[Image.Image, str]:
    """One contact-sheet cell: the image with its person box, and key [reason] caption."""
    image = Image.open(BytesIO(data)).convert("RGB")
    box = row.get("person_box")
    if box is not None and not (isinstance(box, float) and np.isnan(box)):
        ImageDraw.Draw(image).rectangle([int(v) for v in box], outline=(230, 0, 0), width=2)
    reason = row.get("reason")
    head = f"[{reason}] " if isinstance(reason, str) and reason != "ok" else ""
    caption = row.get("caption") if isinstance(row.get("caption"), str) else row.get("prompt", "")
    return image, f"{row['key']} {head}{caption}"


def _sheet(run: Path, rows: pd.DataFrame, path: Path, title: str) -> str | None:
    items = _thumbs(run, rows)
    if not items:
        return None
    save_contact_sheet(path, items, columns=8, title=title)
    return path.name


def _stage_stats(run: Path) -> list[tuple[str, dict]]:
    out = []
    for stage in (*STAGE_ORDER, "filter/checks"):
        path = run / stage / "stats.json"
        if path.is_file():
            out.append((stage, json.loads(path.read_text())))
    return out


def _html(run: Path, stats: list[tuple[str, dict]], figures: list[tuple[str, str]], n: int,
          sections: tuple[str, ...] = ()) -> str:
    esc = html.escape
    rows = "".join(
        f"<tr><td>{esc(stage)}</td><td>{s.get('parts_done', '')}/{s.get('parts_total', '')}</td>"
        f"<td>{s.get('samples', '')}</td><td>{s.get('kept', '')}</td>"
        f"<td>{esc(', '.join(f'{k} {v}' for k, v in sorted((s.get('dropped') or {}).items())))}</td></tr>"
        for stage, s in stats)
    figs = "".join(f"<h2>{esc(title)}</h2><img src=\"{esc(name)}\" alt=\"{esc(title)}\">" for title, name in figures)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>MALS run report: {esc(run.name)}</title>
<style>body{{font-family:sans-serif;margin:24px;max-width:1700px}} img{{max-width:100%;border:1px solid #ddd}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head>
<body><h1>MALS run report: {esc(str(run))}</h1>
<p>{n} planned samples.</p>
<h2>Stages</h2><table><tr><th>stage</th><th>parts done</th><th>samples</th><th>kept</th><th>dropped</th></tr>
{rows}</table>
{figs}
{"".join(sections)}
</body></html>
"""


@dataclass(frozen=True)
class ReportConfig:
    """The report has no settings yet; the pipeline's `report:` mapping takes only `enabled`."""

    @classmethod
    def from_mapping(cls, data: Mapping | None, where: str = "report") -> ReportConfig:
        if data:
            raise UserError(f"{where}: takes no settings (only `enabled` in a pipeline), got {sorted(data)}")
        return cls()


def build_report(run_dir: str | Path, cfg: ReportConfig | None = None, *, progress: bool = True,
                 echo: Callable[[str], None] | None = None) -> Path:
    """Write RUN/report/report.html and its PNGs from whichever stages are finished; returns the HTML path.

    The whole-run stage signature of the registry; `progress` is accepted for it (no bar here)."""
    run = Path(run_dir)
    plan = load_plan(run)
    out = run / "report"
    out.mkdir(parents=True, exist_ok=True)
    stages = available_stages(run)
    frame = load_manifest(run, stages) if stages else pd.DataFrame()
    figures: list[tuple[str, str]] = []

    def add(title: str, name: str | None) -> None:
        if name:
            figures.append((title, name))

    if len(frame):
        add("Attribute prevalence: intended vs mined", prevalence_figure(frame, out / "attributes.png"))
        add("Reject reasons", reasons_figure(frame, out / "reasons.png"))
        add("Score histograms", histograms_figure(frame, out / "histograms.png"))
        if "image_path" in frame:
            if "keep" in frame:
                kept = frame[frame["keep"] == True].head(SHEET_SIZE)
                add("Kept samples", _sheet(run, kept, out / "kept.png", "kept (red: person crop box)"))
                add("Rejected samples", _sheet(run, _pick_rejected(frame, SHEET_SIZE), out / "rejected.png",
                                               "rejected, with reason"))
            else:
                add("Samples", _sheet(run, frame.head(SHEET_SIZE), out / "samples.png", "generated samples"))
    from .diversity.report import diversity_section

    path = out / "report.html"
    write_bytes_atomic(path, _html(run, _stage_stats(run), figures, plan.n, (diversity_section(run, out),)).encode())
    if echo is not None:
        echo(f"report: {path}")
    return path
