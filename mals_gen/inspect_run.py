"""`mals inspect RUN`: what a run folder holds, at a glance.

Counts per stage and part (from the done markers), the first rows of the joined manifest, and a
contact sheet PNG of samples with their prompts (and captions / attributes when those exist).
"""
from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import pandas as pd
from PIL import Image

from .contact_sheet import save_contact_sheet
from .contract import describe_mals_attrs as describe_attrs
from .manifest import load_manifest
from .plan import load_plan
from .runner import DONE_SUFFIX
from .stages import MANIFEST_STAGES
from .tario import PartTars


def stage_counts(run_dir: Path) -> pd.DataFrame:
    """One row per part, one column per stage: samples done (NaN where the part is not done)."""
    plan = load_plan(run_dir)
    table = pd.DataFrame(index=pd.Index([p.index for p in plan.parts], name="part"))
    for stage in MANIFEST_STAGES:
        folder = run_dir / stage
        if not folder.is_dir():
            continue
        done = {}
        for marker in folder.glob(f"part-*{DONE_SUFFIX}"):
            stats = json.loads(marker.read_text())
            done[stats["part"]] = stats.get("kept", stats.get("ok", stats.get("samples")))
        table[stage] = pd.Series(done, dtype="float64")
    return table


def contact_sheet_items(run_dir: Path, frame: pd.DataFrame, count: int) -> list:
    rows = frame[frame["status"] == "ok"].head(count) if "status" in frame else frame.head(0)
    items = []
    with PartTars(run_dir) as tars:
        for row in rows.itertuples():
            image = Image.open(BytesIO(tars.read(row.image_path, row.image_member)))
            text = getattr(row, "caption", None) or row.prompt
            attrs = getattr(row, "mined_attrs", None)
            label = describe_attrs(attrs if attrs is not None else row.prompt_attrs)
            items.append((image, f"{row.key}: {text} [{label}]"))
    return items


def inspect_run(run_dir: str | Path, rows: int = 5, sheet_samples: int = 32, echo=print) -> Path | None:
    run_dir = Path(run_dir)
    plan = load_plan(run_dir)
    counts = stage_counts(run_dir)
    echo(f"{run_dir}: {plan.n:,} planned samples in {len(plan.parts)} parts; prompts from {plan.source['kind']}, "
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
    with pd.option_context("display.max_columns", 12, "display.width", 160, "display.max_colwidth", 40):
        echo(frame.head(rows).to_string())
    items = contact_sheet_items(run_dir, frame, sheet_samples)
    if not items:
        return None
    path = save_contact_sheet(run_dir / "inspect" / "contact_sheet.png", items, columns=8,
                              title=f"{run_dir.name}: first {len(items)} samples")
    echo(f"contact sheet: {path}")
    return path
