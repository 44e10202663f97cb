"""The one stage runner: a plan split into parts, resumable, shared across processes.

Every stage of `mals` calls `run_stage`. A part is the unit of work (a few thousand samples:
one parquet manifest part, its images in one tar, its stats). The runner

* deals parts round-robin over `rank / world_size` (flags, `accelerate launch`, `torchrun`, Slurm);
* skips parts whose done marker `part-NNNNN.done.json` exists, so rerunning resumes;
* takes a lock per part (`locks.py`), so a second process on the same rank works on other parts;
* deletes leftovers of a killed attempt at a part it owns (and holds the lock of) before redoing it;
* writes the done marker (which is also the part's stats JSON) only after the part's outputs
  were renamed into place, so a part is either complete or redone, never half-counted;
* shows one progress bar (total and ETA) and ends with a one-line summary and `stats.json`.

The stage itself only provides `process_part(ctx) -> stats dict` and writes its files through
`ctx.output(...)` (atomic).
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from tqdm import tqdm

from .errors import UserError
from .fsutil import TMP_MARK, atomic_path, write_json_atomic
from .locks import LOCK_SUFFIX, PartClaims
from .ranks import ONE_PROCESS, Ranks

DONE_SUFFIX = ".done.json"


@dataclass(frozen=True)
class PartSpec:
    """Samples [start, stop) of the plan form part `index`."""
    index: int
    start: int
    stop: int

    @property
    def size(self) -> int:
        return self.stop - self.start

    @property
    def name(self) -> str:
        return part_name(self.index)


def part_name(index: int) -> str:
    return f"part-{index:05d}"


class PartList(Sequence[PartSpec]):
    """The parts of a plan, computed on demand: memory does not grow with the number of parts."""

    def __init__(self, n_samples: int, part_size: int):
        self.n_samples, self.part_size = n_samples, part_size

    def __len__(self) -> int:
        return -(-self.n_samples // self.part_size) if self.n_samples > 0 else 0

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        start = index * self.part_size
        return PartSpec(index, start, min(start + self.part_size, self.n_samples))

    def __iter__(self) -> Iterator[PartSpec]:
        return (self[i] for i in range(len(self)))

    def count_owned(self, ranks: Ranks) -> int:
        """How many parts `ranks` owns under the round-robin deal (arithmetic, no loop)."""
        return len(range(ranks.rank, len(self), ranks.world_size))


def split_into_parts(n_samples: int, part_size: int) -> PartList:
    """Cut `n_samples` into parts of `part_size` (the last one may be shorter)."""
    if part_size < 1:
        raise UserError(f"part size must be at least 1, got {part_size}")
    return PartList(n_samples, part_size)


@dataclass
class StageContext:
    """What `process_part` gets: its part, its folder, atomic outputs and the progress bar."""
    stage: str
    run_dir: Path
    stage_dir: Path
    part: PartSpec
    _bar: tqdm | None = None

    def path(self, suffix: str) -> Path:
        """Final path of one of this part's outputs, e.g. ctx.path('.parquet')."""
        return self.stage_dir / f"{self.part.name}{suffix}"

    def output(self, suffix: str):
        """Context manager yielding a temporary path renamed to ctx.path(suffix) on success."""
        return atomic_path(self.path(suffix))

    def upstream(self, stage: str, suffix: str) -> Path:
        return self.run_dir / stage / f"{self.part.name}{suffix}"

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)


@dataclass
class StageSummary:
    stage: str
    parts_total: int
    parts_done_now: int = 0
    parts_skipped: int = 0
    parts_waiting: list[int] = field(default_factory=list)
    parts_busy: int = 0          # parts another live process held the lock of (see locks.py)
    samples_now: int = 0
    seconds: float = 0.0
    totals: dict = field(default_factory=dict)

    def line(self) -> str:
        rate = self.samples_now / self.seconds if self.seconds > 0 else 0.0
        extra = "".join(f", {k} {v}" for k, v in self.totals.items() if not isinstance(v, dict))
        drops = self.totals.get("dropped") or {}
        drop_txt = ("; dropped " + ", ".join(f"{r} {n}" for r, n in sorted(drops.items()))) if drops else ""
        wait = f"; {len(self.parts_waiting)} part(s) wait for an upstream stage" if self.parts_waiting else ""
        wait += f"; {self.parts_busy} part(s) left to another process" if self.parts_busy else ""
        return (f"{self.stage}: {self.parts_done_now} part(s) done now, {self.parts_skipped} already done "
                f"of {self.parts_total}; {self.samples_now} samples in {self.seconds:.1f}s "
                f"({rate:.1f} samples/s){extra}{drop_txt}{wait}")


