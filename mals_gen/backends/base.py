"""What every image backend takes and returns.

A backend turns a batch of `SampleRequest`s into one image (or one failure) per request. Heavy
models are built by the backend's own constructor, so tests can pass tiny ones.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class SampleRequest:
    key: str
    prompt: str
    seed: int
    attrs: np.ndarray  # (27,) int8, -1 where unknown


@dataclass
class SampleResult:
    image: Image.Image | None
    error: str = ""
    box: tuple[int, int, int, int] | None = None   # the person's box, when the backend knows it (sketch)
    attrs: np.ndarray | None = None                # the 27 labels the image shows, when known (sketch)


class ImageBackend(Protocol):
    name: str   # "sketch" | "diffusers"
    model: str  # what made the images, recorded per sample

    def generate(self, batch: Sequence[SampleRequest]) -> list[SampleResult]: ...
