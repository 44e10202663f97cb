"""Do two runs of the same images mine the same attributes? (`mals attrs` output, joined by key.)

For captions that should say the same thing in other words (the prompt captioner with and
without `--styles`): identical 27-slot labels per image, slots both decide but differently, slots
only one decides, and each run's wrong decisions against the plan's prompt_attrs (the composer's
own labels; sketch runs only).

    .venv/bin/python scripts/attrs_agreement.py RUN_A RUN_B
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mals_gen.errors import UserError
from mals_gen.manifest import read_stage


def _labels(run: Path, stage: str, column: str) -> dict[str, list[int]]:
    frame = read_stage(run, stage, ["key", column])
    return dict(zip(frame["key"], frame[column]))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run_a", type=Path)
    ap.add_argument("run_b", type=Path)
    args = ap.parse_args(argv)
    a, b = _labels(args.run_a, "attrs", "mined_attrs"), _labels(args.run_b, "attrs", "mined_attrs")
    keys = sorted(set(a) & set(b))
    A, B = np.array([a[k] for k in keys]), np.array([b[k] for k in keys])   # (N, 27)
    both = (A >= 0) & (B >= 0)
    print(f"images {len(keys)}; identical labels {(A == B).all(1).mean():.4f}; slot agreement {(A == B).mean():.4f}")
    print(f"decided by both but different: {int((both & (A != B)).sum())} slots in "
          f"{int((both & (A != B)).any(1).sum())} images; decided only by {args.run_a.name}: "
          f"{int(((A >= 0) & (B < 0)).sum())}; only by {args.run_b.name}: {int(((A < 0) & (B >= 0)).sum())}")
    try:
        plan = _labels(args.run_a, "plan", "prompt_attrs")
    except (KeyError, ValueError, UserError):
        return 0                                        # no composer labels (imported photos)
    if all(k in plan and plan[k] is not None for k in keys):
        T = np.array([plan[k] for k in keys])
        for run, X in ((args.run_a, A), (args.run_b, B)):
            print(f"{run.name}: decided slots {int((X >= 0).sum())}, wrong vs prompt_attrs {int(((X >= 0) & (X != T)).sum())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
