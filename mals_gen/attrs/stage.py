"""The in-run `attrs` stage: mine the 27 attributes from each part's captions.

Reads each part's plan rows joined with RUN/caption/part-NNNNN.parquet (every caption of
`captions`, or `caption` for older runs; a planned sample without a caption row counts as an
empty caption) and the plan's `prompt_attrs` (the attributes the prompt asked for), and writes
RUN/attrs/part-NNNNN.parquet, in plan order, with `contract.ATTRS_SCHEMA`: `mined_attrs` (27 int8;
several captions combined by `combine.py`), `attr_source` ("rules-v1:caption", or
"rules-v1:captions" when an image has several), `caption_agreement` (how much an image's captions
agree; NaN with one) and `attr_agreement` = the fraction of slots decided by both the labels and
the prompt on which they agree (NaN when no slot is decided by both). Parts, resume and ranks come
from the runner.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..contract import ATTRS_SCHEMA, NUM_MALS_ATTRIBUTES, caption_entries
from ..errors import UserError
from ..manifest import read_joined_part
from ..plan import load_plan
from ..ranks import ONE_PROCESS, Ranks
from ..runner import StageContext, StageSummary, run_stage
from ..stages import BY_NAME
from .combine import combine_groups
from .miner import RULES_VERSION, mine_many

STAGE = "attrs"


@dataclass(frozen=True)
class AttrsConfig:
    """`attrs` stage settings (pipeline YAML mapping `attrs:`)."""
    #: compare the mined labels with the plan's `prompt_attrs` (attr_agreement); False -> NaN
    agreement: bool = True


def agreement(mined: np.ndarray, intended: np.ndarray) -> np.ndarray:
    """Per row: agreeing / jointly decided slots of two (N, 27) label arrays; NaN if none."""
    both = (mined >= 0) & (intended >= 0)                  # (N, 27)
    n_both = both.sum(axis=1)                              # (N,)
    n_agree = (both & (mined == intended)).sum(axis=1)     # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n_both > 0, n_agree / np.maximum(n_both, 1), np.nan).astype(np.float32)


def _part_rows(ctx: StageContext, cfg: AttrsConfig) -> list[dict]:
    """The part's captions in plan order, with the plan's prompt_attrs when agreement is wanted."""
    plan = ["prompt_attrs"] if cfg.agreement else []
    try:
        return read_joined_part(ctx.run_dir, ctx.part.index, {"plan": plan, "caption": ["caption", "captions"]})
    except UserError:  # a caption part written before `captions` existed (a real fault raises again below)
        return read_joined_part(ctx.run_dir, ctx.part.index, {"plan": plan, "caption": ["caption"]})


def _process_part(ctx: StageContext, cfg: AttrsConfig) -> dict:
    rows = _part_rows(ctx, cfg)
    keys = [r["key"] for r in rows]
    texts = [[e["text"] for e in caption_entries(r)] for r in rows]
    counts = [len(t) for t in texts]
    labels, caption_agree = combine_groups(mine_many([c for t in texts for c in t]), counts)  # (N, 27), (N,)
    if cfg.agreement:
        unknown = [-1] * NUM_MALS_ATTRIBUTES
        intended = np.asarray([r["prompt_attrs"] or unknown for r in rows], np.int8).reshape(-1, NUM_MALS_ATTRIBUTES)
        agree = agreement(labels, intended)
    else:
        agree = np.full(len(keys), np.nan, dtype=np.float32)
    out = pa.Table.from_arrays([
        pa.array(keys, pa.string()),
        pa.FixedSizeListArray.from_arrays(pa.array(labels.reshape(-1), pa.int8()), NUM_MALS_ATTRIBUTES),
        pa.array([f"{RULES_VERSION}:{'captions' if n > 1 else 'caption'}" for n in counts], pa.string()),
        pa.array(agree, pa.float32()),
        pa.array(caption_agree, pa.float32()),
    ], schema=ATTRS_SCHEMA)
    with ctx.output(".parquet") as tmp:
        pq.write_table(out, tmp, compression="zstd")
    ctx.advance(len(keys))
    finite = agree[~np.isnan(agree)]
    return {"samples": len(keys), "decided_slots": int((labels >= 0).sum()),
            "empty_captions": sum(1 for n in counts if not n), "captions": sum(counts),
            "agreement_rows": int(finite.size), "agreement_sum": round(float(finite.sum()), 4)}


def run_attrs(run_dir: str | Path, cfg: AttrsConfig, *, ranks: Ranks = ONE_PROCESS, progress: bool = True,
              echo: Callable[[str], None] | None = print) -> StageSummary:
    """Mine attributes for every captioned part of the run this rank owns (resumable); echo=None is silent."""
    plan = load_plan(run_dir)
    return run_stage(STAGE, run_dir, plan.parts, lambda ctx: _process_part(ctx, cfg), ranks=ranks,
                     requires=BY_NAME[STAGE].requires, progress=progress, echo=echo)
