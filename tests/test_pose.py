"""The pose rule on hand-made keypoints, and a tiny random ViTPose run through the filter."""
from __future__ import annotations

import numpy as np
import pytest

from mals_gen.filter.pose import PoseModel, PoseRule
from mals_gen.testing import save_tiny_vitpose

# A person standing upright in a 100 x 200 crop: (x, y) per COCO keypoint.
STANDING = np.array([
    (50, 20), (46, 17), (54, 17), (42, 19), (58, 19),          # nose, eyes, ears
    (38, 45), (62, 45), (34, 70), (66, 70), (32, 95), (68, 95),  # shoulders, elbows, wrists
    (42, 105), (58, 105), (42, 145), (58, 145), (42, 185), (58, 185),  # hips, knees, ankles
], dtype=np.float32)


def keypoints(hidden=(), moved: dict | None = None) -> np.ndarray:
    kp = np.concatenate([STANDING.copy(), np.full((17, 1), 0.9, np.float32)], axis=1)
    for i in hidden:
        kp[i, 2] = 0.05
    for i, xy in (moved or {}).items():
        kp[i, :2] = xy
    return kp


def test_a_whole_upright_body_passes():
    (keep, reason), visible = PoseRule().judge(keypoints())
    assert keep and reason == "ok" and visible == 17


@pytest.mark.parametrize("hidden, reason", [
    ((0, 1, 2, 3, 4, 9, 10, 15, 16, 13), "pose_few_keypoints"),  # 7 visible
    ((11,), "pose_no_hips"),
    ((0, 1, 2, 3), "pose_no_head"),                               # one head keypoint left
    ((7, 8, 13, 14, 9, 10, 15, 16, 3, 4), "pose_few_keypoints"),  # 7 visible, head and hips kept
])
def test_webperson_visibility_rule(hidden, reason):
    (keep, why), _ = PoseRule().judge(keypoints(hidden))
    assert not keep and why == reason


def test_visibility_threshold_is_configurable():
    kp = keypoints()
    kp[:, 2] = 0.25
    assert PoseRule().judge(kp)[0] == (False, "pose_few_keypoints")
    assert PoseRule(min_score=0.2).judge(kp)[0] == (True, "ok")


def test_malformed_limbs():
    long_forearm = keypoints(moved={9: (32, 300)})               # a forearm 3.8 torsos long
    assert PoseRule().judge(long_forearm)[0] == (False, "pose_malformed_limb")
    assert PoseRule(check_limbs=False).judge(long_forearm)[0] == (True, "ok")
    lopsided = keypoints(moved={14: (58, 112)})                  # right thigh 0.12, left 0.67 torsos
    assert PoseRule().judge(lopsided)[0] == (False, "pose_limb_asymmetry")
    no_limbs = keypoints(hidden=(7, 8, 13, 14))                  # torso seen, elbows and knees not
    assert PoseRule(min_keypoints=8).judge(no_limbs)[0] == (False, "pose_missing_limbs")


def test_tiny_vitpose_gives_17_keypoints_in_image_pixels(tmp_path):
    model = PoseModel(str(save_tiny_vitpose(tmp_path / "pose")))
    rgb = np.random.default_rng(0).integers(0, 255, (200, 100, 3), dtype=np.uint8)
    (kp,) = model.keypoints([rgb], [(10, 20, 90, 180)])
    assert kp.shape == (17, 3)
    assert (kp[:, :2] >= 0).all() and (kp[:, 0] < 100).all() and (kp[:, 1] < 200).all()
    assert (kp[:, 2] >= 0).all() and (kp[:, 2] <= 1).all()


def test_a_folder_that_is_no_pose_model_is_one_line(tmp_path):
    from mals_gen.errors import UserError

    with pytest.raises(UserError, match="cannot load the pose model"):
        PoseModel(str(tmp_path))