def is_done(stage_dir: Path, part: PartSpec) -> bool:
    return (stage_dir / f"{part.name}{DONE_SUFFIX}").exists()


def read_part_stats(stage_dir: Path) -> Iterator[dict]:
    for marker in sorted(stage_dir.glob(f"part-*{DONE_SUFFIX}")):
        yield json.loads(marker.read_text())


def aggregate_stats(stage_dir: Path) -> dict:
    """Sum the numeric stats of every done part; `dropped` counters are summed per reason."""
    totals: Counter = Counter()
    dropped: Counter = Counter()
    parts = 0
    for stats in read_part_stats(stage_dir):
        parts += 1
        for key, value in stats.items():
            if key == "dropped":
                dropped.update(value)
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and key != "part":
                totals[key] += value
    out = {"parts_done": parts, **dict(totals)}
    if dropped:
        out["dropped"] = dict(dropped)
    return out


def _clean_leftovers(stage_dir: Path, part: PartSpec) -> None:
    """Remove temporary files a killed attempt at this part left behind (only this rank owns it)."""
    for leftover in stage_dir.glob(f"{part.name}*{TMP_MARK}*"):
        leftover.unlink(missing_ok=True)


def run_stage(
    stage: str,
    run_dir: str | Path,
    parts: Sequence[PartSpec],
    process_part: Callable[[StageContext], dict],
    *,
    ranks: Ranks = ONE_PROCESS,
    requires: str | None = None,
    progress: bool = True,
    echo: Callable[[str], None] | None = None,
) -> StageSummary:
    """Process every part this rank owns that is not done yet; see the module docstring."""
    run_dir = Path(run_dir)
    stage_dir = run_dir / stage
    stage_dir.mkdir(parents=True, exist_ok=True)
    summary = StageSummary(stage, len(parts))
    todo: list[PartSpec] = []
    for part in parts:
        if not ranks.owns(part.index):
            continue
        if is_done(stage_dir, part):
            summary.parts_skipped += 1
        elif requires and not is_done(run_dir / requires, part):
            summary.parts_waiting.append(part.index)
        else:
            todo.append(part)

    started = time.perf_counter()
    total = sum(p.size for p in todo)
    bar = tqdm(total=total, desc=stage, unit="sample", disable=not progress or total == 0,
               file=sys.stderr, mininterval=0.5, dynamic_ncols=True)
    claims = PartClaims(todo, lambda p: stage_dir / f"{p.name}{LOCK_SUFFIX}", partial(is_done, stage_dir))
    try:
        for part in claims:  # only parts whose lock this process holds (locks.py)
            _clean_leftovers(stage_dir, part)
            ctx = StageContext(stage, run_dir, stage_dir, part, bar)
            part_started = time.perf_counter()
            stats = dict(process_part(ctx) or {})
            stats.setdefault("samples", part.size)
            stats.update(part=part.index, seconds=round(time.perf_counter() - part_started, 3))
            # The marker goes last: a part counts as done only once all its outputs are in place.
            write_json_atomic(stage_dir / f"{part.name}{DONE_SUFFIX}", stats)
            summary.parts_done_now += 1
            summary.samples_now += stats["samples"]
    finally:
        claims.close()
        bar.close()
    summary.parts_busy = len(claims.busy)
    summary.parts_skipped += claims.done_meanwhile  # finished by another process while we worked
    if claims.all_busy_line(stage):
        raise UserError(claims.all_busy_line(stage))
    summary.seconds = time.perf_counter() - started
    totals = aggregate_stats(stage_dir)
    write_json_atomic(stage_dir / "stats.json", {"stage": stage, "parts_total": len(parts), **totals})
    summary.totals = {k: v for k, v in totals.items() if k not in ("seconds", "parts_done", "samples")}
    if echo is not None:
        echo(summary.line())
    return summary
