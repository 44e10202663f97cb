"""`mals inspect RUN`: what a run folder holds, at a glance.

Counts per stage and part (from the done markers), the first rows of the joined manifest, and a
contact sheet PNG of samples with their prompts (and captions / attributes when those exist).
"""
from __future__ import annotations

import json
from io import BytesIO
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from .contact_sheet import save_contact_sheet
from .contract import LOWER_COLOURS, MALS_ATTRIBUTE_NAMES, UPPER_COLOURS
from .manifest import load_manifest
from .plan import load_plan
from .runner import DONE_SUFFIX
from .shard.images import DECODE_ERRORS
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


def describe_attrs(vec) -> str:
    """Short words for a 27-slot vector: 'man, adult, backpack, upper red, lower blue'."""
    if vec is None:
        return ""
    vec = np.asarray(vec)
    words = []
    names = {"gender": ("woman", "man"), "age": ("child", "adult"), "hair": ("short hair", "long hair"),
             "sleeve": ("long sleeves", "short sleeves"), "lower_length": ("long lower", "short lower"),
             "lower_type": ("dress/skirt", "pants/shorts")}
    for i, name in enumerate(MALS_ATTRIBUTE_NAMES[:10]):
        if vec[i] < 0:
            continue
        if name in names:
            words.append(names[name][vec[i]])
        elif vec[i] == 0:  # presence slots: 0 = has it
            words.append(name)
    for colours, offset, garment in ((UPPER_COLOURS, 10, "upper"), (LOWER_COLOURS, 18, "lower")):
        worn = [c for j, c in enumerate(colours) if vec[offset + j] == 0]
        if worn:
            words.append(f"{garment} {'/'.join(worn)}")
    return ", ".join(words)


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
