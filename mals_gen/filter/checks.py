"""Pure quality checks: measure one thing about an image or a caption, then decide.

Each measure (`pixel_std`, `colourfulness`, `blur`, ...) is a plain function of its input, and each
check takes the measured value and its threshold and returns `(keep, reason)` (`reason` is "ok"
when kept). Measuring and deciding apart lets the stage store every measured value in the manifest
(for the report's histograms) and lets thresholds change without re-measuring.

MALS's own filters (docs/datasets.md): file size and blank frames, greyscale frames (variance of
the differences between the colour channels), plus ours: blur (variance of the Laplacian),
person count and size, CLIP score, degenerate captions and intended-vs-mined attribute disagreement.
"""
from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

import cv2
import numpy as np

from ..contract import LABEL_UNKNOWN

OK = "ok"
Verdict = tuple[bool, str]
# Measures that depend on resolution are taken at this height, so one threshold fits any size.
MEASURE_HEIGHT = 256


def _at_measure_height(grey: np.ndarray) -> np.ndarray:
    h, w = grey.shape[:2]
    if h == MEASURE_HEIGHT:
        return grey
    width = max(1, round(w * MEASURE_HEIGHT / h))
    interp = cv2.INTER_AREA if h > MEASURE_HEIGHT else cv2.INTER_LINEAR
    return cv2.resize(grey, (width, MEASURE_HEIGHT), interpolation=interp)


