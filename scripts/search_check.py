"""Does search find what a query asks for? Precision of attribute-matched results vs the base rate.

Searches a shard folder (or, with --gallery, a folder of the same images named KEY.jpg) for a few
attribute queries with the search API behind `aptm-train search` (model and gallery index loaded
once for all queries) and, using the shards' mined attributes (manifest.parquet), prints for each
query the share of the top-K results that carry the asked attributes next to that share in the
whole gallery (what a random ranking gets).
Usage: python scripts/search_check.py CHECKPOINT SHARDS [--gallery FOLDER] [--top 10 50] [--rerank 32]
       [--itc-weight 0.002]
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from aptm_train.eval import ITC_WEIGHT
from aptm_train.search.session import open_search
from mals_gen.contract import ATTR
from mals_gen.errors import UserError, user_errors

# query -> {attribute slot: required label}; 0 = present for colours, gender 1 = man, 0 = woman
QUERIES = {
    "a man in a red shirt": {"gender": 1, "upper_red": 0},
    "a woman in a white top": {"gender": 0, "upper_white": 0},
    "a person wearing blue jeans": {"lower_blue": 0},
    "a woman in a skirt": {"gender": 0, "lower_type": 0},
}


@dataclass(frozen=True)
class Row:
    query: str
    top: int
    hit: float        # share of the top-K results (with known attributes) that match; nan if none known
    base: float       # share of the whole labelled gallery that matches


def key_of(item: str) -> str:
    """The sample key of a search hit: the stem of FOLDER/KEY.jpg or SHARD.tar/KEY (keys hold no dots)."""
    return Path(item).stem


def _to_stderr(msg: str) -> None:
    print(msg, file=sys.stderr)  # stdout carries only the table


class Searcher:
    """The checkpoint and the gallery's index, loaded once; `ranked_keys` runs one query."""

    def __init__(self, checkpoint: str | Path, gallery: str | Path, *, device: str = "auto",
                 batch_size: int = 64, norm: str = "mals"):
        # the search of `aptm-train search`: the index that command cached is reused
        self.session = open_search(checkpoint, gallery, device=device, batch_size=batch_size, norm=norm,
                                   echo=_to_stderr, progress=False)

    def ranked_keys(self, query: str, top: int, rerank: int, itc_weight: float = ITC_WEIGHT) -> list[str]:
        return [key_of(h.item) for h in self.session.search(query, top=top, rerank=rerank, itc_weight=itc_weight)]


def check(searcher: Searcher, shards: str | Path, tops: list[int], rerank: int,
          itc_weight: float = ITC_WEIGHT) -> list[Row]:
    """One Row per (query, K); each query is searched once (the top K is a prefix of the top max-K)."""
    path = Path(shards) / "manifest.parquet"
    if not path.is_file():
        raise UserError(f"{path}: no manifest; pass a shard folder written by mals shard or mals import")
    manifest = pd.read_parquet(path).set_index("key")
    attrs = manifest["mals_attrs"].dropna()
    rows = []
    for query, wanted in QUERIES.items():
        matches = attrs.map(lambda vec, wanted=wanted: all(vec[ATTR[s]] == v for s, v in wanted.items()))
        ranked = searcher.ranked_keys(query, max(tops), rerank, itc_weight)
        for top in tops:
            keys = [k for k in ranked[:top] if k in attrs.index]
            hit = float(matches.loc[keys].mean()) if keys else float("nan")
            rows.append(Row(query, top, hit, float(matches.mean())))
    return rows


def format_tables(rows: list[Row], tops: list[int]) -> str:
    """One table per K: query, share in the top K, share in the gallery, lift (their ratio)."""
    lines = []
    for top in tops:
        lines.append(f"{'query':<32}{'top-' + str(top):>10}{'gallery':>10}{'lift':>7}")
        for r in (r for r in rows if r.top == top):
            lift = r.hit / r.base if r.base else float("nan")
            lines.append(f"{r.query:<32}{100 * r.hit:>9.1f}%{100 * r.base:>9.1f}%{lift:>7.2f}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("checkpoint")
    parser.add_argument("shards")
    parser.add_argument("--gallery", help="search this folder of KEY.jpg images instead of the shards")
    parser.add_argument("--top", type=int, nargs="+", default=[50],
                        help="one table per K; each query is searched once (the top K is a prefix of the top max-K)")
    parser.add_argument("--rerank", type=int, default=32, help="ITC candidates re-ranked by ITM (0 = ITC only)")
    parser.add_argument("--itc-weight", type=float, default=ITC_WEIGHT,
                        help="re-ranked candidates ordered by ITM_norm + w x ITC_norm (aptm-train search --itc-weight)")
    parser.add_argument("--device", default="auto", help="auto | cpu | cuda")
    args = parser.parse_args()
    with user_errors("search_check"):
        searcher = Searcher(args.checkpoint, args.gallery or args.shards, device=args.device)
        print(format_tables(check(searcher, args.shards, args.top, args.rerank, args.itc_weight), args.top))


if __name__ == "__main__":
    main()
