"""`mals inspect RUN`: what a run folder holds, at a glance.

Counts per stage and part (from the done markers), the first rows of the joined manifest, and a
contact sheet PNG of samples with their prompts (and captions / attributes when those exist).
"""
from __future__ import annotations

import json
import shutil
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .contact_sheet import save_contact_sheet
from .contract import describe_mals_attrs as describe_attrs
from .layout import done_markers
from .manifest import load_manifest
from .plan import load_plan
from .shard.images import DECODE_ERRORS
from .stages import MANIFEST_STAGES
from .tario import PartTars


def stage_counts(run_dir: Path) -> pd.DataFrame:
    """One row per part, one column per stage: samples done (NaN where the part is not done)."""
    plan = load_plan(run_dir)
    table = pd.DataFrame(index=pd.Index([p.index for p in plan.parts], name="part"))
    for stage in MANIFEST_STAGES:
        markers = done_markers(run_dir, stage)
        if not markers:
            continue
        done = {}
        for marker in markers:
            stats = json.loads(marker.read_text())
            done[stats["part"]] = stats.get("kept", stats.get("ok", stats.get("samples")))
        table[stage] = pd.Series(done, dtype="float64")
    return table


def _cell_text(value) -> str:
    if isinstance(value, (list, tuple, np.ndarray)):
        return "[" + ", ".join(str(v) for v in value) + "]"
    return str(value)


def cut(text: str, width: int) -> str:
    """`text` in at most `width` characters, ending in an ellipsis when it was longer."""
    return text if len(text) <= width else text[:max(width - 1, 0)] + "…"


def fit_frame(frame: pd.DataFrame, width: int) -> str:
    """`frame` as text no wider than `width`: long cells (attribute lists, captions) end in '…',
    and columns that do not fit wrap into further blocks."""
    cell = max(8, min(40, width // 3))
    shown = frame.map(lambda v: cut(_cell_text(v), cell))
    shown.columns = [cut(str(c), cell) for c in frame.columns]
    shown.index = [cut(str(i), cell) for i in frame.index]
    return shown.to_string(line_width=width)


def contact_sheet_items(run_dir: Path, frame: pd.DataFrame, count: int) -> list:
    rows = frame[frame["status"] == "ok"].head(count) if "status" in frame else frame.head(0)
    items = []
    with PartTars(run_dir) as tars:
        for row in rows.itertuples():
            try:
                image = Image.open(BytesIO(tars.read(row.image_path, row.image_member)))
                image.load()
            except DECODE_ERRORS:  # a damaged image gets no thumbnail (the filter drops it)
                continue
            text = getattr(row, "caption", None) or row.prompt
            attrs = getattr(row, "mined_attrs", None)
            label = describe_attrs(attrs if attrs is not None else row.prompt_attrs)
            items.append((image, f"{row.key}: {text} [{label}]"))
    return items


def inspect_run(run_dir: str | Path, rows: int = 5, sheet_samples: int = 32, echo=print,
                width: int | None = None) -> Path | None:
    """Print the run's counts and first rows fitted to `width` (default: the terminal's)."""
    run_dir = Path(run_dir)
    width = width or shutil.get_terminal_size((120, 24)).columns
    plan = load_plan(run_dir)
    counts = stage_counts(run_dir)
    echo(f"{run_dir}:")
    echo(f"  {plan.n:,} planned samples in {len(plan.parts)} parts; prompts from {plan.source['kind']}, "
         f"backend {plan.config.get('backend')}")
    done_parts = counts.notna().sum()
    totals = counts.sum()
    for stage in counts.columns:
        echo(f"  {stage:<9} {int(done_parts[stage]):>5}/{len(plan.parts)} parts done, {int(totals[stage]):>9,} samples")
    if len(counts) <= 20:
        echo(counts.fillna(-1).astype(int).replace(-1, "-").to_string())
    if not any(done_parts):
        return None
    frame = load_manifest(run_dir)
    echo(fit_frame(frame.head(rows), width))
    items = contact_sheet_items(run_dir, frame, sheet_samples)
    if not items:
        return None
    path = save_contact_sheet(run_dir / "inspect" / "contact_sheet.png", items, columns=8,
                              title=f"{run_dir.name}: first {len(items)} samples")
    echo(f"contact sheet: {path}")
    return path
