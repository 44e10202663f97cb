"""Image transforms of spec/method.md "Inputs", built from torchvision's v2 transforms.

Train: resize to (H, W) bicubic, horizontal flip, RandAugment (2 ops, magnitude 7), to float,
normalise with the dataset's mean / std, random erasing (p 0.6). Test: resize + normalise.
The original RandAugment (the ALBEF / X-VLM family APTM builds on) draws from ten ops only:
Identity, AutoContrast, Equalize, Brightness, Sharpness, ShearX/Y, TranslateX/Y, Rotate, each
applied with probability 0.5, magnitude on a 0-10 scale. torchvision's RandAugment also has
Color, Contrast, Posterize and Solarize, which change garment colours (Solarize turns a red shirt
cyan) and so contradict the caption; `CaptionSafeRandAugment` keeps the original's ten, with 11
magnitude bins (magnitude 7 of 10) instead of torchvision's default 31, and grey fill.
Random draws use torch's global generator; the pipeline seeds it per training pair, so every
pair's augmentation is reproducible on its own.
"""
from __future__ import annotations

from typing import ClassVar

import torch
from torchvision.transforms import v2 as T

from .shards import NORM_STATS

#: The original's op list; none of them changes which colour a garment is.
CAPTION_SAFE_OPS = ("Identity", "AutoContrast", "Equalize", "Brightness", "Sharpness",
                    "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


class _CaptionSafeOp(T.RandAugment):
    """One op drawn from `CAPTION_SAFE_OPS` (torchvision's magnitudes, 11 bins)."""

    _AUGMENTATION_SPACE: ClassVar[dict] = {
        k: v for k, v in T.RandAugment._AUGMENTATION_SPACE.items() if k in CAPTION_SAFE_OPS}

    def __init__(self, magnitude: int) -> None:
        # the original fills what a shear / rotation uncovers with grey (128), not black
        super().__init__(num_ops=1, magnitude=magnitude, num_magnitude_bins=11, fill=128)


class CaptionSafeRandAugment(torch.nn.Module):
    """`num_ops` draws from `CAPTION_SAFE_OPS`, each applied with probability `p` (the original's)."""

    def __init__(self, num_ops: int = 2, magnitude: int = 7, p: float = 0.5) -> None:
        super().__init__()
        self.num_ops, self.p, self.op = num_ops, p, _CaptionSafeOp(magnitude)

    def forward(self, image):
        for _ in range(self.num_ops):
            if float(torch.rand(())) < self.p:
                image = self.op(image)
        return image


def train_transform(img_size: tuple[int, int], norm: str, *, randaug_ops: int = 2, randaug_magnitude: int = 7,
                    erasing: float = 0.6) -> T.Compose:
    mean, std = NORM_STATS[norm]
    return T.Compose([
        T.ToImage(),
        T.Resize(tuple(img_size), interpolation=T.InterpolationMode.BICUBIC, antialias=True),
        T.RandomHorizontalFlip(),
        CaptionSafeRandAugment(num_ops=randaug_ops, magnitude=randaug_magnitude),
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
