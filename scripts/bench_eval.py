"""Benchmark the evaluator against the original's way, in the same run.

1. ITM re-ranking on aptm-tiny (random weights, 384 x 128 inputs): batched across queries
   (`rerank`) vs one fusion call per query (`itm_per_query`, the original's loop). Same candidates?
   Largest score difference? Speed ratio and pairs/s.
2. Metrics memory: peak RSS of `retrieval_metrics` (query chunks, sparse hits) on an N x N score
   matrix, above the matrix itself, vs a full-matrix sort (argsort all rows at once, as a naive
   evaluator does). Each measurement runs in a fresh process; the peak-RSS mark (VmHWM) is reset
   after the matrix is allocated (Linux /proc/self/clear_refs), so "extra" is the metric's own.

    .venv/bin/python scripts/bench_eval.py [--queries 256] [--gallery 256] [--k 128] [--sizes 5000 20000]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def bench_rerank(n_q: int, n_g: int, k: int, threads: int) -> None:
    import torch

    from aptm_train.eval.encode import Encoder
    from aptm_train.eval.rerank import itm_per_query, rerank
    from aptm_train.model.aptm import APTM
    from aptm_train.model.config import named_config
    from aptm_train.text import build_tokenizer

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    model = APTM.from_config(named_config("aptm-tiny")).eval()
    enc = Encoder(model, build_tokenizer(model.config), None, torch.device("cpu"), progress=False)
    words = ["man", "woman", "red", "blue", "black", "white", "shirt", "pants", "coat", "bag", "backpack",
             "shoes", "hair", "long", "short"]
    gen = torch.Generator().manual_seed(0)
    texts = [" ".join(words[i] for i in torch.randint(len(words), (12,), generator=gen)) for _ in range(n_q)]
    with torch.no_grad():
        pixels = torch.randn(n_g, 3, 384, 128, generator=gen)
        tokens, feats = zip(*(model.encode_image(pixels[s:s + 64]) for s in range(0, n_g, 64)))
        image_tokens, image_feats = torch.cat(tokens), torch.cat(feats)      # (G, 49, Dv), (G, E)
        text_feats = torch.cat([enc.text_feats(texts[s:s + 64]) for s in range(0, n_q, 64)])
    rows = []
    for name, fn in (("per-query loop (original)", lambda: itm_per_query(
            enc, texts, text_feats, image_feats, image_tokens, k=k)),
            ("batched (32 queries, 1024 pairs)", lambda: rerank(
                enc, texts, text_feats, image_feats, image_tokens, k=k, query_chunk=32, pair_batch=1024))):
        fn()                                                                  # warm-up
        t = time.perf_counter()
        out = fn()
        rows.append((name, time.perf_counter() - t, out))
    (_, t_loop, loop), (_, _, batch) = rows
    pairs = n_q * min(k, n_g)
    print(f"\nITM re-ranking, aptm-tiny random weights, {n_q} queries x top-{k} of {n_g} images "
          f"({pairs:,} pairs), {threads} thread(s)")
    print(f"{'method':<34}{'seconds':>9}{'pairs/s':>10}{'ratio':>8}")
    for name, sec, _ in rows:
        print(f"{name:<34}{sec:>9.2f}{pairs / sec:>10.0f}{t_loop / sec:>7.2f}x")
    same = torch.equal(loop.index, batch.index)
    print(f"same candidates: {same}; max |score difference|: {(loop.itm - batch.itm).abs().max().item():.2e}")


def _status_kb(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def _reset_peak_kb() -> int:
    """Reset the peak-RSS mark to the current RSS (Linux clear_refs 5); return the current RSS (kB)."""
    Path("/proc/self/clear_refs").write_text("5")
    return _status_kb("VmRSS")


def _peak_kb() -> int:
    return _status_kb("VmHWM")


def _metrics_child(n: int, method: str) -> dict:
    """Runs in a fresh process: allocate the N x N matrix, then measure the metric's extra peak."""
    import torch

    from aptm_train.eval.metrics import retrieval_metrics

    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    sim = torch.rand(n, n, generator=gen)                                     # (N, N) fp32
    ids = torch.arange(n) // 4                                                # 4 images per person
    base = _reset_peak_kb()
    t = time.perf_counter()
    if method == "chunked":
        m = retrieval_metrics(sim, ids, ids)
    else:                           # naive: one full-matrix sort, dense hit matrix, dense cumsum
        order = torch.sort(sim, dim=1, descending=True, stable=True).indices  # (N, N) int64
        hits = ids[order] == ids[:, None]                                     # (N, N)
        ranks = torch.arange(1, n + 1, dtype=torch.float64)
        cum = hits.cumsum(1)                                                  # (N, N) int64
        ap = ((cum / ranks) * hits).sum(1) / hits.sum(1)
        m = {"R@1": 100 * hits[:, 0].double().mean().item(), "mAP": 100 * ap.mean().item()}
    sec = time.perf_counter() - t
    peak = _peak_kb()
    return {"n": n, "method": method, "seconds": sec, "matrix_mb": sim.numel() * 4 / 2**20,
            "extra_mb": (peak - base) / 1024, "R@1": m["R@1"], "mAP": m["mAP"]}


def bench_metrics(sizes: list[int], baseline_max: int) -> None:
    print("\nMetrics memory (peak RSS above the fp32 score matrix; fresh process each)")
    print(f"{'N x N':<14}{'method':<22}{'matrix MB':>10}{'extra MB':>10}{'seconds':>9}{'R@1':>8}{'mAP':>8}")
    for n in sizes:
        for method in ("chunked", "full-matrix sort"):
            if method != "chunked" and n > baseline_max:
                print(f"{n:>6} x {n:<6}{method:<22}{'(skipped: > --baseline-max)':>30}")
                continue
            out = subprocess.run([sys.executable, __file__, "--child", str(n), method], capture_output=True,
                                 text=True, check=True)
            r = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"{n:>6} x {n:<6}{method:<22}{r['matrix_mb']:>10.0f}{r['extra_mb']:>10.0f}{r['seconds']:>9.2f}"
                  f"{r['R@1']:>8.3f}{r['mAP']:>8.3f}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=256)
    ap.add_argument("--gallery", type=int, default=256)
    ap.add_argument("--k", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sizes", type=int, nargs="*", default=[5000, 20000])
    ap.add_argument("--baseline-max", type=int, default=5000, help="largest N for the full-matrix baseline")
    ap.add_argument("--skip-rerank", action="store_true")
    ap.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(_metrics_child(int(args.child[0]), args.child[1])))
        return 0
    if not args.skip_rerank:
        bench_rerank(args.queries, args.gallery, args.k, args.threads)
    if args.sizes:
        bench_metrics(args.sizes, args.baseline_max)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
