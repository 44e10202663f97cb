"""Evaluation rows at the CUHK-PEDES test size: ITC encoding, then ITM re-ranking of the top k.

Uses the evaluator's own functions with the eval CLI's defaults (bf16 autocast, RetrievalSettings):
`encode_image_stream` over JPEG bytes (decode + test transform + Swin, as `aptm-train eval`
reads a split), `encode_texts`, the batched `rerank` (32 queries per chunk, 512 pairs per fusion
call) over every query, and the original's `itm_per_query` loop timed on the first
`loop_queries` queries and extrapolated to all of them (the full loop would take minutes).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from .core import Bench, captions, params_m, ratio, write_vocab
from .models import aptm, aptm_config
from .training import bench_jpegs

PUBLISHED = "APTM's own evaluation is the per-query loop (one fusion call of k pairs per query)"


def eval_rows(bench: Bench) -> Iterator[dict]:
    import torch

    from aptm_train.data.transforms import test_transform
    from aptm_train.eval.encode import Encoder, encode_image_stream, encode_texts
    from aptm_train.eval.rerank import itm_per_query, rerank
    from aptm_train.eval.retrieval import RetrievalSettings
    from aptm_train.text import build_tokenizer

    bench.need("eval")
    p = bench.profile
    cfg = aptm_config(p.aptm, write_vocab(bench.workdir / "vocab"))
    model = aptm(cfg, bench.device).eval()
    precision = "bf16" if bench.dtype == torch.bfloat16 else "fp32"
    enc = Encoder(
        model,
        build_tokenizer(cfg),
        test_transform(tuple(cfg.vision.img_size), "cuhk-pedes"),
        bench.device,
        batch_size=p.eval_batch,
        precision=precision,
        progress=False,
    )
    settings = RetrievalSettings(k=p.eval_k)
    jpgs = bench_jpegs(bench, p.eval_images, tuple(cfg.vision.img_size))
    texts = captions(p.eval_queries, seed=5, words=23)
    base = {
        "model": f"{p.aptm} (random init)",
        "params_m": params_m(model),
        "precision": precision,
        "queries": p.eval_queries,
        "images": p.eval_images,
        "k": settings.k,
        "encode_batch": p.eval_batch,
    }

    encode_image_stream(enc, jpgs[: p.eval_batch], p.eval_batch)  # warm-up (kernels, allocator)
    bench.reset_peak()
    out: dict = {}  # results of the timed calls
    items, sec = bench.timed(
        lambda: out.__setitem__("gallery", encode_image_stream(enc, jpgs, len(jpgs))),
        items_per_call=len(jpgs),
        warmup=0,
        calls=1,
    )
    gallery = out["gallery"]  # feats (G, E), tokens (G, T, Dv)
    yield bench.row(
        "eval.itc-images",
        items=items,
        seconds=sec,
        unit="images",
        setting=base,
        note="JPEG decode + test transform + Swin encoder, gathered (tokens kept for ITM)",
    )
    bench.reset_peak()
    items, sec = bench.timed(
        lambda: out.__setitem__("t", encode_texts(enc, texts)), items_per_call=len(texts), warmup=0, calls=1
    )
    text_feats = out["t"]  # (Q, E)
    yield bench.row(
        "eval.itc-texts",
        items=items,
        seconds=sec,
        unit="queries",
        setting=base,
        note="tokenise + BERT text layers + projection",
    )

    bench.need("eval")
    chunk = {**base, "query_chunk": settings.query_chunk, "pair_batch": settings.pair_batch}
    rerank(
        enc,
        texts[: settings.query_chunk],
        text_feats,
        gallery.feats,
        gallery.tokens,
        k=settings.k,
        query_chunk=settings.query_chunk,
        pair_batch=settings.pair_batch,
    )  # warm-up
    bench.reset_peak()
    items, sec = bench.timed(
        lambda: rerank(
            enc,
            texts,
            text_feats,
            gallery.feats,
            gallery.tokens,
            k=settings.k,
            query_chunk=settings.query_chunk,
            pair_batch=settings.pair_batch,
        ),
        items_per_call=len(texts),
        warmup=0,
        calls=1,
    )
    batched = bench.row(
        "eval.rerank.batched",
        items=items,
        seconds=sec,
        unit="queries",
        setting=chunk,
        note=f"all {len(texts)} queries x top-{settings.k}",
        compares_with=PUBLISHED,
        pairs_per_s=items * settings.k / sec,
    )
    yield batched

    bench.need("eval")
    sub = min(p.loop_queries, len(texts))
    itm_per_query(enc, texts[:1], text_feats, gallery.feats, gallery.tokens, k=settings.k)  # warm-up
    bench.reset_peak()
    started = time.perf_counter()
    items, sec = bench.timed(
        lambda: itm_per_query(enc, texts[:sub], text_feats, gallery.feats, gallery.tokens, k=settings.k),
        items_per_call=sub,
        warmup=0,
        calls=1,
    )
    loop = bench.row(
        "eval.rerank.per-query",
        items=items,
        seconds=sec,
        unit="queries",
        setting={**base, "timed_queries": sub},
        note=f"timed on the first {sub} of {len(texts)} queries; the full loop would take about "
        f"{len(texts) * sec / items:.0f} s (extrapolated)",
        compares_with=PUBLISHED,
        pairs_per_s=items * settings.k / sec,
        extrapolated_full_s=len(texts) * sec / items,
        row_wall_s=time.perf_counter() - started,
    )
    ratio(batched, loop, "batched re-rank vs the original's per-query loop")
    yield loop