def to_grey(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB -> (H, W) uint8 luma."""
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)


# ------------------------------------------------------------------------------------ measures
def pixel_std(rgb: np.ndarray) -> float:
    """Standard deviation of all pixel values: ~0 for a blank (single colour) frame."""
    return float(rgb.astype(np.float32).std())


def colourfulness(rgb: np.ndarray) -> float:
    """Spread of the differences between colour channels (MALS's greyscale test), in grey levels.

    sqrt of the mean of var(R-G), var(G-B), var(R-B): 0 for a grey (or uniformly tinted, e.g.
    sepia) image, where every pixel has the same channel differences.
    """
    x = rgb.astype(np.float32)                      # (H, W, 3)
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    var = (np.var(r - g) + np.var(g - b) + np.var(r - b)) / 3.0
    return float(np.sqrt(var))


def blur(rgb: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image at MEASURE_HEIGHT: low = blurry or flat."""
    grey = _at_measure_height(to_grey(rgb))
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


_WORD = re.compile(r"[a-z0-9']+")


def caption_words(caption: str) -> list[str]:
    return _WORD.findall((caption or "").lower())


def max_phrase_repeats(caption: str, n: int = 3) -> int:
    """How often the most frequent n-word phrase occurs (BLIP's 'a black shirt and a black shirt')."""
    words = caption_words(caption)
    grams = [tuple(words[i:i + n]) for i in range(len(words) - n + 1)]
    return max(Counter(grams).values()) if grams else 0


def attr_disagreement(intended: Sequence[int] | None, mined: Sequence[int] | None) -> float | None:
    """Share of slots known (not -1) on both sides whose labels differ; None if none is known."""
    if intended is None or mined is None:
        return None
    a = np.asarray(intended, dtype=np.int16)
    b = np.asarray(mined, dtype=np.int16)
    both = (a != LABEL_UNKNOWN) & (b != LABEL_UNKNOWN)
    if not both.any():
        return None
    return float((a[both] != b[both]).mean())


# ------------------------------------------------------------------------------------ checks
def _at_least(value: float | None, threshold: float, reason: str) -> Verdict:
    """Keep when the value is unknown (check not run) or reaches the threshold."""
    if value is None or value >= threshold:
        return True, OK
    return False, reason


def _at_most(value: float | None, threshold: float, reason: str) -> Verdict:
    if value is None or value <= threshold:
        return True, OK
    return False, reason


def check_file_size(n_bytes: int, min_bytes: int) -> Verdict:
    return _at_least(n_bytes, min_bytes, "tiny_file")


def check_blank(std: float, min_std: float) -> Verdict:
    return _at_least(std, min_std, "blank")


def check_greyscale(colour: float, min_colour: float) -> Verdict:
    return _at_least(colour, min_colour, "greyscale")


def check_blur(sharpness: float, min_sharpness: float) -> Verdict:
    return _at_least(sharpness, min_sharpness, "blurry")


def check_caption(caption: str | None, min_words: int, max_repeats: int) -> Verdict:
    if caption is None or not caption.strip():
        return False, "no_caption"
    if len(caption_words(caption)) < min_words:
        return False, "caption_too_short"
    if max_phrase_repeats(caption) > max_repeats:
        return False, "caption_repetitive"
    return True, OK


def check_attr_disagreement(value: float | None, max_value: float) -> Verdict:
    return _at_most(value, max_value, "attr_disagreement")


def check_persons(heights: Sequence[float], min_height: float, count_min_height: float) -> Verdict:
    """Exactly one person tall enough. `heights`: confident detections, as shares of image height.

    Detections shorter than `count_min_height` (background figures, HOG's small false alarms) are
    not counted as people; if only such detections exist, the person is too small.
    """
    counted = [h for h in heights if h >= count_min_height]
    if not heights:
        return False, "no_person"
    if len(counted) > 1:
        return False, "several_persons"
    if not counted:
        return False, "person_too_small"
    return _at_least(counted[0], min_height, "person_too_small")


def check_clip(score: float | None, min_score: float) -> Verdict:
    return _at_least(score, min_score, "low_clip_score")


# ----------------------------------------------------------------------------- pose (17 COCO keypoints)
HEAD_KEYPOINTS = (0, 1, 2, 3, 4)          # nose, eyes, ears
HIPS = (11, 12)
SHOULDERS = (5, 6)
#: (left segment, right segment) of each limb: upper arm, forearm, thigh, shin.
LIMB_PAIRS = (((5, 7), (6, 8)), ((7, 9), (8, 10)), ((11, 13), (12, 14)), ((13, 15), (14, 16)))
LIMB_JOINTS = (7, 8, 13, 14)              # elbows and knees: a limb is there when its middle joint is


def visible_keypoints(scores: Sequence[float], min_score: float) -> set[int]:
    return {i for i, s in enumerate(scores) if s >= min_score}


def check_pose_visible(visible: set[int], min_keypoints: int, min_head: int, need_hips: bool) -> Verdict:
    """WebPerson's rule: enough visible keypoints, both hips, and enough head keypoints."""
    if len(visible) < min_keypoints:
        return False, "pose_few_keypoints"
    if need_hips and not set(HIPS) <= visible:
        return False, "pose_no_hips"
    if len(visible & set(HEAD_KEYPOINTS)) < min_head:
        return False, "pose_no_head"
    return True, OK


def _length(xy: np.ndarray, seg: tuple[int, int]) -> float:
    return float(np.hypot(*(xy[seg[0]] - xy[seg[1]])))


def check_pose_limbs(xy: np.ndarray, visible: set[int], min_limbs: int, limb_range: tuple[float, float],
                     max_asymmetry: float) -> Verdict:
    """SDA's malformed-body check, where a body shows its torso: limbs present, of plausible length.

    With both shoulders and hips visible, at least `min_limbs` of the four limbs (elbow or knee
    visible) must be there, each visible segment must measure `limb_range` x the torso length,
    and a left/right pair of segments may differ at most `max_asymmetry` times.
    """
    if not set(SHOULDERS) | set(HIPS) <= visible:
        return True, OK   # no torso to measure against: nothing to judge
    torso = float(np.hypot(*((xy[5] + xy[6]) / 2 - (xy[11] + xy[12]) / 2)))
    if torso < 1e-6:
        return False, "pose_malformed_limb"
    if len(visible & set(LIMB_JOINTS)) < min_limbs:
        return False, "pose_missing_limbs"
    for pair in LIMB_PAIRS:
        lengths = [_length(xy, seg) / torso for seg in pair if set(seg) <= visible]
        if any(not limb_range[0] <= v <= limb_range[1] for v in lengths):
            return False, "pose_malformed_limb"
        if len(lengths) == 2 and max(lengths) > max_asymmetry * max(min(lengths), 1e-6):
            return False, "pose_limb_asymmetry"
    return True, OK
