"""Pose on person crops: a transformers keypoint model (ViTPose) and the rule that judges its output.

`PoseModel` runs `VitPoseForPoseEstimation` (hub id or local folder) on each image with its person
box and returns 17 COCO keypoints (x, y, score) in the image's pixels. `PoseRule` holds the settings
of the two checks in `checks.py`: WebPerson's visibility rule and SDA's malformed-body check.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import UserError
from . import checks as C

N_KEYPOINTS = 17


@dataclass(frozen=True)
class PoseRule:
    min_score: float = 0.3           # a keypoint is visible at this score or more
    min_keypoints: int = 8           # WebPerson: at least 8 visible keypoints ...
    min_head: int = 2                # ... including two head keypoints ...
    need_hips: bool = True           # ... and both hips
    check_limbs: bool = True         # SDA: limbs present and of plausible length
    min_limbs: int = 2               # of four (elbows, knees), where the torso is visible
    limb_min: float = 0.1            # a limb segment's length / torso length
    limb_max: float = 1.5
    max_asymmetry: float = 3.0       # longer / shorter of a left-right pair

    def judge(self, keypoints: np.ndarray) -> tuple[C.Verdict, int]:
        """(verdict, visible count) for a (17, 3) array of x, y, score."""
        kp = np.asarray(keypoints, dtype=np.float32).reshape(N_KEYPOINTS, 3)
        visible = C.visible_keypoints(kp[:, 2], self.min_score)
        verdict = C.check_pose_visible(visible, self.min_keypoints, self.min_head, self.need_hips)
        if verdict[0] and self.check_limbs:
            verdict = C.check_pose_limbs(kp[:, :2], visible, self.min_limbs, (self.limb_min, self.limb_max),
                                         self.max_asymmetry)
        return verdict, len(visible)


class PoseModel:
    """ViTPose (or any model loading as VitPoseForPoseEstimation) from a hub id or a folder."""

    def __init__(self, model_id: str, device: str = "cpu"):
        from transformers import AutoImageProcessor, VitPoseForPoseEstimation

        self.name, self.device = model_id, device
        try:
            self.processor = AutoImageProcessor.from_pretrained(model_id)
            self.model = VitPoseForPoseEstimation.from_pretrained(model_id).to(device).eval()
        except (OSError, ValueError) as err:
            where = "folder" if Path(model_id).exists() else "hub id"
            raise UserError(f"cannot load the pose model {model_id!r} ({where}): {str(err).splitlines()[0]}; "
                            "pass --set pose_model=none or a local ViTPose folder") from None
        if self.model.config.num_labels != N_KEYPOINTS:
            raise UserError(f"pose model {model_id!r} predicts {self.model.config.num_labels} keypoints, "
                            f"not the {N_KEYPOINTS} COCO keypoints the pose rule reads")

    def keypoints(self, images: Sequence[np.ndarray], boxes: Sequence[Sequence[float]]) -> list[np.ndarray]:
        """One (17, 3) array (x, y, score in image pixels) per image; `boxes` are (x0, y0, x1, y1)."""
        import torch

        if not images:
            return []
        coco = [[[b[0], b[1], b[2] - b[0], b[3] - b[1]]] for b in boxes]   # the processor wants x, y, w, h
        # copies: the filter's decoded arrays are read-only, which torch.from_numpy warns about
        inputs = self.processor(images=[np.array(im) for im in images], boxes=coco, return_tensors="pt").to(self.device)
        with torch.no_grad():
            outputs = self.model(**inputs)
        results = self.processor.post_process_pose_estimation(outputs, boxes=coco)
        out = []
        for per_image, image in zip(results, images):
            person = per_image[0]
            xy, score = person["keypoints"].float().cpu().numpy(), person["scores"].float().cpu().numpy()
            # ViTPose pads the box by a quarter; a keypoint it places off the image is clipped to the border
            xy = np.clip(xy, 0, [image.shape[1] - 1, image.shape[0] - 1])
            out.append(np.concatenate([xy, score[:, None]], axis=1).astype(np.float32))
        return out


def pose_step(batch: Sequence[tuple[dict, np.ndarray]], model: PoseModel, rule: PoseRule,
              reject) -> None:
    """Keypoints and the pose verdict of the filter's still-kept samples (`reject` records a verdict)."""
    boxes = [rec["person_box"] or [0, 0, rgb.shape[1], rgb.shape[0]] for rec, rgb in batch]
    for (rec, _), kp in zip(batch, model.keypoints([rgb for _, rgb in batch], boxes)):
        verdict, visible = rule.judge(kp)
        rec.update(keypoints=[round(float(v), 2) for v in kp.reshape(-1)], pose_visible=visible)
        reject(rec, verdict)
