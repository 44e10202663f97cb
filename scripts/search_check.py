"""Does search find what a query asks for? Precision of attribute-matched results vs the base rate.

Runs `aptm-train search` for a few attribute queries over a shard folder (or, with --gallery, over
a folder of the same images named KEY.jpg) and, using the shards' mined attributes
(manifest.parquet), prints for each query the share of the top-K results that carry the asked
attributes next to that share in the whole gallery (what a random ranking gets).
Usage: python scripts/search_check.py CHECKPOINT SHARDS [--gallery FOLDER] [--top 10 50] [--rerank 32]
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

import pandas as pd

from mals_gen.contract import ATTR

# query -> {attribute slot: required label}; 0 = present for colours, gender 1 = man, 0 = woman
QUERIES = {
    "a man in a red shirt": {"gender": 1, "upper_red": 0},
    "a woman in a white top": {"gender": 0, "upper_white": 0},
    "a person wearing blue jeans": {"lower_blue": 0},
    "a woman in a skirt": {"gender": 0, "lower_type": 0},
}


def keys_from_search_output(out: str) -> list[str]:
    """Sample keys in rank order from `aptm-train search`'s table: each hit's stem (SHARD.tar/KEY or
    FOLDER/KEY.jpg)."""
    hits = re.findall(r"^\s*\d+\s+\S+\s+\S+\s+(\S+)\s*$", out, flags=re.MULTILINE)
    return [Path(hit).stem for hit in hits]


def ranked_keys(checkpoint: str, gallery: str, query: str, top: int, rerank: int) -> list[str]:
    out = subprocess.run([sys.executable, "-m", "aptm_train", "search", "--checkpoint", checkpoint,
                          "--gallery", gallery, "--top", str(top), "--rerank", str(rerank), "--no-progress", query],
                         capture_output=True, text=True, check=True).stdout
    return keys_from_search_output(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("shards")
    parser.add_argument("--gallery", help="search this folder of KEY.jpg images instead of the shards")
    parser.add_argument("--top", type=int, nargs="+", default=[50],
                        help="one table per K; each query is searched once (the top K is a prefix of the top max-K)")
    parser.add_argument("--rerank", type=int, default=32, help="ITC candidates re-ranked by ITM (0 = ITC only)")
    args = parser.parse_args()
    manifest = pd.read_parquet(Path(args.shards) / "manifest.parquet").set_index("key")
    attrs = manifest["attrs"].dropna()
    rows = {top: [] for top in args.top}
    for query, wanted in QUERIES.items():
        matches = attrs.map(lambda vec, wanted=wanted: all(vec[ATTR[s]] == v for s, v in wanted.items()))
        base = matches.mean()
        ranked = ranked_keys(args.checkpoint, args.gallery or args.shards, query, max(args.top), args.rerank)
        for top in args.top:
            keys = [k for k in ranked[:top] if k in attrs.index]
            hit = matches.loc[keys].mean() if keys else float("nan")
            rows[top].append(f"{query:<32}{100 * hit:>9.1f}%{100 * base:>9.1f}%"
                             f"{hit / base if base else float('nan'):>7.2f}")
    for top in args.top:
        print(f"{'query':<32}{'top-' + str(top):>10}{'gallery':>10}{'lift':>7}")
        print("\n".join(rows[top]))

if __name__ == "__main__":
    main()
