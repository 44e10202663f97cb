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
        draw.rectangle((x, rng.uniform(0, 0.9) * horizon, x + w, horizon + rng.uniform(0, 0.15) * height),
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
    """Lighting, blur, noise and compression softness; returns a new RGB image.

    Kept cheap (a few tenths of a millisecond per step): a box blur, one lookup table for gain,
    contrast and colour cast, and luminance noise generated at one channel.
    """
    if rng.random() < 0.75:
        img = img.filter(ImageFilter.BoxBlur(float(rng.uniform(0.3, 1.0))))
    levels = np.arange(256, dtype=np.float32)  # (256,)
    contrast = rng.uniform(0.82, 1.1)
    gain = rng.uniform(0.82, 1.15) * rng.uniform(0.93, 1.07, size=3)  # (3,) brightness and colour cast
    lut = ((levels[None, :] - 128.0) * contrast + 128.0) * gain[:, None] + rng.uniform(-8, 8)  # (3, 256)
    img = img.point(np.clip(lut, 0, 255).astype(np.uint8).reshape(-1).tolist())
    sigma = int(rng.integers(0, 7))
    side = int(rng.integers(-20, 21)) if rng.random() < 0.4 else 0
    if sigma or side:
        arr = np.asarray(img).astype(np.int16)  # (H, W, 3)
        if side:  # light from one side (additive ramp across the columns)
            arr += np.linspace(-side, side, arr.shape[1]).astype(np.int16)[None, :, None]
        if sigma:
            arr += _noise(arr.shape[0], arr.shape[1], sigma, rng)  # (H, W, 1) luminance noise
        img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    if rng.random() < 0.2:
        buf = io.BytesIO()
        img.save(buf, format="JPEG", quality=int(rng.integers(25, 60)))
        buf.seek(0)
        img = Image.open(buf).convert("RGB")
    return img


_NOISE_BANK: np.ndarray | None = None
_BANK_SIZE = 512


def _noise(height: int, width: int, sigma: int, rng: np.random.Generator) -> np.ndarray:
    """Gaussian noise (H, W, 1) int16 of std ~sigma: a window of a fixed bank at a random offset
    (drawing fresh normals costs more than the rest of the camera pass)."""
    global _NOISE_BANK
    if height > _BANK_SIZE or width > _BANK_SIZE:
        return (rng.standard_normal((height, width, 1)) * sigma).astype(np.int16)
    if _NOISE_BANK is None:
        bank = np.random.default_rng(12345).standard_normal((2 * _BANK_SIZE, 2 * _BANK_SIZE)) * 8
        _NOISE_BANK = np.round(bank).astype(np.int16)  # (2S, 2S), std 8
    y, x = int(rng.integers(_BANK_SIZE)), int(rng.integers(_BANK_SIZE))
    window = _NOISE_BANK[y:y + height, x:x + width, None]  # (H, W, 1)
    return (window * sigma) >> 3
