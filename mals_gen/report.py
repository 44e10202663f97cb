"""`mals report RUN`: one self-contained HTML page (RUN/report/report.html) about a run.

Works with whichever stages are finished: stage statistics, attribute prevalence intended (plan
`prompt_attrs`) vs mined (attrs `mined_attrs`), reject reasons, histograms of the filter's measures
(CLIP score, blur, colourfulness, attribute agreement; kept vs rejected), and contact sheets of
kept and rejected samples with caption and reason (the person crop box drawn in red), and the
shard folder's counts per split once the run is sharded. Figures are inlined as data URIs (the
PNGs are kept beside the page too), so the page can be mailed on its own. The page is the list
`SECTIONS`: each entry is a function returning one HTML fragment.
"""
from __future__ import annotations

import base64
import html
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageDraw

from . import layout
from .contact_sheet import save_contact_sheet
from .contract import LABEL_UNKNOWN, MALS_ATTRIBUTE_NAMES, MALS_LABEL_WORDS, STAGE_ORDER
from .errors import UserError
from .fsutil import write_bytes_atomic
from .manifest import available_stages, load_manifest
from .plan import load_plan
from .shard.images import DECODE_ERRORS
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
            try:
                items.append(_thumb(tars.read(rel, row["image_member"]), row))
            except DECODE_ERRORS:  # e.g. a sample the filter dropped as unreadable_image: no thumbnail
                continue
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


def _sheet(run: Path, rows: pd.DataFrame, path: Path, title: str) -> Path | None:
    items = _thumbs(run, rows)
    if not items:
        return None
    save_contact_sheet(path, items, columns=8, title=title)
    return path


# ----------------------------------------------------------------------------- sections
@dataclass
class ReportInputs:
    """What every section may use: the run, its joined manifest, the report folder, the shard folder."""
    run: Path
    out: Path
    n_planned: int
    frame: pd.DataFrame
    shards: Path | None = None


def inline_img(path: Path, alt: str) -> str:
    """A PNG as an <img> with a base64 data URI, so the page needs no file beside it."""
    data = base64.b64encode(Path(path).read_bytes()).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}">'


def _inline_png(title: str, path: Path | None) -> str:
    """A titled figure, inlined."""
    if path is None:
        return ""
    return f"<h2>{html.escape(title)}</h2>{inline_img(path, title)}\n"


def _figure(title: str, make: Callable[[pd.DataFrame, Path], str | None], r: ReportInputs, name: str) -> str:
    if not len(r.frame):
        return ""
    made = make(r.frame, r.out / name)
    return _inline_png(title, r.out / made if made else None)


