"""Draw one posed pedestrian (body, clothes, head, gear) onto a PIL image.

Parts are collected as (depth, order, draw) items and painted far to near, so a side view shows
the far arm behind the torso and a back view shows the backpack over it. Clothing follows the
look exactly: upper colour on torso and sleeves (long sleeves reach the wrists, short sleeves end
above the elbow), pants/shorts on the legs or a skirt over them, shorts and skirts show skin legs.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

from mals_gen.backends import sketch_gear, sketch_head
from mals_gen.backends.sketch_look import Look
from mals_gen.backends.sketch_pose import Build, Canvas, Pose, View, lerp, make_build, make_pose

Row = tuple[float, float, float]  # (pixel y, left x, right x) of a ribbon-shaped body part


@dataclass(frozen=True)
class Figure:
    """Everything a part drawer needs."""

    cv: Canvas
    look: Look
    b: Build
    pose: Pose
    v: View
    pattern: str  # how a second upper colour shows: "stripes" | "split" | "sleeves"
    hem_y: float  # skirt hem (figure units)


def _rows(f: Figure, spec: list[tuple[float, float, float]]) -> list[Row]:
    """Ribbon rows (pixel y, left x, right x) from (y, half width, half depth) in figure units."""
    out = []
    for y, w, d in spec:
        hw = f.v.half_width(w, d)
        py = f.v.top + y * f.v.scale
        out.append((py, f.v.cx - hw, f.v.cx + hw))
    return out


def _edge_at(rows: list[Row], y: float) -> tuple[float, float]:
    for (y0, l0, r0), (y1, l1, r1) in itertools.pairwise(rows):
        if y0 <= y <= y1:
            t = 0.0 if y1 == y0 else (y - y0) / (y1 - y0)
            return l0 + (l1 - l0) * t, r0 + (r1 - r0) * t
    return (rows[0][1], rows[0][2]) if y < rows[0][0] else (rows[-1][1], rows[-1][2])


def _band(rows: list[Row], y0: float, y1: float) -> list[tuple[float, float]]:
    """Polygon of the ribbon between pixel heights y0 < y1 (for stripes and colour blocks)."""
    inner = [r for r in rows if y0 < r[0] < y1]
    l0, r0 = _edge_at(rows, y0)
    l1, r1 = _edge_at(rows, y1)
    left = [(l0, y0)] + [(r[1], r[0]) for r in inner] + [(l1, y1)]
    right = [(r0, y0)] + [(r[2], r[0]) for r in inner] + [(r1, y1)]
    return left + right[::-1]


def _torso(f: Figure) -> None:
    b, look = f.b, f.look
    sy = b.shoulder_y
    rows = _rows(f, [(sy - 0.02, b.neck_w * 1.5, b.neck_w * 1.2),
                     (sy + 0.004, b.shoulder_hw * 0.9, b.chest_d * 0.9),
                     (sy + 0.03, b.shoulder_hw, b.chest_d), (sy + 0.1, b.shoulder_hw * 0.92, b.chest_d),
                     (b.waist_y, b.waist_hw, b.chest_d * 0.9),
                     (b.hip_y + 0.025, b.hip_hw * 1.02, b.chest_d * 0.85)])
    main = look.upper[0]
    f.cv.polygon(_band(rows, rows[0][0], rows[-1][0]), main)
    others = look.upper[1:]
    if not others or (f.pattern == "sleeves" and len(others) == 1):
        return
    top, bottom = rows[1][0], rows[-1][0]
    if f.pattern == "split":
        f.cv.polygon(_band(rows, rows[0][0], top + (bottom - top) * 0.42), others[0])
        return
    colours = [main, *others]
    n = max(4, 2 * len(colours))
    step = (bottom - top) / n
    for i in range(n):
        if i % len(colours):
            f.cv.polygon(_band(rows, top + i * step, top + (i + 1) * step), colours[i % len(colours)])


def _lower_body(f: Figure) -> None:
    """Pelvis of pants/shorts, or the skirt."""
    b, look = f.b, f.look
    if not look.skirt:
        rows = _rows(f, [(b.waist_y, b.waist_hw, b.chest_d * 0.85), (b.hip_y, b.hip_hw, b.chest_d * 0.85),
                         (b.hip_y + 0.045, b.hip_hw * 0.95, b.chest_d * 0.8)])
        colour = look.lower[1] if look.short_lower and len(look.lower) > 1 else look.lower[0]
        f.cv.polygon(_band(rows, rows[0][0], rows[-1][0]), colour)
        return
    hem_px = f.v.top + f.hem_y * f.v.scale
    spread = 0.0
    for side in (0, 1):
        chain = [f.v.xy(p) for p in (f.pose.hip[side], f.pose.knee[side], f.pose.ankle[side])]
        spread = max(spread, abs(_x_at(chain, hem_px) - f.v.cx) + f.v.px(b.leg_w) * 0.7)
    flare = f.v.half_width(b.hip_hw * (1.3 if look.short_lower else 1.2), b.chest_d * 1.1)
    hem_hw = max(spread, flare) / f.v.scale
    rows = _rows(f, [(b.waist_y, b.waist_hw * 1.02, b.chest_d * 0.9), (b.hip_y, b.hip_hw * 1.08, b.chest_d),
                     (f.hem_y, hem_hw, hem_hw)])
    f.cv.polygon(_band(rows, rows[0][0], rows[-1][0]), look.lower[0])
    if len(look.lower) > 1:  # a contrasting hem band
        f.cv.polygon(_band(rows, rows[-1][0] - (rows[-1][0] - rows[0][0]) * 0.3, rows[-1][0]), look.lower[1])


def _x_at(chain, y: float) -> float:
    for (x0, y0), (x1, y1) in itertools.pairwise(chain):
        if min(y0, y1) <= y <= max(y0, y1) and y1 != y0:
            return x0 + (x1 - x0) * (y - y0) / (y1 - y0)
    return chain[-1][0]


def _leg(f: Figure, side: int) -> None:
    b, look, v, cv = f.b, f.look, f.v, f.cv
    hip, knee, ankle = (v.xy(p) for p in (f.pose.hip[side], f.pose.knee[side], f.pose.ankle[side]))
    lw = v.px(b.leg_w)
    heel = v.xy((f.pose.ankle[side][0], f.pose.ankle[side][1] + 0.015, f.pose.ankle[side][2] - 0.015))
    cv.limb(heel, v.xy(f.pose.toe[side]), lw * 0.62, lw * 0.55, look.shoes)
    if look.skirt or look.short_lower:
        cv.limb(hip, knee, lw * 0.85, lw * 0.66, look.skin)
        cv.limb(knee, ankle, lw * 0.66, lw * 0.46, look.skin)
    if look.skirt:
        return
    main = look.lower[0]
    if look.short_lower:
        cv.limb(hip, lerp(hip, knee, 0.6), lw * 1.05, lw * 1.0, main)
        return
    lower = look.lower[1] if len(look.lower) > 1 else main
    cv.limb(hip, knee, lw, lw * 0.82, main)
    cv.limb(knee, ankle, lw * 0.82, lw * 0.62, lower)


def _arm(f: Figure, side: int) -> None:
    b, look, v, cv = f.b, f.look, f.v, f.cv
    sh, el, wr, hd = (v.xy(p) for p in (f.pose.shoulder[side], f.pose.elbow[side], f.pose.wrist[side],
                                        f.pose.hand[side]))
    aw = v.px(b.arm_w)
    sleeve = look.upper[1] if f.pattern == "sleeves" and len(look.upper) > 1 else look.upper[0]
    cv.limb(wr, hd, aw * 0.55, aw * 0.62, look.skin)
    if look.short_sleeves:
        cv.limb(sh, el, aw * 0.9, aw * 0.72, look.skin)
        cv.limb(el, wr, aw * 0.72, aw * 0.55, look.skin)
        cv.limb(sh, lerp(sh, el, 0.5), aw * 1.08, aw * 1.02, sleeve)
        return
    cv.limb(sh, el, aw, aw * 0.86, sleeve)
    cv.limb(el, wr, aw * 0.86, aw * 0.7, sleeve)


def _neck(f: Figure) -> None:
    v, b = f.v, f.b
    f.cv.limb(v.xy((0, b.head_h * 0.8, 0)), v.xy((0, b.shoulder_y, 0)), v.px(b.neck_w * 2),
              v.px(b.neck_w * 2.2), f.look.skin)


def draw_person(cv: Canvas, look: Look, rng: np.random.Generator, cx: float, foot_y: float,
                height_px: float, yaw: float) -> None:
    """Pose and draw the figure with its feet on `foot_y`, `height_px` tall, turned by `yaw`."""
    b = make_build(look, rng)
    pose = make_pose(b, rng)
    scale = height_px / pose.extent
    v = View(yaw=yaw, cx=cx, top=foot_y - height_px, scale=scale)
    patterns = ["stripes", "split"] if look.short_sleeves else ["stripes", "split", "sleeves"]
    pattern = str(rng.choice(patterns))
    if len(look.upper) > 2:
        pattern = "stripes"  # the only pattern that shows three or more colours
    hem = rng.uniform(0.6, 0.66) if look.short_lower else rng.uniform(0.8, 0.9)
    f = Figure(cv=cv, look=look, b=b, pose=pose, v=v, pattern=pattern, hem_y=hem * pose.extent)
    items: list[tuple[float, int, object]] = []

    def add(depth: float, fn, *args) -> None:
        items.append((depth, len(items), lambda: fn(f, *args)))

    for side in (0, 1):
        leg = (pose.hip[side], pose.knee[side], pose.ankle[side])
        add(-10.0 + sum(v.depth(p) for p in leg) / 3, _leg, side)  # legs always under the clothes
        arm = (pose.elbow[side], pose.wrist[side])
        add(sum(v.depth(p) for p in arm) / 2 + v.depth(pose.shoulder[side]) * 0.5, _arm, side)
    add(-0.001, _neck)
    add(0.0, _lower_body)
    add(0.0005, _torso)
    sketch_gear.add_gear(f, add, rng)
    sketch_head.add_head(f, add, rng)
    for _, _, fn in sorted(items, key=lambda t: (t[0], t[1])):
        fn()  # type: ignore[operator]


def facing(yaw: float) -> str:
    """'front', 'back' or 'side' for a yaw angle (used in summaries and tests)."""
    c = math.cos(yaw)
    return "front" if c > 0.5 else "back" if c < -0.5 else "side"
