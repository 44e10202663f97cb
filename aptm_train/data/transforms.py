"""Image transforms of docs/method.md "Inputs", built on torchvision's v2 transforms and functional ops.

Train: resize to (H, W) bicubic, horizontal flip, RandAugment (2 ops, level 7 of 10), to float,
normalise with the dataset's mean / std, random erasing (p 0.6). Test: resize + normalise.

RandAugment keeps the original's ten ops (the ALBEF / X-VLM family APTM builds on): Identity,
AutoContrast, Equalize, Brightness, Sharpness, ShearX/Y, TranslateX/Y, Rotate; torchvision's
RandAugment also has Color, Contrast, Posterize and Solarize, which change garment colours
(Solarize turns a red shirt cyan) and so contradict the caption. Two ops are drawn with
replacement, each applied with probability 0.5. Magnitudes (`magnitudes=`):
- "original" (default): the original's own scale. At level 7: Brightness / Sharpness factor 1.36
  (only brighter / sharper), shear 0.21, translate 7 px, rotate 21 degrees (each sign at random),
  fill 128.
- "torchvision": torchvision's magnitude space at 11 bins (level 7 of 10): translate up to 40.6 px
  horizontally and 121.8 px vertically on 384x128, brightness / sharpness 0.37-1.63.
Random erasing is the original's (Zhong et al.): area 0.02-0.4 of the image, aspect ratio uniform
in 0.3-3.33, up to 100 tries, value 0 after normalisation (torchvision's draws the aspect
log-uniformly, area at most 0.33, 10 tries).
Random draws use torch's global generator; the pipeline seeds it per training pair, so every
pair's augmentation is reproducible on its own.
"""
from __future__ import annotations

import math
from typing import ClassVar

import torch
from torchvision.transforms import v2 as T
from torchvision.transforms.v2 import functional as TF

from .shards import NORM_STATS

#: The original's op list; none of them changes which colour a garment is.
CAPTION_SAFE_OPS = ("Identity", "AutoContrast", "Equalize", "Brightness", "Sharpness",
                    "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")
MAGNITUDES = ("original", "torchvision")
FILL = 128                       # the original fills what a shear / shift / rotation uncovers with grey
MAX_LEVEL = 10.0
_SCALE = {"Brightness": 1.8, "Sharpness": 1.8, "ShearX": 0.3, "ShearY": 0.3,
          "TranslateX": 10.0, "TranslateY": 10.0, "Rotate": 30.0}
_SIGNED = ("ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate")


def original_magnitude(op: str, level: float) -> float:
    """The original's magnitude of `op` at `level` (0-10): an enhance factor, a shear, pixels or degrees."""
    r = level / MAX_LEVEL
    if op in ("Brightness", "Sharpness"):
        return r * _SCALE[op] + 0.1
    return r * _SCALE.get(op, 0.0)


def apply_original_op(image: torch.Tensor, op: str, magnitude: float) -> torch.Tensor:
    """One op on a uint8 (C, H, W) image with a signed magnitude (see `original_magnitude`)."""
    lin = T.InterpolationMode.BILINEAR
    if op == "AutoContrast":
        return TF.autocontrast(image)
    if op == "Equalize":
        return TF.equalize(image)
    if op == "Brightness":
        return TF.adjust_brightness(image, magnitude)
    if op == "Sharpness":
        return TF.adjust_sharpness(image, magnitude)
    if op in ("ShearX", "ShearY"):        # x' = x + s*y about the top-left corner, as the original's matrix
        deg = math.degrees(math.atan(magnitude))
        shear = [deg, 0.0] if op == "ShearX" else [0.0, deg]
        return TF.affine(image, angle=0.0, translate=[0, 0], scale=1.0, shear=shear, interpolation=lin,
                         fill=FILL, center=[0, 0])
    if op in ("TranslateX", "TranslateY"):
        shift = [round(magnitude), 0] if op == "TranslateX" else [0, round(magnitude)]
        return TF.affine(image, angle=0.0, translate=shift, scale=1.0, shear=[0.0, 0.0], interpolation=lin,
                         fill=FILL)
    if op == "Rotate":
        return TF.rotate(image, magnitude, interpolation=lin, fill=FILL)
    return image                          # Identity


