"""Tests of the sketch backend: determinism, the person box, and attributes visible in the pixels."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from PIL import Image, ImageDraw

from mals_gen.backends.sketch import render_person, render_with_look
from mals_gen.backends.sketch_figure import draw_person
from mals_gen.backends.sketch_look import LOWER_UNLISTED, UPPER_UNLISTED, resolve_look
from mals_gen.backends.sketch_pose import Canvas, make_build
from mals_gen.contract import ATTR, LOWER_COLOURS, NUM_MALS_ATTRIBUTES, UPPER_COLOURS

BG = (255, 0, 255)  # a flat backdrop no part of the figure uses
FRONT, BACK, SIDE = 0.0, np.pi, np.pi / 2
TOP, FOOT, H = 10.0, 250.0, 240.0  # where `_figure` puts the person in a 256x128 frame


def vec(**slots: int) -> np.ndarray:
    v = np.full(NUM_MALS_ATTRIBUTES, -1, dtype=np.int8)
    for name, value in slots.items():
        v[ATTR[name]] = value
    return v


def _figure(attrs, seed: int, yaw: float, **look_overrides):
    """The figure alone, on a flat backdrop, at a fixed place and yaw; returns (pixels, box, look)."""
    rng = np.random.default_rng(seed)
    look = replace(resolve_look(attrs, rng), **look_overrides)
    img = Image.new("RGB", (128, 256), BG)
    canvas = Canvas(ImageDraw.Draw(img))
    draw_person(canvas, look, rng, 64.0, FOOT, H, yaw)
    return np.asarray(img).astype(np.int32), canvas.box, look


def _is(pixels: np.ndarray, rgb) -> np.ndarray:
    return np.all(pixels == np.asarray(rgb), axis=-1)


def _rows(frac0: float, frac1: float) -> slice:
    return slice(int(TOP + frac0 * H), int(TOP + frac1 * H))


# -- determinism, box, sizes ------------------------------------------------------------------


def test_same_seed_same_pixels_and_different_seeds_differ():
    v = vec()
    a, box_a = render_person(v, np.random.default_rng(7))
    b, box_b = render_person(v, np.random.default_rng(7))
    c, _ = render_person(v, np.random.default_rng(8))
    assert a.tobytes() == b.tobytes() and box_a == box_b
    assert a.tobytes() != c.tobytes()


def test_all_unknown_vector_renders_rgb_of_requested_size():
    for seed in range(20):
        img, (x0, y0, x1, y1) = render_person(vec(), np.random.default_rng(seed))
        assert img.mode == "RGB" and img.size == (128, 256)
        assert 0 <= x0 < x1 <= 128 and 0 <= y0 < y1 <= 256
        assert y1 - y0 > 256 * 0.5  # a re-id crop: the person fills most of the height


@pytest.mark.parametrize("height,width", [(384, 128), (128, 64), (512, 256), (200, 200)])
def test_other_sizes(height, width):
    for seed in range(3):
        img, (x0, y0, x1, y1) = render_person(vec(age=1), np.random.default_rng(seed), height, width)
        assert img.size == (width, height)
        assert 0 <= x0 < x1 <= width and 0 <= y0 < y1 <= height
        assert y1 - y0 > height * 0.5 or y1 - y0 > width * 1.2


def test_box_covers_exactly_the_drawn_figure():
    for seed, yaw in zip(range(12), [FRONT, BACK, SIDE, -SIDE, 0.7, 2.4] * 2):
        px, (x0, y0, x1, y1), _ = _figure(vec(backpack=0, handbag=0, bag=0, hat=0), seed, yaw)
        ys, xs = np.nonzero(~_is(px, BG))
        assert xs.min() >= np.floor(x0) and xs.max() <= np.ceil(x1)
        assert ys.min() >= np.floor(y0) and ys.max() <= np.ceil(y1)
        # and tight: something is drawn within 2 px of every edge
        assert xs.min() - x0 < 2 and x1 - xs.max() < 2 and ys.min() - y0 < 2 and y1 - ys.max() < 2


def test_rejects_wrong_vector_length():
    with pytest.raises(ValueError, match="27 slots"):
        render_person(np.zeros(26, dtype=np.int8), np.random.default_rng(0))


# -- labels are obeyed ------------------------------------------------------------------------


def test_colour_slots_are_obeyed():
    upper0, lower0 = ATTR["upper_black"], ATTR["lower_black"]
    for seed in range(40):
        rng = np.random.default_rng(seed)
        v = vec()
        v[upper0:upper0 + 8] = 1  # wears none of the listed upper colours
        v[lower0 + 1] = v[lower0 + 4] = 0  # white and blue lower
        v[lower0] = 1  # not black
        look = resolve_look(v, rng)
        assert len(look.upper_names) == 1 and look.upper_names[0] in UPPER_UNLISTED
        assert sorted(look.lower_names) == ["blue", "white"]
        look = resolve_look(vec(lower_black=1, lower_blue=1, upper_red=1), rng)
        assert look.lower_names[0] not in ("black", "blue") and look.upper_names[0] != "red"
        assert look.lower_names[0] in LOWER_COLOURS + LOWER_UNLISTED
        assert look.upper_names[0] in UPPER_COLOURS + UPPER_UNLISTED


def test_binary_slots_are_obeyed_with_their_polarity():
    rng = np.random.default_rng(0)
    look = resolve_look(vec(gender=0, age=0, hair=1, hat=0, backpack=1, handbag=0, bag=1, sleeve=1,
                            lower_length=0, lower_type=0), rng)
    assert (look.man, look.adult, look.long_hair, look.hat) == (False, False, True, True)
    assert (look.backpack, look.handbag, look.bag) == (False, True, False)
    assert (look.short_sleeves, look.short_lower, look.skirt) == (True, False, True)


# -- attributes are visible in the pixels -----------------------------------------------------


def test_red_upper_dominates_the_torso_of_full_renders():
    v = vec(hair=0, backpack=1, bag=1, handbag=1, **{f"upper_{c}": 1 for c in UPPER_COLOURS if c != "red"},
            upper_red=0)
    for seed in range(12):
        img, (x0, y0, x1, y1) = render_person(v, np.random.default_rng(seed))
        px = np.asarray(img).astype(np.float64)
        h, w = y1 - y0, x1 - x0
        torso = px[y0 + int(0.25 * h):y0 + int(0.4 * h), x0 + int(0.4 * w):x1 - int(0.4 * w)]
        r, g, b = torso.reshape(-1, 3).mean(0)
        assert r > g + 50 and r > b + 50, (seed, r, g, b)


def test_blue_pants_dominate_the_hips():
    v = vec(lower_type=1, lower_length=0, lower_blue=0, upper_white=0, handbag=1, bag=1)
    for seed in range(8):
        px, _, _ = _figure(v, seed, FRONT)
        band = px[_rows(0.58, 0.68), 46:82].reshape(-1, 3)
        band = band[~_is(band, BG)]
        r, g, b = band.mean(0)
        assert b > r + 60 and b > g + 40, (seed, r, g, b)


def test_short_sleeves_show_skin_arms():
    skin = (0, 255, 255)
    def skin_pixels(sleeve: int, seed: int) -> int:
        px, _, _ = _figure(vec(sleeve=sleeve, upper_blue=0, handbag=1, bag=1, hair=0), seed, FRONT, skin=skin)
        return int(_is(px[_rows(0.2, 0.5)], skin).sum())
    for seed in range(6):
        long_, short = skin_pixels(0, seed), skin_pixels(1, seed)
        assert short > long_ + 150, (seed, long_, short)


def test_shorts_and_skirts_show_skin_legs_pants_do_not():
    skin = (0, 255, 255)
    for seed in range(6):
        counts = {}
        garments = {"pants": {"lower_type": 1, "lower_length": 0},
                    "shorts": {"lower_type": 1, "lower_length": 1},
                    "skirt": {"lower_type": 0, "lower_length": 1}}
        for name, slots in garments.items():
            px, _, _ = _figure(vec(handbag=1, bag=1, **slots), seed, FRONT, skin=skin)
            counts[name] = int(_is(px[_rows(0.7, 0.9)], skin).sum())
        assert counts["pants"] == 0 and counts["shorts"] > 200 and counts["skirt"] > 200, counts


def test_long_skirt_fills_the_gap_between_the_legs():
    for seed in range(8):
        pants, _, _ = _figure(vec(lower_type=1, lower_length=0, handbag=1, bag=1), seed, FRONT)
        skirt, _, _ = _figure(vec(lower_type=0, lower_length=0, handbag=1, bag=1), seed, FRONT)
        gap = (_rows(0.68, 0.74), slice(63, 66))
        assert _is(pants[gap], BG).mean() > 0.9 and _is(skirt[gap], BG).mean() == 0.0, seed


def test_hat_adds_pixels_above_the_head():
    for seed in range(8):
        for yaw in (FRONT, BACK, SIDE):
            _no_hat, box_n, _ = _figure(vec(hat=1), seed, yaw)
            hat, box_h, _ = _figure(vec(hat=0), seed, yaw)
            assert box_h[1] < box_n[1] - 2, (seed, yaw)
            assert (~_is(hat[: int(box_n[1])], BG)).sum() > 40
    for seed in range(4):  # also through the full renderer: the person box grows upwards
        _, box_n = render_person(vec(hat=1), np.random.default_rng(seed))
        _, box_h = render_person(vec(hat=0), np.random.default_rng(seed))
        assert box_h[1] < box_n[1]


def test_long_hair_falls_past_the_shoulders():
    hair = (1, 2, 3)
    for seed in range(6):
        for yaw in (FRONT, BACK, SIDE):
            counts = []
            for long_hair in (0, 1):
                px, _, _look = _figure(vec(hair=long_hair, hat=1, backpack=1, age=1), seed, yaw, hair=hair)
                below = _is(px[_rows(0.205, 0.4)], hair).sum()  # under an adult's shoulder line
                counts.append(int(below))
            assert counts[0] == 0 and counts[1] > 40, (seed, yaw, counts)


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.any(a != b, axis=-1)


def test_backpack_straps_from_the_front_body_from_the_back():
    base = {"hair": 0, "bag": 1, "handbag": 1, "age": 1}
    for seed in range(6):
        front_without, _, _ = _figure(vec(backpack=1, **base), seed, FRONT)
        front_with, _, _ = _figure(vec(backpack=0, **base), seed, FRONT)
        assert _diff(front_with, front_without)[_rows(0.2, 0.4)].sum() > 40  # the straps
        back_without, _, _ = _figure(vec(backpack=1, **base), seed, BACK)
        back_with, _, _ = _figure(vec(backpack=0, **base), seed, BACK)
        assert _diff(back_with, back_without)[_rows(0.2, 0.45)].sum() > 600  # the pack itself


def test_handbag_hangs_from_a_hand_and_bag_strap_is_diagonal():
    for seed in range(6):
        without, _, _ = _figure(vec(handbag=1, bag=1, backpack=1, hair=0), seed, FRONT)
        handbag, _, _ = _figure(vec(handbag=0, bag=1, backpack=1, hair=0), seed, FRONT)
        ys, _ = np.nonzero(_diff(handbag, without))
        assert len(ys) > 80 and np.median(ys) > TOP + 0.45 * H  # at hand height, below the waist
        bag, _, _ = _figure(vec(handbag=1, bag=0, backpack=1, hair=0), seed, FRONT)
        ys, xs = np.nonzero(_diff(bag, without)[_rows(0.22, 0.42)])
        assert len(ys) > 40 and abs(np.corrcoef(xs, ys)[0, 1]) > 0.6, seed  # a diagonal strap


def test_children_are_shorter_with_bigger_heads():
    heights = {0: [], 1: []}
    for seed in range(24):
        for age in (0, 1):
            _, (_, y0, _, y1), _look = render_with_look(vec(age=age, hat=1), np.random.default_rng(seed))
            heights[age].append(y1 - y0)
    assert np.mean(heights[0]) < 0.88 * np.mean(heights[1])
    for seed in range(10):
        rng = np.random.default_rng(seed)
        child = make_build(resolve_look(vec(age=0), rng), rng)
        adult = make_build(resolve_look(vec(age=1), rng), rng)
        assert child.head_h > 1 / 6.1 and adult.head_h < 1 / 7.0  # head-to-height ratio
