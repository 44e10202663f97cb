"""Backpack, handbag and shoulder bag of the sketch pedestrian.

A backpack shows its straps from the front and its body from the back or side; a handbag hangs
from one hand; a shoulder (messenger) bag has a diagonal strap across the torso and its body at
the opposite hip. Gear colours are pushed away from the clothes they lie on so they stay visible.
"""
from __future__ import annotations

import numpy as np

from mals_gen.backends.sketch_head import contrast
from mals_gen.backends.sketch_pose import shade


def add_gear(f, add, rng: np.random.Generator) -> None:
    """Queue the gear parts on the figure's depth-sorted list (see sketch_figure.draw_person)."""
    look, b, v = f.look, f.b, f.v
    if look.backpack:
        colour = contrast(look.accessories[1], look.upper[0])
        size = (b.shoulder_hw * rng.uniform(0.72, 0.88), rng.uniform(0.19, 0.25), rng.uniform(0.06, 0.09))
        z = -(b.chest_d + size[2] / 2)
        # From behind the pack goes over long hair (which still shows above it and past the shoulders).
        add(0.35 if v.cos < -0.3 else v.depth((0.0, 0.0, z)), _backpack, colour, size, z)
        if abs(v.sin) > 0.45 or v.cos > 0.25:  # straps over the front hair locks, so they stay visible
            add(0.57, _backpack_straps, contrast(shade(colour, 0.75), look.upper[0], look.hair))
    if look.bag:
        side = 1 if rng.random() < 0.5 else -1
        colour = contrast(look.accessories[2], look.upper[0], look.lower[0])
        size = (rng.uniform(0.06, 0.075), rng.uniform(0.09, 0.12))
        anchor = (-side * (b.hip_hw + size[0] * 0.6), b.hip_y - 0.02, 0.03)
        add(0.002, _bag_strap, side, contrast(shade(colour, 0.8), look.upper[0]))
        add(v.depth(anchor) + 0.002, _shoulder_bag, anchor, size, colour)
    if look.handbag:
        side = int(rng.integers(2))
        colour = contrast(look.accessories[2 if not look.bag else 1], look.lower[0], look.upper[0])
        size = (rng.uniform(0.045, 0.06), rng.uniform(0.07, 0.095))
        arm_depth = (v.depth(f.pose.elbow[side]) + v.depth(f.pose.wrist[side])) / 2 \
            + v.depth(f.pose.shoulder[side]) * 0.5
        add(arm_depth + 0.0001, _handbag, side, size, colour)


def _backpack(f, colour, size, z: float) -> None:
    v, b = f.v, f.b
    half_w, height, depth = size
    top = v.xy((0.0, b.shoulder_y + (0.02 if v.cos < -0.3 else -0.005), z))
    hw = v.half_width(half_w, depth / 2)
    bottom = top[1] + v.px(height)
    r = max(1, int(hw * 0.35))
    f.cv._grow((top[0] - hw, top[0] + hw), (top[1], bottom))
    f.cv.draw.rounded_rectangle((top[0] - hw, top[1], top[0] + hw, bottom), radius=r, fill=colour)
    if v.cos < -0.3:  # the outer pocket faces the camera in a back view
        pocket_top = top[1] + (bottom - top[1]) * 0.5
        f.cv.draw.rounded_rectangle((top[0] - hw * 0.7, pocket_top, top[0] + hw * 0.7, bottom - v.px(0.01)),
                                    radius=max(1, r // 2), fill=shade(colour, 0.78))


def _backpack_straps(f, colour) -> None:
    v, b = f.v, f.b
    width = max(2.0, v.px(0.022))
    sy = b.shoulder_y
    if v.cos > 0.25:
        for side in (-1, 1):
            x0, x1 = side * b.shoulder_hw * 0.5, side * b.shoulder_hw * 0.58
            f.cv.line([v.xy((x0, sy - 0.008, b.chest_d)), v.xy((x1, sy + 0.18, b.chest_d))], width, colour)
    else:  # side view: one strap over the near shoulder down to the pack's lower edge
        f.cv.line([v.xy((0.0, sy - 0.008, b.chest_d * 0.4)), v.xy((0.0, sy + 0.19, -b.chest_d * 0.7))],
                  width, colour)


def _bag_strap(f, side: int, colour) -> None:
    v, b = f.v, f.b
    near = 1.0 if v.cos >= 0 else -1.0  # over the chest from the front, over the back from behind
    start = v.xy((side * b.shoulder_hw * 0.55, b.shoulder_y - 0.006, near * b.chest_d))
    end = v.xy((-side * b.hip_hw * 0.95, b.hip_y - 0.03, near * b.chest_d))
    f.cv.line([start, end], max(1.5, v.px(0.018)), colour)


def _shoulder_bag(f, anchor, size, colour) -> None:
    v = f.v
    cx, cy = v.xy(anchor)
    hw = v.half_width(size[0], 0.02)
    hh = v.px(size[1]) / 2
    f.cv.polygon([(cx - hw, cy - hh), (cx + hw, cy - hh), (cx + hw, cy + hh), (cx - hw, cy + hh)], colour)
    f.cv.polygon([(cx - hw, cy - hh), (cx + hw, cy - hh), (cx + hw, cy - hh * 0.2), (cx - hw, cy - hh * 0.2)],
                 shade(colour, 0.8))  # the flap


def _handbag(f, side: int, size, colour) -> None:
    v = f.v
    hx, hy = v.xy(f.pose.hand[side])
    hw, h = v.px(size[0]), v.px(size[1])
    top = hy + v.px(0.02)
    f.cv.line([(hx - hw * 0.5, top), (hx, hy), (hx + hw * 0.5, top)], max(1.0, v.px(0.008)),
              shade(colour, 0.7))
    f.cv.polygon([(hx - hw * 0.85, top), (hx + hw * 0.85, top), (hx + hw, top + h), (hx - hw, top + h)],
                 colour)
