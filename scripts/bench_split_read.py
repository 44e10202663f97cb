"""Benchmark: one validation pass reading only the val tars, against the old way, in the same run.

Before (the baseline, emulated here): open every tar of every split and decode every sample's
KEY.json to drop the samples of other splits, as validation did until shards were read by split.
After: `train.validate.val_samples`, which opens only the tars `splits.json` names for val. Both
collect the same samples (checked); the table prints tars opened, seconds (best of --repeat) and
the ratio.

    PYTHONPATH=. .venv/bin/python scripts/bench_split_read.py shards/quickstart
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import aptm_train.data.shards as shards_module
from aptm_train.data.shards import open_shards, read_tar, to_sample
from aptm_train.train.validate import val_samples


def old_way(shards, split: str = "val") -> list[str]:
    """Every tar of the folder, every KEY.json decoded, other splits dropped."""
    return [s.key for tar in shards.tars for s in map(to_sample, read_tar(tar)) if s.split == split]


def timed(fn, repeat: int) -> tuple[float, int, object]:
    """(best seconds, tars opened in one run, the result)."""
    opened, real = [], shards_module.iter_members

    def counting(path):
        opened.append(path)
        return real(path)

    best, result = float("inf"), None
    for _ in range(repeat):
        opened.clear()
        shards_module.iter_members = counting         # every shard tar is opened there (read_tar)
        try:
            t0 = time.perf_counter()
            result = fn()
            best = min(best, time.perf_counter() - t0)
        finally:
            shards_module.iter_members = real
    return best, len(opened), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("shards", type=Path, help="a shard folder with a val split (e.g. shards/quickstart)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each way; the best is kept")
    args = ap.parse_args()
    shards = open_shards(args.shards)
    t_old, n_old, keys_old = timed(lambda: old_way(shards), args.repeat)
    t_new, n_new, samples = timed(lambda: val_samples(shards, 0, "image"), args.repeat)
    if len(samples) != len(keys_old):
        raise SystemExit(f"the two ways disagree: {len(keys_old)} vs {len(samples)} val samples")
    print(f"{args.shards}: {len(shards.tars)} tars, {len(samples)} val samples in {len(shards.split_tars('val'))} tar(s)")
    print(f"{'validation read':40s} {'tars':>5s} {'seconds':>8s}")
    print(f"{'before: every tar, every JSON (emulated)':40s} {n_old:5d} {t_old:8.3f}")
    print(f"{'after: the val tars only':40s} {n_new:5d} {t_new:8.3f}")
    print(f"ratio before / after: {t_old / t_new:.1f}x (best of {args.repeat}; re-measure on an idle machine)")


if __name__ == "__main__":
    main()
