"""Training augmentation as the original code: RandAugment magnitudes at level 7 on 384x128, and
random erasing's area and aspect bounds."""
from __future__ import annotations

import math

import pytest
import torch
from torchvision.transforms.v2 import functional as TF

from aptm_train.data.transforms import (
    CAPTION_SAFE_OPS,
    CaptionSafeRandAugment,
    OriginalRandomErasing,
    apply_original_op,
    original_magnitude,
)

H, W = 384, 128


def _column_image(col: int = 60) -> torch.Tensor:
    img = torch.zeros(3, H, W, dtype=torch.uint8)
    img[:, :, col] = 255
    return img


def _row_image(row: int = 200) -> torch.Tensor:
    img = torch.zeros(3, H, W, dtype=torch.uint8)
    img[:, row, :] = 255
    return img


def test_magnitudes_at_level_7():
    assert original_magnitude("Brightness", 7) == pytest.approx(1.36)
    assert original_magnitude("Sharpness", 7) == pytest.approx(1.36)
    assert original_magnitude("ShearX", 7) == pytest.approx(0.21)
    assert original_magnitude("TranslateX", 7) == pytest.approx(7.0)
    assert original_magnitude("TranslateY", 7) == pytest.approx(7.0)
    assert original_magnitude("Rotate", 7) == pytest.approx(21.0)


@pytest.mark.parametrize("sign", [1, -1])
def test_translate_moves_at_most_7_px_and_fills_grey(sign):
    moved = apply_original_op(_column_image(), "TranslateX", sign * original_magnitude("TranslateX", 7))
    assert moved[0, 100].eq(255).nonzero().flatten().tolist() == [60 + 7 * sign]
    edge = 0 if sign > 0 else W - 1
    assert int(moved[0, 100, edge]) == 128                          # the uncovered strip is grey
    moved = apply_original_op(_row_image(), "TranslateY", sign * original_magnitude("TranslateY", 7))
    assert moved[0, :, 50].eq(255).nonzero().flatten().tolist() == [200 + 7 * sign]


def test_brightness_factor_is_1_36_and_only_brightens():
    img = torch.full((3, H, W), 100, dtype=torch.uint8)
    out = apply_original_op(img, "Brightness", original_magnitude("Brightness", 7))
    assert int(out[0, 0, 0]) == 136                                  # 100 * 1.36


def test_two_ops_drawn_with_replacement_each_with_p_half(monkeypatch):
    from aptm_train.data import transforms

    calls: list[list[tuple[str, float]]] = []
    monkeypatch.setattr(transforms, "apply_original_op", lambda img, op, m: (calls[-1].append((op, m)), img)[1])
    torch.manual_seed(0)
    aug = CaptionSafeRandAugment(num_ops=2, magnitude=7)
    for _ in range(2000):
        calls.append([])
        aug(torch.zeros(3, H, W, dtype=torch.uint8))
    per_call = [len(c) for c in calls]
    assert max(per_call) == 2 and sum(per_call) / len(calls) == pytest.approx(1.0, abs=0.06)  # 2 x p 0.5
    assert any(len(c) == 2 and c[0][0] == c[1][0] for c in calls)   # with replacement
    seen = {op: {round(m, 4) for c in calls for o, m in c if o == op} for op in CAPTION_SAFE_OPS}
    assert seen["Brightness"] == {1.36} and seen["Sharpness"] == {1.36}   # never darker / blurrier
    assert seen["TranslateX"] == {7.0, -7.0} and seen["TranslateY"] == {7.0, -7.0}
    assert seen["ShearX"] == {0.21, -0.21} and seen["Rotate"] == {21.0, -21.0}


def test_shear_and_rotate_magnitudes():
    sheared = apply_original_op(_row_image(), "ShearX", original_magnitude("ShearX", 7))
    assert sheared.shape == (3, H, W)                                # a row stays a row under ShearX
    assert sheared[0, 200].float().mean() > 100
    col = apply_original_op(_column_image(64), "ShearX", original_magnitude("ShearX", 7))
    line = col[0] > 200                                              # x' = x -+ 0.21 * y about (0, 0)
    assert line[0].nonzero().flatten().tolist() == [64]
    assert line[200].nonzero().flatten().tolist() in ([64 - 42], [64 + 42])   # 0.21 * 200 = 42 px
    one = torch.zeros(3, H, W, dtype=torch.uint8)
    one[:, 100:284, 63:65] = 255                                     # a vertical bar through the centre
    turned = apply_original_op(one, "Rotate", 21.0)
    pts = turned[0].gt(128).nonzero().float()
    slope = torch.linalg.lstsq(torch.stack([pts[:, 0], torch.ones(len(pts))], 1), pts[:, 1:]).solution[0]
    assert math.degrees(math.atan(abs(float(slope)))) == pytest.approx(21.0, abs=1.5)


def test_ops_are_the_caption_safe_ten_and_torchvision_option_is_kept():
    assert len(CAPTION_SAFE_OPS) == 10 and "Solarize" not in CAPTION_SAFE_OPS
    torch.manual_seed(0)
    tv = CaptionSafeRandAugment(magnitudes="torchvision", p=1.0)
    out = tv(TF.to_image(_column_image().permute(1, 2, 0).numpy()))
    assert out.shape == (3, H, W)
    with pytest.raises(ValueError):
        CaptionSafeRandAugment(magnitudes="nope")


def test_random_erasing_area_and_aspect_bounds():
    torch.manual_seed(0)
    erase = OriginalRandomErasing(p=1.0)
    areas, aspects = [], []
    for _ in range(400):
        zero = erase(torch.ones(3, H, W))[0] == 0
        assert zero.any()                                            # p 1: always a box
        rows, cols = zero.any(1).nonzero(), zero.any(0).nonzero()
        h, w = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert h * w == int(zero.sum())                              # one solid box, value 0
        areas.append(h * w / (H * W))
        aspects.append(h / w)
    assert 0.02 * 0.9 <= min(areas) and max(areas) <= 0.4 * 1.06
    assert max(areas) > 0.34                                         # beyond torchvision's 0.33
    assert 0.3 * 0.85 <= min(aspects) and max(aspects) <= 3.34 * 1.15
    assert OriginalRandomErasing(p=0.0)(torch.ones(3, H, W)).eq(1).all()
