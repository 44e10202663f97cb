"""`SketchBackend`: `render_person` as an image backend of `mals generate` (no weights).

Not a substitute for diffusion: it exists so every later stage and the trainer can run and be
tested meaningfully on a machine without model weights.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .base import SampleRequest, SampleResult


class SketchBackend:
    name = "sketch"
    model = "sketch-v1"

    def __init__(self, height: int = 256, width: int = 128):
        self.height, self.width = height, width

    def generate(self, batch: Sequence[SampleRequest]) -> list[SampleResult]:
        from .sketch import render_with_look
        from .sketch_look import look_attrs

        results = []
        for req in batch:
            image, box, look = render_with_look(req.attrs, np.random.default_rng(req.seed), self.height, self.width)
            results.append(SampleResult(image, box=tuple(round(v) for v in box), attrs=look_attrs(look)))
        return results
