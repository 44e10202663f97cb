"""Head, face, hair and hat of the sketch pedestrian.

Short hair is a cap over the skull; long hair is a panel falling behind the head past the shoulders
(over the back in a back view) plus two locks over the front of the shoulders in a front view.
Hats (cap, beanie, brimmed hat) always rise above the skull, so a hat adds pixels above the head.
"""
from __future__ import annotations

import numpy as np

from mals_gen.backends.sketch_pose import shade

EYE = (40, 30, 28)


def contrast(rgb, *against, min_dist: float = 110.0):
    """`rgb`, or a light/dark substitute if it is too close to any colour it is drawn over."""
    for other in against:
        if sum(abs(a - b) for a, b in zip(rgb, other)) < min_dist:
            bright = sum(other) / 3 > 110
            return (28, 28, 30) if bright else (214, 210, 200)
    return rgb


def add_head(f, add, rng: np.random.Generator) -> None:
    """Queue the head parts on the figure's depth-sorted list (see sketch_figure.draw_person)."""
    look, b, v = f.look, f.b, f.v
    hair_end = b.shoulder_y + rng.uniform(0.06, 0.16)
    spread = rng.uniform(0.95, 1.35)
    if look.long_hair:
        # Behind the head: under the torso from the front, over the back (and backpack) from behind.
        add(0.3 - 0.6 * max(0.0, v.cos), _hair_panel, hair_end, spread)
    add(0.5, _head)
    if look.long_hair and v.cos > 0.2:
        add(0.55, _hair_locks, hair_end)
    if look.hat:
        kind = str(rng.choice(["cap", "beanie", "brimmed"], p=[0.45, 0.35, 0.2]))
        colour = contrast(look.accessories[0], look.hair)
        add(0.6, _hat, kind, colour)


def _geometry(f):
    v, b = f.v, f.b
    c = v.xy((0.0, b.head_h / 2, 0.0))
    return c, v.px(b.head_w), v.px(b.head_h)


def _head(f) -> None:
    look, v, cv = f.look, f.v, f.cv
    c, w, h = _geometry(f)
    cos, sin = v.cos, v.sin
    if cos < -0.35:  # seen from behind: all hair
        cv.ellipse((c[0], c[1] - h * 0.02), w * 0.53, h * 0.51, look.hair)
        return
    cv.ellipse((c[0] - sin * w * 0.1, c[1] - h * 0.04), w * 0.53, h * 0.5, look.hair)
    face_rx = w / 2 * (0.5 + 0.36 * max(cos, 0.0)) if cos > 0 else w / 2 * 0.5 * (1 + cos / 0.35)
    face_c = (c[0] + sin * w * (0.12 + 0.1 * (1 - abs(cos))), c[1] + h * 0.09)
    cv.ellipse(face_c, max(face_rx, 1.0), h * 0.41, look.skin)
    if look.long_hair:  # a fringe line at the top of the forehead
        cv.chord((c[0], c[1] - h * 0.06), w * 0.5, h * 0.3, 180, 360, look.hair)
    if cos > -0.1:
        r = max(0.7, w * 0.055)
        for lateral in (-0.2, 0.2):
            if cos < 0.4 and lateral * sin < 0:
                continue  # the far eye is hidden in a side view
            ex = c[0] + lateral * w * cos + sin * w * 0.38
            cv.ellipse((ex, c[1] + h * 0.06), r, r, EYE)


def _hair_panel(f, hair_end: float, spread: float) -> None:
    v, b = f.v, f.b
    c, w, h = _geometry(f)
    x = c[0] - v.sin * w * 0.35  # behind the skull in a side view
    bottom = v.top + hair_end * v.scale
    top_hw = w * (0.52 if abs(v.sin) < 0.7 else 0.42)
    bot_hw = w * 0.5 * spread * (0.6 + 0.4 * abs(v.cos))
    f.cv.polygon([(x - top_hw, c[1]), (x + top_hw, c[1]), (x + bot_hw, bottom), (x - bot_hw, bottom)],
                 f.look.hair)
    f.cv.ellipse((x, c[1] - h * 0.05), top_hw, h * 0.5, f.look.hair)
    f.cv.ellipse((x, bottom), bot_hw, max(1.0, h * 0.08), f.look.hair)
    del b


def _hair_locks(f, hair_end: float) -> None:
    v = f.v
    c, w, h = _geometry(f)
    bottom = v.top + (hair_end - 0.02) * v.scale
    for side in (-1, 1):
        inner_top = c[0] + side * w * 0.36 * v.cos
        outer_top = c[0] + side * w * 0.55
        inner_bot = c[0] + side * w * 0.5
        outer_bot = c[0] + side * w * 0.8
        f.cv.polygon([(inner_top, c[1] - h * 0.15), (outer_top, c[1] - h * 0.15), (outer_bot, bottom),
                      (inner_bot, bottom)], f.look.hair)


def _hat(f, kind: str, colour) -> None:
    v, cv = f.v, f.cv
    c, w, h = _geometry(f)
    sin = v.sin
    if kind == "cap":
        cv.chord((c[0] - sin * w * 0.04, c[1] - h * 0.06), w * 0.56, h * 0.58, 180, 360, colour)
        if v.cos > -0.3:  # the peak points where the face does
            cv.ellipse((c[0] + sin * w * 0.42, c[1] - h * 0.07), w * (0.5 + 0.22 * abs(sin)), h * 0.09,
                       shade(colour, 0.8))
    elif kind == "beanie":
        cv.chord((c[0], c[1] - h * 0.1), w * 0.55, h * 0.62, 180, 360, colour)
        cv.ellipse((c[0], c[1] - h * 0.12), w * 0.56, h * 0.1, shade(colour, 0.8))
    else:
        cv.ellipse((c[0], c[1] - h * 0.2), w * 0.98, h * 0.15, shade(colour, 0.85))
        cv.chord((c[0], c[1] - h * 0.18), w * 0.5, h * 0.5, 180, 360, colour)
