"""Image transforms of spec/method.md "Inputs", built from torchvision's v2 transforms.

Train: resize to (H, W) bicubic, horizontal flip, RandAugment (2 ops, magnitude 7), to float,
normalise with the dataset's mean / std, random erasing (p 0.6). Test: resize + normalise.
The original RandAugment counts magnitude on a 0-10 scale, so torchvision's is given 11 bins
(magnitude 7 of 10) instead of its default 31. Random draws use torch's global generator; the
pipeline seeds it per training pair, so every pair's augmentation is reproducible on its own.
"""
from __future__ import annotations

import torch
from torchvision.transforms import v2 as T

from .shards import NORM_STATS


def train_transform(img_size: tuple[int, int], norm: str, *, randaug_ops: int = 2, randaug_magnitude: int = 7,
                    erasing: float = 0.6) -> T.Compose:
    mean, std = NORM_STATS[norm]
    return T.Compose([
        T.ToImage(),
        T.Resize(tuple(img_size), interpolation=T.InterpolationMode.BICUBIC, antialias=True),
        T.RandomHorizontalFlip(),
        T.RandAugment(num_ops=randaug_ops, magnitude=randaug_magnitude, num_magnitude_bins=11),
        T.ToDtype(torch.float32, scale=True),
        T.Normalize(mean, std),
        T.RandomErasing(p=erasing),
    ])


def test_transform(img_size: tuple[int, int], norm: str) -> T.Compose:
    mean, std = NORM_STATS[norm]
    return T.Compose([
        T.ToImage(),
        T.Resize(tuple(img_size), interpolation=T.InterpolationMode.BICUBIC, antialias=True),
        T.ToDtype(torch.float32, scale=True),
        T.Normalize(mean, std),
    ])
