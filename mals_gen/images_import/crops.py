"""Person crops from scene images: detect, gate (WebPerson's rule by default), cut.

WebPerson keeps a detection when its short side exceeds 90 px, its width:height lies between 1:2
and 1:4 and the detector's score exceeds 0.85 (docs/datasets.md); every bound is a setting.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import UserError
from ..filter.detectors import Box, Detection, HogDetector, build_detector

MAX_CROPS = 100   # per source image; the plan index of crop j of slot i is i * MAX_CROPS + j


@dataclass(frozen=True)
class CropGate:
    min_short_side: float = 90.0     # pixels, of the box in the source image
    min_aspect: float = 2.0          # height / width at least (1:2) ...
    max_aspect: float = 4.0          # ... and at most (1:4)
    min_score: float = 0.85          # detector score (HOG: SVM margin; transformers: probability)
    box_margin: float = 0.0          # grow the box by this share of its size per side before cutting

    def validate(self, where: str = "import.gate") -> None:
        if self.min_aspect > self.max_aspect:
            raise UserError(f"{where}: min_aspect {self.min_aspect} exceeds max_aspect {self.max_aspect}")
        if self.box_margin < 0:
            raise UserError(f"{where}.box_margin must be >= 0, got {self.box_margin}")

    def reason(self, box: Box, score: float) -> str:
        """'ok' when the detection passes, else which bound it fails."""
        w, h = box[2] - box[0], box[3] - box[1]
        if min(w, h) <= self.min_short_side:
            return "crop_too_small"
        aspect = h / max(w, 1e-6)
        # 1e-6: HOG's window is exactly 1:2, so a float rounding must not decide the bound
        if not self.min_aspect - 1e-6 <= aspect <= self.max_aspect + 1e-6:
            return "crop_aspect"
        if score <= self.min_score:
            return "crop_low_score"
        return "ok"


def build_scene_detector(spec: str, work_height: int, device: str = "cpu"):
    """HOG at a scene's working height (people are small in scenes), or a transformers detector."""
    if spec == "hog":
        return HogDetector(work_height=work_height, pad=0.0)
    detector = build_detector(spec, device=device)
    if detector is None:
        raise UserError("import --detect-persons needs a detector: pass --detector hog or a model id/folder")
    return detector


def grow(box: Box, margin: float, hw: tuple[int, int]) -> list[int]:
    """Integer box grown by `margin` per side and clipped to the image."""
    h, w = hw
    x0, y0, x1, y1 = box
    dx, dy = (x1 - x0) * margin, (y1 - y0) * margin
    return [max(0, round(x0 - dx)), max(0, round(y0 - dy)), min(w, round(x1 + dx)), min(h, round(y1 + dy))]


def gated_crops(rgb: np.ndarray, dets: list[Detection], gate: CropGate) -> tuple[list[tuple[list[int], float]], dict]:
    """Boxes (integer, in the source image) that pass the gate, best first, and counts of the rest."""
    kept, rejected = [], {}
    for box, score in dets:
        why = gate.reason(box, score)
        if why == "ok" and len(kept) < MAX_CROPS:
            kept.append((grow(box, gate.box_margin, rgb.shape[:2]), float(score)))
        else:
            rejected[why] = rejected.get(why, 0) + 1
    return kept, rejected
