"""Benchmark caption styles: `mals styles` (embedding + k-means) and the caption stage's own overhead.

1. `mals styles` on N captions on CPU (goal: report the time for 100k): blanking, embedding with the
   bundled all-MiniLM-L6-v2 and k-means (scikit-learn), each timed; the baseline is the embedding
   alone (the floor of any embedding-based style miner), so the ratio is the whole / the floor.
   Texts: composer prompts (realistic, varied descriptions; no human set ships with the repo).
2. The caption stage with several captions per image (the prompt captioner following styles plus a
   tiny random text-only rewrite LM, `--captions-per-image 2`) on a sketch run: the stage's wall time
   vs the time spent inside the captioners' `caption` calls (the model calls); printed as the
   share of time outside the model call. A tiny model makes that share an upper bound: real models
   spend far longer inside the call.

    PYTHONPATH=. .venv/bin/python scripts/bench_styles.py [--n 100000] [--k 1000] [--images 200]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _texts(n: int) -> list[str]:
    from mals_gen.prompts.composer import PromptComposer

    rng, composer = np.random.default_rng(0), PromptComposer()
    return [composer.compose(rng)[0] for _ in range(n)]


def bench_styles(n: int, k: int) -> None:
    from mals_gen.styles.blank import blank_attributes
    from mals_gen.styles.mine import cluster_styles
    from mals_gen.text_encoder import SentenceEncoder

    texts = _texts(n)
    encoder = SentenceEncoder()
    encoder.encode(texts[:64])                                          # warm-up
    t0 = time.perf_counter()
    blanked = [blank_attributes(t) for t in texts]
    t1 = time.perf_counter()
    vectors = encoder.encode(blanked, progress=True)
    t2 = time.perf_counter()
    styles = cluster_styles(texts, vectors, k, seed=0)
    t3 = time.perf_counter()
    total, embed = t3 - t0, t2 - t1
    print(f"styles: {n} captions, k={k} -> {len(styles)} styles in {total:.1f} s ({n / total:.0f} captions/s): "
          f"blank {t1 - t0:.1f} s, embed {embed:.1f} s, k-means {t3 - t2:.1f} s")
    print(f"  baseline (embedding only) {n / embed:.0f} captions/s; whole / embedding = {total / embed:.2f}x")
    print(f"  extrapolated to 100k captions: {total * 100_000 / n / 60:.1f} min on this CPU "
          "(k-means grows with n * k: measure at full size for an exact figure)")


class _Timed:
    """Wraps a captioner; adds the time of its caption() calls to a shared counter."""

    def __init__(self, inner, spent: list[float]):
        self.inner, self.spent = inner, spent
        self.name, self.needs_images = inner.name, inner.needs_images

    def runtime(self) -> dict:
        return self.inner.runtime()

    def caption(self, items):
        t = time.perf_counter()
        out = self.inner.caption(items)
        self.spent[0] += time.perf_counter() - t
        return out


def bench_caption_stage(images: int) -> None:
    from mals_gen.caption import stage
    from mals_gen.caption.stage import CaptionConfig, run_caption
    from mals_gen.generate.config import GenerateConfig
    from mals_gen.generate.stage import run_generate
    from mals_gen.styles.mine import Style, write_styles
    from mals_gen.testing import save_tiny_causal_lm

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        run_generate(tmp / "run", GenerateConfig(backend="sketch", n=images, part_size=max(images // 2, 1)),
                     progress=False, echo=None)
        styles = write_styles([Style(i, t, ("x",), 1) for i, t in enumerate([
            "the [person] is wearing a [colour] [upper] and [colour] [lower] .",
            "[person] , [colour] [upper] , [colour] [lower] , carrying a [bag] .",
            "this [person] has [length] [hair] and a [colour] [upper] on ."])], tmp / "styles.json")
        lm = save_tiny_causal_lm(tmp / "lm", ["a", "man", "woman", "in", "red", "blue", "black", "shirt", "pants", "bag"])
        spent = [0.0]
        real = stage.build_captioner
        stage.build_captioner = lambda spec, cfg: _Timed(real(spec, cfg), spent)
        cfg = CaptionConfig(captioners=("prompt", f"rewrite={lm}"), captions_per_image=2, styles=str(styles),
                            max_new_tokens=8, batch_size=32, device="cpu", dtype="float32")
        t = time.perf_counter()
        run_caption(tmp / "run", cfg, progress=False, echo=None)
        wall = time.perf_counter() - t
        stage.build_captioner = real
    print(f"caption stage: {images} images x 2 captions in {wall:.2f} s ({2 * images / wall:.0f} captions/s); "
          f"inside the captioners {spent[0]:.2f} s; outside the model call {1 - spent[0] / wall:.1%} of the stage "
          "(includes loading the tiny LM once)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--k", type=int, default=1000)
    ap.add_argument("--images", type=int, default=200)
    args = ap.parse_args()
    bench_styles(args.n, args.k)
    bench_caption_stage(args.images)


if __name__ == "__main__":
    main()
