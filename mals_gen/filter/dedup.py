"""Near-duplicate images: a DCT perceptual hash and an index searchable by Hamming distance.

pHash: grey image -> 32x32 (area resampling) -> 2-D DCT-II -> the 8x8 lowest frequencies -> one
bit per coefficient: above the median of those 64 (the DC term is left out of the median, as it
only measures brightness). Two images whose hashes differ in at most `max_distance` bits are
near-duplicates.

`PHashIndex` finds, for a hash, the earliest stored sample (by plan index) within `max_distance`
bits, without comparing against every stored hash: the 64 bits are cut into `max_distance + 1`
blocks, and by the pigeonhole principle two hashes within that distance agree exactly on at least
one block, so only the samples sharing a block value are compared.
"""
from __future__ import annotations

from collections import defaultdict
from itertools import pairwise

import cv2
import numpy as np
from scipy.fft import dctn

HASH_BITS = 64


def phash(rgb: np.ndarray) -> int:
    """64-bit DCT perceptual hash of an (H, W, 3) uint8 RGB image."""
    grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY) if rgb.ndim == 3 else rgb
    small = cv2.resize(grey, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64)  # (32, 32)
    low = dctn(small, type=2, norm="ortho")[:8, :8]                                      # (8, 8)
    median = np.median(low.ravel()[1:])
    bits = (low.ravel() > median).astype(np.uint8)                                       # (64,)
    return int("".join(map(str, bits)), 2)


def to_hex(h: int) -> str:
    return f"{h:016x}"


def from_hex(text: str) -> int:
    return int(text, 16)


def hamming(a: int, b: int) -> int:
    return (a ^ b).bit_count()


class PHashIndex:
    """Hashes with their plan index; `earliest_match(h)` = earliest stored sample within distance."""

    def __init__(self, max_distance: int):
        if not 0 <= max_distance < HASH_BITS // 2:
            raise ValueError(f"max_distance must be in [0, {HASH_BITS // 2}), got {max_distance}")
        self.max_distance = max_distance
        n_blocks = max_distance + 1
        edges = np.linspace(0, HASH_BITS, n_blocks + 1).round().astype(int)
        # (shift, mask) per block of bits.
        self._blocks = [(int(lo), (1 << int(hi - lo)) - 1) for lo, hi in pairwise(edges)]
        self._tables: list[dict[int, list[int]]] = [defaultdict(list) for _ in self._blocks]
        self._hashes: list[int] = []
        self._index: list[int] = []
        self._keys: list[str] = []

    def __len__(self) -> int:
        return len(self._hashes)

    def add(self, h: int, index: int, key: str) -> None:
        slot = len(self._hashes)
        self._hashes.append(h)
        self._index.append(index)
        self._keys.append(key)
        for table, (shift, mask) in zip(self._tables, self._blocks):
            table[(h >> shift) & mask].append(slot)

    def earliest_match(self, h: int) -> tuple[int, str] | None:
        """(plan index, key) of the earliest stored hash within max_distance bits, or None."""
        best: tuple[int, str] | None = None
        seen: set[int] = set()
        for table, (shift, mask) in zip(self._tables, self._blocks):
            for slot in table.get((h >> shift) & mask, ()):
                if slot in seen:
                    continue
                seen.add(slot)
                near = hamming(h, self._hashes[slot]) <= self.max_distance
                if near and (best is None or self._index[slot] < best[0]):
                    best = (self._index[slot], self._keys[slot])
        return best
