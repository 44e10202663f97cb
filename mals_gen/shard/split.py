"""train / val / test by a stable hash of the key: the same key lands in the same split forever.

The hash is SHA-1 of the key's UTF-8 bytes, its first 8 bytes read as a fraction in [0, 1); the
split is the first whose cumulative fraction exceeds it. Nothing depends on Python's salted
`hash()`, the sample order or the number of samples.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from ..contract import SPLITS
from ..errors import UserError


@dataclass(frozen=True)
class SplitFractions:
    train: float = 0.9
    val: float = 0.05
    test: float = 0.05

    def validate(self, where: str = "shard.split") -> SplitFractions:
        values = (self.train, self.val, self.test)
        if any(v < 0 for v in values) or abs(sum(values) - 1.0) > 1e-6:
            raise UserError(f"{where}: fractions must be >= 0 and sum to 1, got train={self.train} "
                            f"val={self.val} test={self.test}")
        return self


def key_fraction(key: str) -> float:
    """A stable number in [0, 1) for `key`."""
    digest = hashlib.sha1(key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2.0 ** 64


def split_of(key: str, fractions: SplitFractions) -> str:
    x = key_fraction(key)
    edge = 0.0
    for name, frac in zip(SPLITS, (fractions.train, fractions.val, fractions.test)):
        edge += frac
        if x < edge:
            return name
    # Rounding can leave a sliver above the last edge; give it to the last non-empty split.
    return next(n for n, f in zip(reversed(SPLITS), (fractions.test, fractions.val, fractions.train)) if f > 0)


def parse_fractions(text: str) -> SplitFractions:
    """`"train=0.8,val=0.1,test=0.1"` -> SplitFractions (used by `--split`)."""
    values = {}
    for item in filter(None, (s.strip() for s in text.split(","))):
        name, _, raw = item.partition("=")
        if name not in SPLITS or not raw:
            raise UserError(f"--split {text!r}: expected e.g. train=0.9,val=0.05,test=0.05")
        try:
            values[name] = float(raw)
        except ValueError:
            raise UserError(f"--split {text!r}: {raw!r} is not a number") from None
    return SplitFractions(**{**dict.fromkeys(SPLITS, 0.0), **values}).validate("--split")