class _CaptionSafeOp(T.RandAugment):
    """One op drawn from `CAPTION_SAFE_OPS` with torchvision's magnitudes (11 bins)."""

    _AUGMENTATION_SPACE: ClassVar[dict] = {
        k: v for k, v in T.RandAugment._AUGMENTATION_SPACE.items() if k in CAPTION_SAFE_OPS}

    def __init__(self, magnitude: int) -> None:
        super().__init__(num_ops=1, magnitude=magnitude, num_magnitude_bins=11, fill=FILL)


class CaptionSafeRandAugment(torch.nn.Module):
    """`num_ops` draws (with replacement) from `CAPTION_SAFE_OPS`, each applied with probability `p`."""

    def __init__(self, num_ops: int = 2, magnitude: int = 7, p: float = 0.5,
                 magnitudes: str = "original") -> None:
        super().__init__()
        if magnitudes not in MAGNITUDES:
            raise ValueError(f"magnitudes must be one of {MAGNITUDES}, got {magnitudes!r}")
        self.num_ops, self.level, self.p, self.magnitudes = num_ops, magnitude, p, magnitudes
        self.tv_op = _CaptionSafeOp(magnitude) if magnitudes == "torchvision" else None

    def forward(self, image):
        for _ in range(self.num_ops):
            if self.tv_op is not None:
                if float(torch.rand(())) < self.p:
                    image = self.tv_op(image)
                continue
            op = CAPTION_SAFE_OPS[int(torch.randint(len(CAPTION_SAFE_OPS), ()))]
            if float(torch.rand(())) < self.p:
                m = original_magnitude(op, self.level)
                if op in _SIGNED and float(torch.rand(())) < 0.5:
                    m = -m
                image = apply_original_op(image, op, m)
        return image


class OriginalRandomErasing(torch.nn.Module):
    """Erase one box of a normalised (C, H, W) tensor to 0 with probability p (the original's rule)."""

    def __init__(self, p: float = 0.6, area: tuple[float, float] = (0.02, 0.4), aspect: float = 0.3,
                 tries: int = 100) -> None:
        super().__init__()
        self.p, self.area, self.aspect, self.tries = p, area, aspect, tries

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        if float(torch.rand(1)) >= self.p:   # drawn even at p 0, as torchvision's erasing does
            return image
        _, h_img, w_img = image.shape
        for _ in range(self.tries):
            target = _uniform(*self.area) * h_img * w_img
            ratio = _uniform(self.aspect, 1.0 / self.aspect)
            h, w = round(math.sqrt(target * ratio)), round(math.sqrt(target / ratio))
            if h < h_img and w < w_img:
                top = int(torch.randint(h_img - h + 1, ()))
                left = int(torch.randint(w_img - w + 1, ()))
                image = image.clone()
                image[:, top:top + h, left:left + w] = 0.0
                return image
        return image


def _uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(()))


def train_transform(img_size: tuple[int, int], norm: str, *, randaug_ops: int = 2, randaug_magnitude: int = 7,
                    erasing: float = 0.6, magnitudes: str = "original") -> T.Compose:
    mean, std = NORM_STATS[norm]
    return T.Compose([
        T.ToImage(),
        T.Resize(tuple(img_size), interpolation=T.InterpolationMode.BICUBIC, antialias=True),
        T.RandomHorizontalFlip(),
        CaptionSafeRandAugment(num_ops=randaug_ops, magnitude=randaug_magnitude, magnitudes=magnitudes),
        T.ToDtype(torch.float32, scale=True),
        T.Normalize(mean, std),
        OriginalRandomErasing(p=erasing),
    ])


def test_transform(img_size: tuple[int, int], norm: str) -> T.Compose:
    mean, std = NORM_STATS[norm]
    return T.Compose([
        T.ToImage(),
        T.Resize(tuple(img_size), interpolation=T.InterpolationMode.BICUBIC, antialias=True),
        T.ToDtype(torch.float32, scale=True),
        T.Normalize(mean, std),
    ])
