"""Benchmark: what a loader worker pays to pass over the samples it does not own, in the same run.

Every worker reads every tar of a pass and keeps the pairs dealt to it (q mod W, see the pipeline's
docstring in aptm_train/data/pipeline.py), so with W workers each worker walks W samples per pair
it trains on. Baseline: every sample's KEY.json parsed before the worker knows whether it owns the
sample (what `select` does in a tar that mixes splits). Ours: in a tar holding this split only, the
manifest's layout tells a foreign sample without parsing it. With R ranks each rank's workers
walk R x W samples per own pair. For R ranks (rank 0 read) and W logical workers, both ways run
the reading stages (tar walk + select) of one epoch for every worker in turn, keep the same pairs
(checked), and print milliseconds per own pair (best of --repeat) and the ratio.

    .venv/bin/python scripts/bench_select.py --shards shards/quickstart
    .venv/bin/python scripts/bench_select.py --shards shards/quickstart --workers 1 2 4 8
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

from aptm_train.data.pipeline import make_spec, selected
from aptm_train.data.shards import open_shards


def read_epoch(spec) -> tuple[float, list[tuple[str, int]]]:
    """(seconds, the (key, caption index) of every pair) of every worker's reading stages, in turn."""
    pairs = []
    started = time.perf_counter()
    for worker in range(spec.workers):
        for item in selected(spec, worker):
            pairs.append((item["sample"].key, item["caption_index"]) if "sample" in item else ("bad", 0))
    return time.perf_counter() - started, pairs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", type=Path, default=Path("shards/quickstart"), help="a shard folder (make demo builds this one)")
    ap.add_argument("--split", default="train")
    ap.add_argument("--workers", type=int, nargs="+", default=[1, 2, 8])
    ap.add_argument("--world", type=int, nargs="+", default=[1, 4],
                    help="ranks to emulate (rank 0's stream is read): each rank's workers walk every tar too")
    ap.add_argument("--repeat", type=int, default=3, help="runs of each way; the best is kept")
    args = ap.parse_args()
    shards = open_shards(args.shards)
    print(f"{args.shards} {args.split}: {len(shards.split_tars(args.split))} tars, "
          f"{len(shards.pure_tars(args.split))} of them holding this split only")
    print(f"{'ranks':>5s} {'workers':>7s} {'pairs':>7s} {'parse all ms/pair':>18s} {'ours ms/pair':>13s} {'ratio':>6s}")
    for world, w in ((r, w) for r in args.world for w in args.workers):
        ours = make_spec(shards, args.split, num_workers=w, world=world)
        baseline = replace(ours, pure=frozenset())
        best = {}
        for name, spec in (("baseline", baseline), ("ours", ours)):
            runs = [read_epoch(spec) for _ in range(args.repeat)]
            best[name] = min(t for t, _ in runs), sorted(runs[0][1])
        if best["baseline"][1] != best["ours"][1]:
            raise SystemExit(f"{world} ranks, {w} workers: the two ways keep different pairs")
        n = len(best["ours"][1])
        base_ms, ours_ms = (1e3 * best[k][0] / n for k in ("baseline", "ours"))
        print(f"{world:5d} {w:7d} {n:7d} {base_ms:18.3f} {ours_ms:13.3f} {base_ms / ours_ms:5.2f}x")
    print(f"best of {args.repeat} per way; pairs = one epoch of rank 0's pairs, summed over its workers")


if __name__ == "__main__":
    main()
