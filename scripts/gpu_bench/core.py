"""What every row family shares: the size profiles, the run context, timing, memory and inputs.

A row is measured as warm-up calls, then timed calls until the planned number or the row's cap
is reached; the device is synchronised before every host-timer read, so GPU work queued by a
call is inside its time. Peak memory is `torch.cuda.max_memory_allocated` since the row's reset
(on CPU the process's peak RSS so far, which cannot be reset: tiny runs only).
"""

from __future__ import annotations

import io
import os
import random
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

BERT_VOCAB_SIZE = 30522  # bert-base-uncased; APTM's and BLIP's text towers use it (BLIP adds 2)


@dataclass(frozen=True)
class Profile:
    """Every size of a run. `full` is what the issue asks for; `tiny` keeps each row's code path."""

    name: str
    size: str  # "full" | "tiny": which architecture configs
    dtype: str = "bfloat16"  # inference models (training compares fp32 and bf16)
    gen_hw: tuple[int, int] = (512, 256)  # (H, W) of generated images
    gen_batch: int = 16
    gen_batches: int = 4  # timed batches per generation setting
    turbo_steps: tuple[int, ...] = (1, 4)
    sd15_steps: int = 25
    sd15_guidance: float = 7.5
    sd15_batches: int = 2
    caption_batch: int = 64
    caption_max_new_tokens: int | None = None  # None = the caption preset's (40)
    caption_batches: int = 3
    clip_batch: int = 256
    clip_batches: int = 4
    aptm: str = "aptm-base"
    train_batch: int = 32
    train_steps: int = 10
    train_warmup: int = 3
    eval_queries: int = 6156  # CUHK-PEDES test split
    eval_images: int = 3074
    eval_k: int = 128
    loop_queries: int = 200  # per-query loop: timed on this many, extrapolated
    eval_batch: int = 256
    loader_images: int = 2000
    loader_tars: int = 32
    loader_workers: int = field(default_factory=lambda: min(16, os.cpu_count() or 1))
    compile_backend: str | None = None  # None = torch.compile's default (inductor)
    # tiny: one intra-op thread; on a shared 2-core machine two spinning OpenMP threads ran 8x slower
    torch_threads: int | None = None
    cap_s: float = 30.0  # stop timing a row after this many seconds
    min_s: dict = field(
        default_factory=lambda: {  # a step is skipped when less budget is left
            "gen": 25,
            "train": 25,
            "eval": 40,
            "loader": 20,
            "caption": 30,
            "clip": 10,
            "sd15": 30,
            "compile": 150,
        }
    )


FULL = Profile("full", "full")
TINY = Profile(
    "tiny",
    "tiny",
    dtype="float32",
    gen_hw=(64, 32),
    gen_batch=2,
    gen_batches=1,
    sd15_steps=3,
    sd15_batches=1,
    caption_batch=4,
    caption_max_new_tokens=8,
    caption_batches=1,
    clip_batch=8,
    clip_batches=1,
    aptm="aptm-tiny",
    train_batch=4,
    train_steps=1,
    train_warmup=1,
    eval_queries=16,
    eval_images=8,
    eval_k=8,
    loop_queries=4,
    eval_batch=8,
    loader_images=64,
    loader_tars=4,
    loader_workers=2,
    compile_backend="eager",
    torch_threads=1,
    min_s={k: 0 for k in FULL.min_s},
)


# smoke: TINY's least work per row with the FULL architectures, on CPU, so a broken full-size path
# (a config that no longer builds, a shape that only full sizes hit) shows up before GPU time is
# spent. Its samples/s say nothing about a GPU. Compiled rows are left to the GPU run.
SMOKE = replace(
    TINY,
    name="smoke",
    size="full",
    gen_hw=FULL.gen_hw,
    aptm=FULL.aptm,
    torch_threads=None,
    gen_batch=1,
    turbo_steps=(1,),
    sd15_steps=1,
    caption_batch=1,
    caption_max_new_tokens=4,
    clip_batch=4,
    train_batch=2,
    eval_queries=8,
    eval_images=4,
    eval_k=4,
    loop_queries=2,
    eval_batch=4,
)


class Skip(Exception):
    """Raised inside a family when the budget cannot cover its next step."""


