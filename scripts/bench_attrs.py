"""Benchmark the attribute miner: captions/s of `mine_many` vs simple baselines, same run.

Texts: realistic captions built from the three dev-set styles' phrase patterns (CUHK-like,
ICFG-like long, BLIP-like with repetitions), once all distinct and once with BLIP-like
duplicates (a caption pool drawn with replacement, ~8 copies each). Baselines over the same texts:
  * split  : `str.lower()` + `split()` only (the floor of any tokenising labeller)
  * naive  : a per-keyword `in` scan labeller (a few dozen substring tests per caption)

Rates are captions per CPU-second of this process (`time.process_time`: "one core", and far
less noisy than wall time on a shared machine) and, beside them, per wall-clock second. Each
labeller runs once untimed on a small warm-up set first (imports, memo tables). The goal is
100k captions/s on one core (1.5M captions in 15 s).

    .venv/bin/python scripts/bench_attrs.py [--n 200000] [--seed 0]
"""
from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mals_gen.attrs.miner import COMPILED, mine_many

COLOURS = ["black", "white", "red", "blue", "gray", "grey", "green", "yellow", "pink", "purple",
           "brown", "navy", "khaki", "dark blue", "light blue", "beige", "orange"]
UPPER = ["shirt", "t-shirt", "jacket", "coat", "sweater", "hoodie", "top", "blouse", "tank top"]
LOWER = ["pants", "jeans", "shorts", "skirt", "trousers", "leggings", "short skirt", "long skirt"]
PEOPLE = [("man", "he", "his"), ("woman", "she", "her"), ("lady", "she", "her"), ("girl", "she", "her"),
          ("boy", "he", "his"), ("young man", "he", "his")]
EXTRAS = ["a black backpack", "a handbag", "a bag", "a purse", "a hat", "a cap", "a shoulder bag"]


def _cuhk(r: random.Random) -> str:
    p, pr, _ = r.choice(PEOPLE)
    return (f"The {p} has {r.choice(['short', 'long'])} {r.choice(COLOURS)} hair. {pr.capitalize()} is wearing a "
            f"{r.choice(COLOURS)} {r.choice(UPPER)}, {r.choice(COLOURS)} {r.choice(LOWER)} and "
            f"{r.choice(COLOURS)} shoes. {pr.capitalize()} is carrying {r.choice(EXTRAS)}.")


def _icfg(r: random.Random) -> str:
    p, pr, pos = r.choice(PEOPLE)
    return (f"A {p} with {r.choice(['short', 'long', 'curly'])} hair is wearing a pair of glasses, a "
            f"{r.choice(COLOURS)} {r.choice(UPPER)} over a {r.choice(COLOURS)} {r.choice(UPPER)}, a pair of "
            f"{r.choice(COLOURS)} {r.choice(LOWER)} and a pair of {r.choice(COLOURS)} sneakers. {pos.capitalize()} "
            f"{r.choice(UPPER)} is {r.choice(COLOURS)} and {pr} is not carrying {r.choice(EXTRAS)}.")


def _blip(r: random.Random) -> str:
    p = r.choice(PEOPLE)[0]
    garment = f"a {r.choice(COLOURS)} {r.choice(UPPER)} and {r.choice(COLOURS)} {r.choice(LOWER)}"
    extra = r.choice(EXTRAS)
    return r.choice([f"a {p} in {garment} with {extra} and {extra}",
                     f"arafed {p} in {garment} and {garment}",
                     f"there is a {p} in {garment} walking down the street with {extra}"])


def make_texts(n: int, seed: int) -> list[str]:
    r = random.Random(seed)
    makers = (_cuhk, _icfg, _blip)
    return [makers[i % 3](r) for i in range(n)]


_NAIVE_KEYS = [("woman", 0), ("man", 0), ("she", 0), ("he ", 0), ("girl", 0), ("boy", 0), ("long hair", 2),
               ("short hair", 2), ("hat", 3), ("cap", 3), ("backpack", 4), ("handbag", 5), ("purse", 5),
               ("bag", 6), ("t-shirt", 7), ("jacket", 7), ("coat", 7), ("shorts", 8), ("pants", 8),
               ("jeans", 8), ("skirt", 9), ("dress", 9)] + [(f"{c} ", 10 + i) for i, c in enumerate(COLOURS[:8])]


def naive(texts: list[str]) -> np.ndarray:
    """The obvious labeller: lowercase, one substring test per keyword, no binding, no negation."""
    out = np.full((len(texts), 27), -1, dtype=np.int8)
    for row, text in enumerate(texts):
        low = text.lower()
        for key, slot in _NAIVE_KEYS:
            if key in low:
                out[row, slot] = 0
    return out


def split_only(texts: list[str]) -> int:
    return sum(len(t.lower().split()) for t in texts)


def timed(fn, texts) -> tuple[float, float]:
    """(captions per CPU-second, captions per wall-second) of one call fn(texts)."""
    cpu, wall = time.process_time(), time.perf_counter()
    fn(texts)
    return len(texts) / (time.process_time() - cpu), len(texts) / (time.perf_counter() - wall)


GOAL = 100_000


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    distinct = make_texts(args.n, args.seed)
    r = random.Random(args.seed + 1)
    pool = make_texts(max(args.n // 8, 1), args.seed + 2)  # BLIP-like duplication: ~8 copies each
    duplicated = [r.choice(pool) for _ in range(args.n)]
    warmup = make_texts(2000, args.seed + 3)
    print(f"{args.n} captions per set; distinct set has {len(set(distinct))} unique, "
          f"duplicated set {len(set(duplicated))} unique; one process, one core; "
          f"miner's pass {'compiled (mypyc)' if COMPILED else 'plain Python (no build: setup.py)'}")
    print(f"{'labeller':<26}{'distinct c/s':>14}{'duplicated c/s':>16}{'(wall: distinct':>17}{'duplicated)':>13}")
    rows = [("split (lower+split only)", split_only), ("naive keyword in-scan", naive), ("mine_many (ours)", mine_many)]
    rates = {}
    for name, fn in rows:
        fn(warmup)
        (cd, wd), (cu, wu) = timed(fn, distinct), timed(fn, duplicated)
        rates[name] = (cd, cu)
        print(f"{name:<26}{cd:>14,.0f}{cu:>16,.0f}{wd:>17,.0f}{wu:>13,.0f}")
    ours = rates["mine_many (ours)"]
    for name in ("naive keyword in-scan", "split (lower+split only)"):
        base = rates[name]
        print(f"ratio ours / {name}: distinct {ours[0] / base[0]:.2f}x, duplicated {ours[1] / base[1]:.2f}x")
    print(f"ratio ours / goal ({GOAL:,}/s): distinct {ours[0] / GOAL:.2f}, duplicated {ours[1] / GOAL:.2f}; "
          f"1.5M captions take distinct {1.5e6 / ours[0]:.1f}s, duplicated {1.5e6 / ours[1]:.1f}s of CPU "
          f"(goal 15s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
