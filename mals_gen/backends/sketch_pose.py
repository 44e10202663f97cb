"""Body proportions, walking pose and viewpoint for the sketch renderer.

The figure is posed in body coordinates (x lateral, y down from the top of the head, z forward, all
in units of the figure's height) and projected orthographically after turning it by a yaw angle:
yaw 0 faces the camera, pi shows the back, +-pi/2 the side. Proportions follow the usual canon
(an adult is ~7.5 heads tall with legs about half the height; a child ~5.5 heads), with a
gender-dependent build (shoulders vs hips) and a per-person jitter.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mals_gen.backends.sketch_look import Look

Point = tuple[float, float]


@dataclass(frozen=True)
class Build:
    """Proportions as fractions of the figure height."""

    head_h: float
    head_w: float
    neck_w: float
    shoulder_y: float
    shoulder_hw: float  # half width at the shoulders
    chest_d: float  # half depth of the chest (what a side view shows)
    waist_y: float
    waist_hw: float
    hip_y: float
    hip_hw: float
    upper_arm: float
    forearm: float
    arm_w: float
    thigh: float
    shin: float
    leg_w: float
    foot: float


def make_build(look: Look, rng: np.random.Generator) -> Build:
    """Adult/child and man/woman proportions with a little per-person jitter."""
    if look.adult:
        head_h = rng.uniform(1 / 7.9, 1 / 7.1)
        shoulder_hw = 0.125 if look.man else 0.104
        waist_hw, hip_hw = (0.082, 0.092) if look.man else (0.068, 0.1)
        arm_w, leg_w = (0.056, 0.075) if look.man else (0.046, 0.07)
        top = {"shoulder_y": 0.19, "waist_y": 0.4, "hip_y": 0.5, "upper_arm": 0.185, "forearm": 0.155,
                   "thigh": 0.245, "shin": 0.225}
    else:
        head_h = rng.uniform(1 / 6.0, 1 / 5.2)
        shoulder_hw = 0.11 if look.man else 0.104
        waist_hw, hip_hw = (0.085, 0.09) if look.man else (0.08, 0.094)
        arm_w, leg_w = 0.052, 0.07
        top = {"shoulder_y": head_h + 0.055, "waist_y": 0.44, "hip_y": 0.54, "upper_arm": 0.17,
               "forearm": 0.14, "thigh": 0.22, "shin": 0.2}
    heavy = rng.uniform(0.9, 1.18)  # overall build: slim .. heavy
    j = lambda: rng.uniform(0.95, 1.05)
    return Build(
        head_h=head_h, head_w=head_h * rng.uniform(0.7, 0.78),
        neck_w=0.03 * heavy * (1.2 if look.man else 1.0),
        shoulder_y=top["shoulder_y"] * j(), shoulder_hw=shoulder_hw * heavy * j(),
        chest_d=shoulder_hw * 0.58 * heavy, waist_y=top["waist_y"] * j(), waist_hw=waist_hw * heavy * j(),
        hip_y=top["hip_y"], hip_hw=hip_hw * heavy * j(), upper_arm=top["upper_arm"] * j(),
        forearm=top["forearm"] * j(), arm_w=arm_w * heavy, thigh=top["thigh"] * j(), shin=top["shin"] * j(),
        leg_w=leg_w * heavy, foot=0.07 * j(),
    )


@dataclass(frozen=True)
class Pose:
    """Joint positions in body coordinates (x, y, z) for one walking phase."""

    shoulder: tuple[tuple[float, float, float], ...]  # (left, right)
    elbow: tuple[tuple[float, float, float], ...]
    wrist: tuple[tuple[float, float, float], ...]
    hand: tuple[tuple[float, float, float], ...]
    hip: tuple[tuple[float, float, float], ...]
    knee: tuple[tuple[float, float, float], ...]
    ankle: tuple[tuple[float, float, float], ...]
    toe: tuple[tuple[float, float, float], ...]
    extent: float  # y of the lowest sole (figure units, ~1)


def _add(p, length, angle, lateral=0.0):
    """Point `length` away from `p` along a limb swung by `angle` (forward +) and tilted sideways."""
    return (p[0] + length * math.sin(lateral), p[1] + length * math.cos(angle) * math.cos(lateral),
            p[2] + length * math.sin(angle) * math.cos(lateral))


def make_pose(b: Build, rng: np.random.Generator) -> Pose:
    """A walking (or standing) phase: legs swing opposite to arms, the swinging knee bends."""
    phase = rng.uniform(0, 2 * math.pi)
    stride = rng.uniform(0.0, 0.42) if rng.random() < 0.85 else 0.0
    swing = stride * rng.uniform(0.5, 1.1)
    joints: dict[str, list] = {k: [] for k in ("shoulder", "elbow", "wrist", "hand", "hip", "knee",
                                               "ankle", "toe")}
    for side in (-1, 1):
        s = math.sin(phase) * side
        c = math.cos(phase) * side
        sh = (side * b.shoulder_hw * 0.86, b.shoulder_y + 0.015, 0.0)
        arm_a = -swing * s + rng.uniform(-0.05, 0.05)
        out = side * rng.uniform(0.06, 0.16)  # arms hang slightly away from the body
        el = _add(sh, b.upper_arm, arm_a, out)
        fore_a = arm_a + rng.uniform(0.05, 0.25) + max(0.0, arm_a) * 0.8  # elbows flex forward
        wr = _add(el, b.forearm, fore_a, out * 0.5)
        hd = _add(wr, 0.045, fore_a, 0.0)
        hip = (side * b.hip_hw * 0.52, b.hip_y + 0.012, 0.0)
        leg_a = stride * s
        kn = _add(hip, b.thigh, leg_a, side * 0.02)
        bend = 1.1 * stride * max(0.0, c) + 0.04
        an = _add(kn, b.shin, leg_a - bend, 0.0)
        toe = (an[0], an[1] + 0.02, an[2] + b.foot)
        for name, p in zip(joints, (sh, el, wr, hd, hip, kn, an, toe)):
            joints[name].append(p)
    # Sole of the lowest foot: the renderer scales the figure so that this lands on its ground line.
    extent = max(p[1] for p in joints["toe"]) + 0.012
    return Pose(**{k: tuple(v) for k, v in joints.items()}, extent=extent)


@dataclass(frozen=True)
class View:
    """Orthographic projection of body coordinates to pixels after a yaw turn."""

    yaw: float
    cx: float  # pixel x of the body axis
    top: float  # pixel y of the top of the head
    scale: float  # pixels per figure height

    @property
    def cos(self) -> float:
        return math.cos(self.yaw)

    @property
    def sin(self) -> float:
        return math.sin(self.yaw)

    def xy(self, p) -> Point:
        x, y, z = p
        return (self.cx + (x * self.cos + z * self.sin) * self.scale, self.top + y * self.scale)

    def depth(self, p) -> float:
        """Larger is nearer the camera."""
        x, _, z = p
        return z * self.cos - x * self.sin

    def half_width(self, w: float, d: float) -> float:
        """Pixel half-width of an elliptic cross-section (half width w, half depth d) seen at yaw."""
        return math.hypot(w * self.cos, d * self.sin) * self.scale

    def px(self, f: float) -> float:
        return f * self.scale


class Canvas:
    """PIL drawing with the bounding box of everything drawn tracked on the side (the person box)."""

    def __init__(self, draw) -> None:
        self.draw = draw
        self.box = [math.inf, math.inf, -math.inf, -math.inf]

    def _grow(self, xs, ys, pad: float = 0.0) -> None:
        b = self.box
        b[0] = min(b[0], min(xs) - pad)
        b[1] = min(b[1], min(ys) - pad)
        b[2] = max(b[2], max(xs) + pad)
        b[3] = max(b[3], max(ys) + pad)

    def polygon(self, pts: list[Point], fill) -> None:
        self._grow([p[0] for p in pts], [p[1] for p in pts])
        self.draw.polygon(pts, fill=fill)

    def ellipse(self, c: Point, rx: float, ry: float, fill) -> None:
        box = (c[0] - rx, c[1] - ry, c[0] + rx, c[1] + ry)
        self._grow((box[0], box[2]), (box[1], box[3]))
        self.draw.ellipse(box, fill=fill)

    def chord(self, c: Point, rx: float, ry: float, start: float, end: float, fill) -> None:
        """Part of an ellipse cut by a chord; angles in degrees, 0 = +x, clockwise (PIL)."""
        box = (c[0] - rx, c[1] - ry, c[0] + rx, c[1] + ry)
        self._grow((box[0], box[2]), (box[1], box[3]))
        self.draw.chord(box, start, end, fill=fill)

    def limb(self, p0: Point, p1: Point, w0: float, w1: float, fill) -> None:
        """A tapered capsule from p0 (width w0) to p1 (width w1), in pixels."""
        dx, dy = p1[0] - p0[0], p1[1] - p0[1]
        n = math.hypot(dx, dy) or 1.0
        nx, ny = -dy / n, dx / n
        a, b = w0 / 2, w1 / 2
        self.polygon([(p0[0] + nx * a, p0[1] + ny * a), (p1[0] + nx * b, p1[1] + ny * b),
                      (p1[0] - nx * b, p1[1] - ny * b), (p0[0] - nx * a, p0[1] - ny * a)], fill)
        self.ellipse(p0, a, a, fill)
        self.ellipse(p1, b, b, fill)

    def line(self, pts: list[Point], width: float, fill) -> None:
        self._grow([p[0] for p in pts], [p[1] for p in pts], width / 2)
        self.draw.line(pts, fill=fill, width=max(1, round(width)), joint="curve")


def lerp(p: Point, q: Point, t: float) -> Point:
    return (p[0] + (q[0] - p[0]) * t, p[1] + (q[1] - p[1]) * t)


def shade(rgb, f: float):
    """The colour `rgb` darkened (f < 1) or lightened (f > 1), for folds, straps and seams."""
    return tuple(int(min(255, max(0, c * f))) for c in rgb)