@dataclass
class Bench:
    profile: Profile
    device: object  # torch.device
    dtype: object  # torch dtype of inference models
    workdir: Path
    budget_s: float
    echo: Callable[[str], None] = print
    started: float = field(default_factory=time.perf_counter)
    cache: dict = field(default_factory=dict)  # inputs shared between families (JPEGs)

    @property
    def cuda(self) -> bool:
        return self.device.type == "cuda"

    def remaining(self) -> float:
        return self.budget_s - (time.perf_counter() - self.started)

    def need(self, step: str) -> None:
        """Skip the rest of a family when the budget left is below `step`'s minimum."""
        need = self.profile.min_s.get(step, 0)
        if self.remaining() <= 0 or self.remaining() < need:
            raise Skip(f"budget: {self.remaining():.0f} s left, {step} needs about {need} s")

    def sync(self) -> None:
        if self.cuda:
            import torch

            torch.cuda.synchronize(self.device)

    def reset_peak(self) -> None:
        if self.cuda:
            import torch

            self.sync()
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats(self.device)

    def peak_gib(self) -> float:
        if self.cuda:
            import torch

            return torch.cuda.max_memory_allocated(self.device) / 2**30
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB, process peak

    def timed(
        self, fn: Callable[[], object], *, items_per_call: int, warmup: int = 1, calls: int = 1
    ) -> tuple[int, float]:
        """(items, seconds) of `calls` timed calls after `warmup` calls; stops early past the cap."""
        for _ in range(warmup):
            fn()
        self.sync()
        items, started = 0, time.perf_counter()
        for _ in range(calls):
            fn()
            self.sync()
            items += items_per_call
            if time.perf_counter() - started > self.profile.cap_s:
                break
        return items, time.perf_counter() - started

    def row(
        self,
        name: str,
        *,
        items: int,
        seconds: float,
        unit: str,
        setting: dict,
        note: str = "",
        compares_with: str = "",
        **extra,
    ) -> dict:
        return {
            "row": name,
            "status": "ok",
            "samples_per_s": items / seconds,
            "unit": unit,
            "items": items,
            "seconds": seconds,
            "peak_mem_gib": self.peak_gib(),
            "memory": "cuda max_memory_allocated" if self.cuda else "cpu peak RSS of the process",
            "setting": setting,
            "note": note,
            "compares_with": compares_with,
            **extra,
        }

    def free(self) -> None:
        """Drop cached GPU blocks between families so each row's peak is its own."""
        import gc

        gc.collect()
        if self.cuda:
            import torch

            torch.cuda.empty_cache()


def params_m(module) -> float:
    """Parameters in millions: the JSON shows which size really ran (SD-2.1 UNet = 865.9)."""
    return round(sum(p.numel() for p in module.parameters()) / 1e6, 2)


def ratio(row: dict, baseline: dict, what: str) -> dict:
    """Attach `row / baseline` throughput to `row` (ours vs bare, batched vs loop...)."""
    row["ratio"] = row["samples_per_s"] / baseline["samples_per_s"]
    row["ratio_of"] = f"{row['row']} / {baseline['row']}: {what}"
    return row


# ---------------------------------------------------------------------------------------------
# Inputs: text and images of realistic size, made here (no data set is needed for speed).

# fmt: off
_WORDS = (
    "man", "woman", "person", "young", "old", "adult", "child", "wearing", "with", "and", "a", "an", "the",
    "of", "in", "on", "his", "her", "black", "white", "red", "blue", "green", "yellow", "purple", "gray",
    "grey", "brown", "pink", "orange", "dark", "light", "long", "short", "hair", "sleeves", "sleeve",
    "shirt", "t-shirt", "jacket", "coat", "dress", "skirt", "pants", "trousers", "jeans", "shorts", "shoes",
    "boots", "sneakers", "backpack", "bag", "handbag", "shoulder", "holding", "carrying", "walking",
    "standing", "glasses", "hat", "cap", "upper", "lower", "body", "clothes", "clothing", "striped",
    "plain", "logo", "front", "back", "side", "street", "road",
)
# fmt: on


def vocab_words() -> list[str]:
    from aptm_train.prompts import prompt_set

    words = set(_WORDS)
    for prompt in prompt_set("mals"):
        words.update(prompt.replace(",", " ").replace(".", " ").split())
    return sorted(w.lower() for w in words)


def write_vocab(folder: Path) -> Path:
    """A bert-base-sized WordPiece vocab.txt (30,522 entries, BERT's special-token ids).

    The real bert-base-uncased vocab ships only inside an 88 MB package that the GPU machine does
    not have; throughput depends on the vocab's size and the token counts, which this one keeps:
    every caption and attribute-prompt word is a whole-word entry, the rest is filler.
    """
    tokens = ["[PAD]"] + [f"[unused{i}]" for i in range(99)] + ["[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    chars = list("abcdefghijklmnopqrstuvwxyz0123456789.,'-!?")
    tokens += vocab_words() + chars + [f"##{c}" for c in chars]
    tokens += [f"w{i}" for i in range(BERT_VOCAB_SIZE - len(tokens))]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "vocab.txt"
    path.write_text("\n".join(tokens) + "\n")
    return path


def captions(n: int, seed: int = 0, words: int = 30) -> list[str]:
    """`n` captions of `words` words (CUHK-PEDES captions average ~23 words, MALS ~30)."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(_WORDS) for _ in range(words)) for _ in range(n)]


def pictures(n: int, height: int, width: int, seed: int = 0) -> list:
    """`n` PIL images with smooth structure (JPEG sizes and decode times like photos, not noise)."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        coarse = rng.integers(0, 256, (12, 6, 3), dtype=np.uint8)
        img = Image.fromarray(coarse).resize((width, height), Image.BICUBIC)
        noise = rng.integers(-12, 13, (height, width, 3))
        out.append(Image.fromarray((np.asarray(img, np.int16) + noise).clip(0, 255).astype(np.uint8)))
    return out


def jpeg(img, quality: int = 92) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()