def _table(head: list[str], rows: list[list]) -> str:
    esc = html.escape
    cells = "".join("<tr>" + "".join(f"<td>{esc(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return "<table><tr>" + "".join(f"<th>{esc(h)}</th>" for h in head) + f"</tr>{cells}</table>\n"


def stages_section(r: ReportInputs) -> str:
    rows = []
    for stage in (*STAGE_ORDER, "filter_checks"):
        path = layout.stats_path(r.run, stage)
        if path.is_file():
            s = json.loads(path.read_text())
            drops = ", ".join(f"{k} {v}" for k, v in sorted((s.get("dropped") or {}).items()))
            rows.append([stage, f"{s.get('parts_done', '')}/{s.get('parts_total', '')}", s.get("samples", ""),
                         s.get("kept", s.get("ok", "")), drops])
    return f"<p>{r.n_planned} planned samples.</p><h2>Stages</h2>" + _table(
        ["stage", "parts done", "samples", "kept", "dropped"], rows)


def shard_counts(folder: Path) -> list[list]:
    """Per split of a shard folder: samples, persons, captions, tars (from manifest.parquet)."""
    frame = pd.read_parquet(folder / "manifest.parquet", columns=["split", "shard", "person_id", "captions"])
    rows = []
    for split in ("train", "val", "test", "all"):
        part = frame if split == "all" else frame[frame["split"] == split]
        if len(part):
            rows.append([split, len(part), part["person_id"].nunique(), int(part["captions"].map(len).sum()),
                         part["shard"].nunique()])
    return rows


def shards_section(r: ReportInputs) -> str:
    if r.shards is None or not (r.shards / "manifest.parquet").is_file():
        return ""
    return (f"<h2>Shards: {html.escape(str(r.shards))}</h2>"
            + _table(["split", "samples", "persons", "captions", "tars"], shard_counts(r.shards)))


def attributes_section(r: ReportInputs) -> str:
    return _figure("Attribute prevalence: intended vs mined", prevalence_figure, r, "attributes.png")


def reasons_section(r: ReportInputs) -> str:
    return _figure("Reject reasons", reasons_figure, r, "reasons.png")


def histograms_section(r: ReportInputs) -> str:
    return _figure("Score histograms", histograms_figure, r, "histograms.png")


def samples_section(r: ReportInputs) -> str:
    frame, run, out = r.frame, r.run, r.out
    if "image_path" not in frame:
        return ""
    if "keep" not in frame:
        return _inline_png("Samples", _sheet(run, frame.head(SHEET_SIZE), out / "samples.png", "generated samples"))
    kept = frame[frame["keep"] == True].head(SHEET_SIZE)
    return (_inline_png("Kept samples", _sheet(run, kept, out / "kept.png", "kept (red: person crop box)"))
            + _inline_png("Rejected samples", _sheet(run, _pick_rejected(frame, SHEET_SIZE), out / "rejected.png",
                                                     "rejected, with reason")))


def crops_section(r: ReportInputs) -> str:
    """Imported scene images with their person boxes, then the crops with keypoints (report_crops.py)."""
    from .report_crops import crops_figure

    if not len(r.frame):
        return ""
    made = crops_figure(r.run, r.frame, r.out / "crops.png")
    return _inline_png("Person crops", r.out / made if made else None)


def diversity_section(r: ReportInputs) -> str:
    """Caption diversity per run and per captioner (mals_gen/diversity/report.py)."""
    from .diversity.report import diversity_section as section

    return section(r.run, r.out)


#: The report, top to bottom. A section is a function (ReportInputs) -> HTML fragment ("" to leave
#: it out); to add one, write such a function and put it in this list.
SECTIONS: list[Callable[[ReportInputs], str]] = [
    stages_section, shards_section, attributes_section, reasons_section, histograms_section, samples_section,
    crops_section, diversity_section]


def _page(r: ReportInputs, body: str) -> str:
    esc = html.escape
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>MALS run report: {esc(r.run.name)}</title>
<style>body{{font-family:sans-serif;margin:24px;max-width:1700px}} img{{max-width:100%;border:1px solid #ddd}}
table{{border-collapse:collapse}} td,th{{border:1px solid #ccc;padding:4px 8px;text-align:left}}</style></head>
<body><h1>MALS run report: {esc(str(r.run))}</h1>
{body}</body></html>
"""


@dataclass(frozen=True)
class ReportConfig:
    """The report has no settings yet; the pipeline's `report:` mapping takes only `enabled`."""

    @classmethod
    def from_mapping(cls, data: Mapping | None, where: str = "report") -> ReportConfig:
        if data:
            raise UserError(f"{where}: takes no settings (only `enabled` in a pipeline), got {sorted(data)}")
        return cls()


def _pipeline_shards(run: Path) -> Path | None:
    """The shard folder `mals run` wrote (RUN/pipeline.yaml's shard_out), if any."""
    path = run / "pipeline.yaml"
    if not path.is_file():
        return None
    import yaml

    doc = yaml.safe_load(path.read_text()) or {}
    enabled = (doc.get("shard") or {}).get("enabled", True)
    return Path(doc["shard_out"]) if doc.get("shard_out") and enabled else None


def build_report(run_dir: str | Path, cfg: ReportConfig | None = None, *, progress: bool = True,
                 echo: Callable[[str], None] | None = None, shards: str | Path | None = None) -> Path:
    """Write RUN/report/report.html (images inlined, so it reads alone) and its PNGs from whichever
    stages are finished; `shards` (default: the pipeline's shard_out) adds the shard counts.

    The whole-run stage signature of the registry; `progress` is accepted for it (no bar here)."""
    run = Path(run_dir)
    plan = load_plan(run)
    out = run / "report"
    out.mkdir(parents=True, exist_ok=True)
    stages = available_stages(run)
    frame = load_manifest(run, stages) if stages else pd.DataFrame()
    r = ReportInputs(run, out, plan.n, frame, Path(shards) if shards else _pipeline_shards(run))
    path = out / "report.html"
    write_bytes_atomic(path, _page(r, "".join(section(r) for section in SECTIONS)).encode())
    if echo is not None:
        echo(f"report: {path}")
    return path
