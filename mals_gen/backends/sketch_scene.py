"""Street-like backgrounds and camera effects for the sketch renderer.

A background is a wall/sky gradient above a ground plane, with building blocks (some with window
grids), random clutter (poles, boxes, shrubs) and pavement lines, all in muted colours so the
clothes stay the most saturated thing in the crop. The camera pass applies lighting (gain,
contrast, colour cast, side light), mild blur, sensor noise and sometimes JPEG softness.
"""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter


def _muted(rng: np.random.Generator, lo: float = 50, hi: float = 200, tint: float = 32.0):
    grey = rng.uniform(lo, hi)
    rgb = grey + rng.uniform(-tint, tint, size=3)
    return tuple(int(v) for v in np.clip(rgb, 0, 255))


def _gradient(top, bottom, rows: int) -> np.ndarray:
    t = np.linspace(0.0, 1.0, max(rows, 1), dtype=np.float32)[:, None]  # (rows, 1)
    return np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t  # (rows, 3)


def background(height: int, width: int, rng: np.random.Generator) -> tuple[Image.Image, int]:
    """A street-like RGB background and the pixel row of its horizon (where the ground starts)."""
    horizon = int(height * rng.uniform(0.38, 0.78))
    wall = _muted(rng, 70, 215)
    ground = _muted(rng, 60, 170, tint=18.0)
    rows = np.concatenate([_gradient(wall, _muted(rng, 60, 220), horizon),
                           _gradient(ground, _muted(rng, 50, 180, tint=18.0), height - horizon)])  # (H, 3)
    arr = np.broadcast_to(rows[:, None, :], (height, width, 3)).astype(np.uint8)  # (H, W, 3)
    img = Image.fromarray(arr, "RGB")
    draw = ImageDraw.Draw(img)
    for _ in range(int(rng.integers(0, 4))):
        _building(draw, rng, height, width, horizon)
    for _ in range(int(rng.integers(0, 6))):
        _clutter(draw, rng, height, width, horizon)
    _pavement(draw, rng, height, width, horizon)
    return img, horizon


def _building(draw, rng, height: int, width: int, horizon: int) -> None:
    x0 = rng.uniform(-0.3, 0.9) * width
    x1 = x0 + rng.uniform(0.2, 0.9) * width
    y0 = rng.uniform(-0.1, 0.7) * horizon
    colour = _muted(rng, 60, 210)
    draw.rectangle((x0, y0, x1, horizon), fill=colour)
    if rng.random() < 0.6:  # a grid of windows
        win = _muted(rng, 30, 230, tint=20.0)
        step_x, step_y = rng.uniform(0.08, 0.2) * width, rng.uniform(0.05, 0.1) * height
        size_x, size_y = step_x * rng.uniform(0.4, 0.7), step_y * rng.uniform(0.4, 0.7)
        for y in np.arange(y0 + step_y * 0.3, horizon - size_y, step_y):
            for x in np.arange(x0 + step_x * 0.3, x1 - size_x, step_x):
                draw.rectangle((x, y, x + size_x, y + size_y), fill=win)


def _clutter(draw, rng, height: int, width: int, horizon: int) -> None:
    kind = rng.integers(3)
    colour = _muted(rng, 30, 230, tint=40.0)
    x = rng.uniform(-0.1, 1.0) * width
    if kind == 0:  # pole or sign post
        w = rng.uniform(0.02, 0.06) * width
        draw.rectangle((x, rng.uniform(0, 0.5) * height, x + w, horizon + rng.uniform(0, 0.15) * height),
                       fill=colour)
    elif kind == 1:  # box, bin, parked car body
        w, h = rng.uniform(0.15, 0.6) * width, rng.uniform(0.05, 0.2) * height
        base = horizon + rng.uniform(-0.02, 0.1) * height
        draw.rounded_rectangle((x, base - h, x + w, base), radius=int(min(w, h) * 0.2), fill=colour)
    else:  # shrub or tree canopy
        r = rng.uniform(0.08, 0.3) * width
        y = horizon - rng.uniform(0.0, 0.4) * height
        green = (int(colour[0] * 0.6), int(min(255, colour[1] * 0.9 + 20)), int(colour[2] * 0.6))
        draw.ellipse((x - r, y - r * 0.8, x + r, y + r * 0.8), fill=green)


def _pavement(draw, rng, height: int, width: int, horizon: int) -> None:
    if rng.random() < 0.7:  # kerb line
        y = horizon + rng.uniform(0.0, 0.12) * height
        draw.line([(0, y), (width, y + rng.uniform(-4, 4))], fill=_muted(rng, 80, 220, 10.0),
                  width=max(1, int(height * 0.008)))
    line = _muted(rng, 40, 200, 10.0)
    vx = rng.uniform(0.2, 0.8) * width
    for _ in range(int(rng.integers(0, 4))):  # tile seams running to a vanishing point
        draw.line([(vx, horizon), (rng.uniform(-1.0, 2.0) * width, height)], fill=line, width=1)


def camera(img: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Lighting, blur, noise and compression softness; returns a new RGB image."""
    if rng.random() < 0.75:
        img = img.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.35, 1.0))))
    arr = np.asarray(img, dtype=np.float32)  # (H, W, 3)
    contrast = rng.uniform(0.82, 1.1)
    gain = rng.uniform(0.82, 1.15) * rng.uniform(0.93, 1.07, size=3).astype(np.float32)  # (3,) colour cast
    arr = ((arr - 128.0) * contrast + 128.0) * gain + rng.uniform(-8, 8)
    if rng.random() < 0.4:  # light from one side
        ramp = np.linspace(-1.0, 1.0, arr.shape[1], dtype=np.float32) * rng.uniform(-0.15, 0.15)  # (W,)
        arr *= (1.0 + ramp)[None, :, None]
    sigma = rng.uniform(0.0, 6.0)
    if sigma > 0.5:
        arr += rng.standard_normal(arr.shape, dtype=np.float32) * np.float32(sigma)
    out = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.2:
        buf = io.BytesIO()
        out.save(buf, format="JPEG", quality=int(rng.integers(25, 60)))
        buf.seek(0)
        out = Image.open(buf).convert("RGB")
    return out
