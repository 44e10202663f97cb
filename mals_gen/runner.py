"""The one stage runner: a plan split into parts, resumable, shared across processes.

Every stage of `mals` calls `run_stage`. A part is the unit of work (a few thousand samples:
one parquet manifest part, its images in one tar, its stats). The runner

* deals parts round-robin over `rank / world_size` (flags, `accelerate launch`, `torchrun`, Slurm);
* skips parts whose done marker `RUN/state/<stage>/part-NNNNN.done.json` exists, so rerunning resumes;
* takes a lock per part (`locks.py`), so a second process on the same rank works on other parts;
* deletes leftovers of a killed attempt at a part it owns (and holds the lock of) before redoing it;
* writes the done marker (which is also the part's stats JSON) only after the part's outputs
  were renamed into place, so a part is either complete or redone, never half-counted;
* shows one progress bar (total and ETA) and ends with a summary (`summary.py`: one line, plus a
  small table when progress is shown) and `RUN/state/<stage>/stats.json`.

Where each file goes is decided in `layout.py` only.

The stage itself only provides `process_part(ctx) -> stats dict` and writes its files through
`ctx.output(...)` (atomic).
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from tqdm import tqdm

from . import layout
from .errors import UserError
from .fsutil import TMP_MARK, atomic_path, write_json_atomic
from .layout import DONE_SUFFIX, part_name
from .locks import LOCK_SUFFIX, PartClaims
from .ranks import ONE_PROCESS, Ranks
from .summary import StageSummary

__all__ = ["DONE_SUFFIX", "PartList", "PartSpec", "StageContext", "StageSummary", "aggregate_stats",
           "is_done", "part_name", "read_part_stats", "run_stage", "split_into_parts", "write_stage_stats"]

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
    """What `process_part` gets: its part, atomic outputs and the progress bar (paths: layout.py)."""
    stage: str
    run_dir: Path
    part: PartSpec
    _bar: tqdm | None = None

    @property
    def stage_dir(self) -> Path:
        return layout.manifest_dir(self.run_dir, self.stage)

    def path(self, suffix: str) -> Path:
        """Final path of one of this part's outputs: '.parquet' -> RUN/<stage>/, '.tar' -> RUN/images/,
        anything else -> RUN/state/<stage>/ (`layout.part_path`)."""
        return layout.part_path(self.run_dir, self.stage, self.part.index, suffix)

    @property
    def images_rel(self) -> str:
        """This part's image tar relative to RUN (the manifest's `image_path`)."""
        return layout.image_tar_rel(self.part.index, self.stage)

    def output(self, suffix: str):
        """Context manager yielding a temporary path (in the state folder, so manifest folders hold
        finished parquet only) renamed to ctx.path(suffix) on success."""
        final = self.path(suffix)
        final.parent.mkdir(parents=True, exist_ok=True)
        return atomic_path(final, tmp_dir=layout.state_dir(self.run_dir, self.stage))

    def upstream(self, stage: str, suffix: str = layout.MANIFEST_SUFFIX) -> Path:
        return layout.part_path(self.run_dir, stage, self.part.index, suffix)

    def advance(self, n: int = 1) -> None:
        if self._bar is not None:
            self._bar.update(n)


def is_done(run_dir: str | Path, stage: str, part: PartSpec) -> bool:
    return layout.done_path(run_dir, stage, part.index).exists()


def read_part_stats(run_dir: str | Path, stage: str) -> Iterator[dict]:
    for marker in layout.done_markers(run_dir, stage):
        yield json.loads(marker.read_text())


def aggregate_stats(run_dir: str | Path, stage: str) -> dict:
    """Sum the numeric stats of every done part; `dropped` counters are summed per reason."""
    totals: Counter = Counter()
    dropped: Counter = Counter()
    parts = 0
    for stats in read_part_stats(run_dir, stage):
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


def write_stage_stats(run_dir: str | Path, stage: str, parts_total: int) -> dict:
    """Write RUN/state/<stage>/stats.json from the done markers of every rank; returns the totals."""
    totals = aggregate_stats(run_dir, stage)
    write_json_atomic(layout.stats_path(run_dir, stage), {"stage": stage, "parts_total": parts_total, **totals})
    return totals


def _clean_leftovers(run_dir: Path, stage: str, part: PartSpec) -> None:
    """Remove temporary files a killed attempt at this part left behind (only this rank owns it)."""
    for folder in {layout.manifest_dir(run_dir, stage), layout.state_dir(run_dir, stage),
                   layout.images_dir(run_dir, stage)}:
        for leftover in folder.glob(f"*{part.name}*{TMP_MARK}*"):
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
    layout.check_layout(run_dir, stage)
    for folder in (layout.manifest_dir(run_dir, stage), layout.state_dir(run_dir, stage)):
        folder.mkdir(parents=True, exist_ok=True)
    summary = StageSummary(stage, len(parts), rank=ranks.rank, world_size=ranks.world_size,
                           output=str(layout.manifest_dir(run_dir, stage)))
    todo: list[PartSpec] = []
    for part in parts:
        if not ranks.owns(part.index):
            continue
        if is_done(run_dir, stage, part):
            summary.parts_skipped += 1
        elif requires and not is_done(run_dir, requires, part):
            summary.parts_waiting.append(part.index)
        else:
            todo.append(part)

    started = time.perf_counter()
    total = sum(p.size for p in todo)
    bar = tqdm(total=total, desc=stage, unit="sample", disable=not progress or total == 0,
               file=sys.stderr, mininterval=0.5, dynamic_ncols=True)
    lock_dir = layout.state_dir(run_dir, stage)
    claims = PartClaims(todo, lambda p: lock_dir / f"{p.name}{LOCK_SUFFIX}", partial(is_done, run_dir, stage))
    try:
        for part in claims:  # only parts whose lock this process holds (locks.py)
            _clean_leftovers(run_dir, stage, part)
            ctx = StageContext(stage, run_dir, part, bar)
            part_started = time.perf_counter()
            stats = dict(process_part(ctx) or {})
            stats.setdefault("samples", part.size)
            stats.update(part=part.index, seconds=round(time.perf_counter() - part_started, 3))
            # The marker goes last: a part counts as done only once all its outputs are in place.
            write_json_atomic(layout.done_path(run_dir, stage, part.index), stats)
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
    summary.totals = write_stage_stats(run_dir, stage, len(parts))
    if echo is not None:
        echo(summary.render(table=progress and sys.stdout.isatty()))
    return summary
