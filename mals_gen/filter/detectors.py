"""Person detectors behind one interface: `detect(rgb) -> [(box, score), ...]`.

* `HogDetector`: OpenCV's HOG + linear SVM pedestrian detector (Dalal-Triggs; real weights that
  ship inside opencv-python-headless 4.x, so it works offline). Its 64x128 window needs a margin
  around the person, which generated full-frame person images lack, so the image is resized to a
  working height (small images are upscaled) and padded with a replicated border before detection.
* `TransformersDetector`: any `transformers` object-detection model (DETR, YOLOS, RT-DETR, ...)
  from a hub id or a local folder; the "person" class is found in `config.id2label`.

Boxes are `(x0, y0, x1, y1)` floats in the original image's pixels, best score first; nested and
overlapping detections of the same person are merged by `suppress_overlaps`.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np

from ..errors import UserError

Box = tuple[float, float, float, float]
Detection = tuple[Box, float]


def suppress_overlaps(dets: Sequence[Detection], max_overlap: float = 0.6) -> list[Detection]:
    """Greedy NMS where overlap = intersection / area of the smaller box (drops nested boxes too)."""
    kept: list[Detection] = []
    for box, score in sorted(dets, key=lambda d: -d[1]):
        area = max((box[2] - box[0]) * (box[3] - box[1]), 1e-6)
        for other, _ in kept:
            ix = max(0.0, min(box[2], other[2]) - max(box[0], other[0]))
            iy = max(0.0, min(box[3], other[3]) - max(box[1], other[1]))
            small = min(area, max((other[2] - other[0]) * (other[3] - other[1]), 1e-6))
            if ix * iy / small > max_overlap:
                break
        else:
            kept.append((box, score))
    return kept


class HogDetector:
    """OpenCV's default people detector; scores are SVM margins (about 0..4, >1 is confident)."""

    name = "hog"
    default_min_score = 1.0

    def __init__(self, work_height: int = 192, pad: float = 0.2, win_stride: int = 4, scale: float = 1.05):
        self.work_height = work_height
        self.pad = pad
        self.win_stride = win_stride
        self.scale = scale
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        h, w = rgb.shape[:2]
        s = self.work_height / h
        work = cv2.resize(rgb, (max(8, round(w * s)), self.work_height),
                          interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        p = round(self.pad * self.work_height)
        # Replicated border: the full-frame person gets the margin HOG's window was trained with.
        work = cv2.copyMakeBorder(work, p, p, p, p, cv2.BORDER_REPLICATE)
        bgr = cv2.cvtColor(work, cv2.COLOR_RGB2BGR)
        rects, weights = self._hog.detectMultiScale(
            bgr, winStride=(self.win_stride, self.win_stride), padding=(8, 8), scale=self.scale)
        dets = []
        for (x, y, bw, bh), score in zip(np.asarray(rects).reshape(-1, 4), np.ravel(weights)):
            box = ((x - p) / s, (y - p) / s, (x + bw - p) / s, (y + bh - p) / s)
            box = (max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3]))
            if box[2] > box[0] and box[3] > box[1]:
                dets.append((box, float(score)))
        return suppress_overlaps(dets)

    def detect_many(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        return [self.detect(im) for im in images]


class TransformersDetector:
    """A transformers object-detection model; keeps the "person" class only."""

    default_min_score = 0.7

    def __init__(self, model_id: str, device: str = "cpu", threshold: float = 0.05):
        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        self.name = model_id
        try:
            self.processor = AutoImageProcessor.from_pretrained(model_id)
            self.model = AutoModelForObjectDetection.from_pretrained(model_id).to(device).eval()
        except (OSError, ValueError) as err:
            where = "folder" if Path(model_id).exists() else "hub id"
            raise UserError(f"cannot load the object-detection model {model_id!r} ({where}): "
                            f"{str(err).splitlines()[0]}; pass --detector hog, --detector none or a "
                            "local model folder") from None
        labels = {int(i): str(n).lower() for i, n in self.model.config.id2label.items()}
        persons = [i for i, n in labels.items() if n == "person"]
        if not persons:
            raise UserError(f"detector {model_id!r} has no 'person' class in config.id2label "
                            f"({sorted(labels.values())[:8]}...); choose a COCO-style detector")
        self.person_id = persons[0]
        self.device = device
        # Low floor here; the filter's min score decides. Post-processing needs some threshold.
        self.threshold = threshold

    def detect_many(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        import torch

        if not images:
            return []
        inputs = self.processor(images=list(images), return_tensors="pt").to(self.device)
        with torch.no_grad():
            outputs = self.model(**inputs)
        sizes = [im.shape[:2] for im in images]           # (H, W) per image
        results = self.processor.post_process_object_detection(
            outputs, threshold=self.threshold, target_sizes=sizes)
        out = []
        for res, (h, w) in zip(results, sizes):
            dets = []
            for score, label, box in zip(res["scores"].tolist(), res["labels"].tolist(), res["boxes"].tolist()):
                if label != self.person_id:
                    continue
                x0, y0, x1, y1 = (max(0.0, box[0]), max(0.0, box[1]), min(float(w), box[2]), min(float(h), box[3]))
                if x1 > x0 and y1 > y0:
                    dets.append(((x0, y0, x1, y1), float(score)))
            out.append(suppress_overlaps(dets))
        return out

    def detect(self, rgb: np.ndarray) -> list[Detection]:
        return self.detect_many([rgb])[0]


def build_detector(spec: str, device: str = "cpu"):
    """'hog' | 'none' | a transformers hub id or local folder -> detector (None for 'none')."""
    if spec == "none":
        return None
    if spec == "hog":
        return HogDetector()
    return TransformersDetector(spec, device=device)


def person_box(box: Box, image_hw: tuple[int, int], margin: float, aspect: float) -> list[int]:
    """Crop box for the person: grow by `margin` per side, then to height:width = `aspect`, clip.

    Growing keeps the centre; clipping to the image may shorten one side again (a person at the
    border), which the shard stage's resize absorbs.
    """
    h, w = image_hw
    x0, y0, x1, y1 = box
    bw, bh = (x1 - x0) * (1 + 2 * margin), (y1 - y0) * (1 + 2 * margin)
    if bh / max(bw, 1e-6) > aspect:
        bw = bh / aspect
    else:
        bh = bw * aspect
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    out = [cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2]
    return [round(max(0.0, out[0])), round(max(0.0, out[1])),
            round(min(float(w), out[2])), round(min(float(h), out[3]))]
