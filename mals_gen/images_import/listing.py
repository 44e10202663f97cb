"""The import's plan: plan.json records the source, and one listing part per part names its files.

An import run is appendable, unlike a generated one: plan.json's `source` holds everything that
decides what a file becomes (source path, detection and gate settings), and `n` is the number of
*source slots* (parts x part_size). `RUN/sources/part-NNNNN.parquet` lists the files of part N (key,
ref); once its done marker exists a part's files never change. A rerun lists the SOURCE again,
keeps every listed file where it is and deals only the new files into new parts after the last
one, so added files are imported without touching finished parts, and a kill anywhere (between
listing parts, before plan.json grows) reruns to the same listing.
"""
from __future__ import annotations

import dataclasses
import time
from pathlib import Path

import pyarrow as pa

from ..config import to_dict
from ..errors import UserError
from ..fsutil import write_json_atomic
from ..manifest import done_part_files, read_part, write_part
from ..plan import PLAN_FILE, RunPlan, load_plan
from ..ranks import Ranks
from ..runner import StageContext, run_stage
from .sources import IMAGE_SUFFIXES, Entry, list_source

LISTING = "sources"   # not the stage's name: a listing is per source file, not a manifest of samples
LISTING_SCHEMA = pa.schema([("key", pa.string()), ("ref", pa.string()), ("slot", pa.int64())])
SOURCE_KIND = "images"


def source_record(source: str | Path, cfg) -> dict:
    """What plan.json stores about the import: a rerun must agree on all of it to append."""
    return {"kind": SOURCE_KIND, "path": str(Path(source).resolve()), "detect_persons": cfg.detect_persons,
            "detector": cfg.detector if cfg.detect_persons else "none", "detect_height": cfg.detect_height,
            "gate": to_dict(cfg.gate), "jpeg_quality": cfg.jpeg_quality, "path_column": cfg.path_column}


def is_import_plan(plan: RunPlan) -> bool:
    return plan.source.get("kind") == SOURCE_KIND


def _listed_keys(run_dir: Path) -> tuple[set[str], int]:
    """Keys of every finished listing part, and how many parts they fill."""
    files = done_part_files(run_dir, LISTING)
    keys: set[str] = set()
    for index in range(len(files)):
        keys.update(read_part(run_dir, LISTING, index, ["key"]).column("key").to_pylist())
    return keys, len(files)


def _check_same_source(run_dir: Path, record: dict, part_size: int) -> None:
    if not (run_dir / PLAN_FILE).exists():
        return
    old = load_plan(run_dir)
    if not is_import_plan(old):
        raise UserError(f"{run_dir} is a generated run, not an import: choose a new --out for `mals import images`")
    for name, value in (("part_size", part_size), *record.items()):
        before = old.part_size if name == "part_size" else old.source.get(name)
        if before != value:
            raise UserError(f"{run_dir / PLAN_FILE} was imported with {name}={before!r}, not {value!r}: "
                            "rerun with the original settings to add files, or choose a new --out")


def extend_plan(run_dir: Path, source: str | Path, cfg, ranks: Ranks, progress: bool, echo) -> RunPlan:
    """List SOURCE, deal new files into new listing parts, grow plan.json; returns the plan."""
    record = source_record(source, cfg)
    _check_same_source(run_dir, record, cfg.part_size)
    if ranks.rank != 0:   # only rank 0 lists (one writer); the others import the parts it planned
        return _wait_for_listing(run_dir)
    entries = list_source(source, cfg.path_column)
    known, n_done = _listed_keys(run_dir)
    if not entries:
        raise UserError(f"import source {source} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    new = [e for e in entries if e.key not in known]
    chunks = [new[i:i + cfg.part_size] for i in range(0, len(new), cfg.part_size)]
    plan = RunPlan(n=(n_done + len(chunks)) * cfg.part_size, part_size=cfg.part_size, seed=0,
                   key_prefix=cfg.key_prefix, source=record,
                   config={**to_dict(cfg), "backend": "import"})
    write_json_atomic(run_dir / PLAN_FILE, dataclasses.asdict(plan))
    if echo and new:
        echo(f"import: {len(entries)} files in {source}, {len(new)} new -> {len(chunks)} new part(s)")

    def list_part(ctx: StageContext) -> dict:
        chunk: list[Entry] = chunks[ctx.part.index - n_done]
        rows = [{"key": e.key, "ref": e.ref, "slot": ctx.part.start + i} for i, e in enumerate(chunk)]
        write_part(ctx.path(".parquet"), rows, LISTING_SCHEMA)
        ctx.advance(ctx.part.size)
        return {"samples": len(rows)}

    run_stage(LISTING, run_dir, plan.parts, list_part, progress=False, echo=None)
    return plan


def _wait_for_listing(run_dir: Path, timeout_s: float = 600.0, poll_s: float = 1.0) -> RunPlan:
    """Other ranks: the plan once rank 0 has listed every part of it (started together, rank 0 may lag)."""
    deadline = time.monotonic() + timeout_s
    while True:
        if (run_dir / PLAN_FILE).exists():
            plan = load_plan(run_dir)
            if len(done_part_files(run_dir, LISTING)) >= len(plan.parts):
                return plan
        if time.monotonic() > deadline:
            raise UserError(f"{run_dir}: rank 0 has not listed the import source within {timeout_s:.0f}s; "
                            "start rank 0 (it lists the files), then rerun this rank")
        time.sleep(poll_s)


def read_listing(run_dir: Path, index: int) -> list[dict]:
    return read_part(run_dir, LISTING, index).to_pylist()
