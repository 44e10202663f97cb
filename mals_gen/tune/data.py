"""Tuning data: (image, caption) pairs of a shard folder, each step's batch a pure function of the step.

The index comes from the shards' manifest.parquet (key, shard, split, captions), so building it
reads no image. Which samples, which caption and which captions are dropped at step s depend
only on (seed, s), so a resumed run sees exactly the batches an uninterrupted run would.
Images are resized to fit the target frame keeping their aspect and padded with mid-grey (0 after
normalisation), never squashed. A broken image is skipped with one warning line, counted and listed.
"""
from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserError
from ..tario import PartTar

PAD_VALUE = 127  # mid-grey: zero in the model's [-1, 1] pixel range


@dataclass(frozen=True)
class Pair:
    key: str
    shard: str
    captions: tuple[str, ...]


@dataclass
class Skipped:
    """Images that could not be decoded: key -> reason (each warned about once)."""
    reasons: dict = field(default_factory=dict)


def read_index(shards: str | Path, split: str) -> list[Pair]:
    """The captioned samples of one split, in manifest order; one-line errors for unusable folders."""
    import pyarrow.parquet as pq

    folder = Path(shards)
    manifest = folder / "manifest.parquet"
    if not manifest.is_file():
        raise UserError(f"{folder} has no manifest.parquet: it is not a shard folder; build one with "
                        "`mals shard RUN --out FOLDER` or `mals import DATASET ... --out FOLDER`")
    table = pq.read_table(manifest, columns=["key", "shard", "split", "captions"]).to_pylist()
    in_split = [r for r in table if r["split"] == split]
    if not in_split:
        raise UserError(f"{folder} has no samples in split {split!r}; pass --split train, val or test")
    pairs = [Pair(r["key"], r["shard"], tuple(c for c in r["captions"] or () if c and c.strip()))
             for r in in_split]
    pairs = [p for p in pairs if p.captions]
    if not pairs:
        raise UserError(f"{folder}: none of the {len(in_split)} {split} samples has a caption, and the generator "
                        "learns from (image, caption) pairs: caption them first (`mals caption RUN`, then "
                        "`mals shard`), or pick shards of a captioned dataset (CUHK-PEDES, ICFG-PEDES, RSTPReid)")
    return pairs


def letterbox(image: Image.Image, height: int, width: int) -> np.ndarray:
    """(height, width, 3) uint8: the image scaled to fit, centred, the rest mid-grey."""
    image = image.convert("RGB")
    scale = min(width / image.width, height / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    frame = Image.new("RGB", (width, height), (PAD_VALUE,) * 3)
    frame.paste(image.resize(size, Image.Resampling.BICUBIC), ((width - size[0]) // 2, (height - size[1]) // 2))
    return np.asarray(frame)


class TuneData:
    """Random access to the pairs of one split and the deterministic batch of every step."""

    def __init__(self, shards: str | Path, split: str, height: int, width: int, seed: int = 0,
                 caption_dropout: float = 0.0):
        self.folder = Path(shards)
        self.pairs = read_index(self.folder, split)
        self.height, self.width, self.seed, self.caption_dropout = height, width, seed, caption_dropout
        self.skipped = Skipped()
        self._tars: dict[str, PartTar] = {}
        self._orders: dict[int, np.ndarray] = {}

    def __len__(self) -> int:
        return len(self.pairs)

    def _order(self, epoch: int) -> np.ndarray:
        if epoch not in self._orders:
            self._orders = {epoch: np.random.default_rng([self.seed, epoch]).permutation(len(self.pairs))}
        return self._orders[epoch]

    def indices(self, step: int, rank: int, world_size: int, batch_size: int) -> list[int]:
        """Pair indices of this process's share of the global batch of `step` (epochs reshuffle)."""
        first = (step * world_size + rank) * batch_size
        return [int(self._order(p // len(self.pairs))[p % len(self.pairs)]) for p in range(first, first + batch_size)]

    def image(self, pair: Pair) -> np.ndarray | None:
        """The letterboxed pixels, or None (warned once, listed in `skipped`) when they cannot be read."""
        if pair.key in self.skipped.reasons:
            return None
        try:
            tar = self._tars.get(pair.shard) or self._tars.setdefault(pair.shard, PartTar(self.folder / pair.shard))
            with Image.open(io.BytesIO(tar.read(f"{pair.key}.jpg"))) as img:
                return letterbox(img, self.height, self.width)
        except (OSError, SyntaxError, ValueError, UserError) as err:
            reason = str(err).splitlines()[0] if str(err) else type(err).__name__
            self.skipped.reasons[pair.key] = reason
            print(f"warning: {self.folder / pair.shard}: skipping {pair.key}.jpg ({reason})", file=sys.stderr)
            return None

    def batch(self, step: int, rank: int = 0, world_size: int = 1, batch_size: int = 1,
              dropout: bool = True) -> tuple[np.ndarray, list[str]]:
        """((n, H, W, 3) uint8 pixels, n captions) of the step; n < batch_size when images were skipped."""
        pixels, captions = [], []
        for slot, index in enumerate(self.indices(step, rank, world_size, batch_size)):
            pair = self.pairs[index]
            image = self.image(pair)
            if image is None:
                continue
            rng = np.random.default_rng([self.seed, step, rank, slot, 0xCA9])
            caption = pair.captions[int(rng.integers(len(pair.captions)))]
            if dropout and rng.random() < self.caption_dropout:
                caption = ""  # the unconditional case that classifier-free guidance needs
            pixels.append(image)
            captions.append(caption)
        shape = (0, self.height, self.width, 3)
        return (np.stack(pixels) if pixels else np.zeros(shape, np.uint8)), captions

    def close(self) -> None:
        for tar in self._tars.values():
            tar.close()
        self._tars.clear()
