"""The sketch backend: a procedural pedestrian renderer for machines without diffusion weights.

`render_person(attrs, rng)` draws one re-id style crop of a person whose 27 MALS attributes are the
given vector (slots equal to -1 are decided by `rng`), so every label is visible in the pixels and
known by construction. Viewpoint (front/back/side and in between), walking phase, scale and
position in the frame, skin tone, shoes, background, lighting, blur and noise all vary, and all
come from `rng`: the same generator state gives the same pixels. Pure PIL + numpy.

Parts live in helper modules: sketch_look (attributes -> concrete look), sketch_pose (proportions,
pose, projection, drawing canvas), sketch_figure / sketch_head / sketch_gear (the drawing) and
sketch_scene (background and camera effects).
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from mals_gen.backends.sketch_figure import draw_person
from mals_gen.backends.sketch_look import Look, look_summary, resolve_look
from mals_gen.backends.sketch_pose import Canvas
from mals_gen.backends.sketch_scene import background, camera

__all__ = ["Look", "look_summary", "render_person", "render_with_look", "resolve_look"]

# Viewpoint mix: yaw 0 faces the camera, pi shows the back, +-pi/2 the side.
_VIEWS = ((0.0, 0.36), (math.pi, 0.3), (math.pi / 2, 0.17), (-math.pi / 2, 0.17))


def _yaw(rng: np.random.Generator) -> float:
    i = int(rng.choice(len(_VIEWS), p=[p for _, p in _VIEWS]))
    return _VIEWS[i][0] + float(rng.normal(0.0, 0.28))


def render_person(attrs: np.ndarray, rng: np.random.Generator, height: int = 256,
                  width: int = 128) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """RGB image (height x width) of one pedestrian drawn from the 27-slot vector, and the person's
    box (x0, y0, x1, y1) in pixels. Slots equal to -1 are decided by `rng` (so any vector, even all
    -1, renders)."""
    img, box, _ = render_with_look(attrs, rng, height, width)
    return img, box


def render_with_look(attrs: np.ndarray, rng: np.random.Generator, height: int = 256, width: int = 128,
                     ) -> tuple[Image.Image, tuple[int, int, int, int], Look]:
    """`render_person` that also returns the decided look (for galleries and tests)."""
    if height < 32 or width < 16:
        raise ValueError(f"sketch renders need at least 32x16 pixels, got {height}x{width}")
    look = resolve_look(attrs, rng)
    yaw = _yaw(rng)
    fill = rng.uniform(0.8, 0.95) if look.adult else rng.uniform(0.6, 0.78)
    # A walking figure with bags is up to ~0.45 of its height wide: keep it inside the frame.
    person_h = min(fill * height, width / 0.47)
    person_w = person_h * 0.45
    margin = height - person_h
    foot_y = height - margin * rng.uniform(0.05, 0.8) if margin > 2 else height - 1.0
    cx = width / 2 + rng.uniform(-1.0, 1.0) * max(0.0, (width - person_w) / 2) * 0.7
    img, _ = background(height, width, rng)
    draw = ImageDraw.Draw(img)
    _shadow(img, draw, cx, foot_y, person_h, rng)
    canvas = Canvas(draw)
    draw_person(canvas, look, rng, cx, foot_y, person_h, yaw)
    x0, y0, x1, y1 = canvas.box
    box = (max(0, math.floor(x0)), max(0, math.floor(y0)),
           min(width, math.ceil(x1) + 1), min(height, math.ceil(y1) + 1))
    return camera(img, rng), box, look


def _shadow(img: Image.Image, draw: ImageDraw.ImageDraw, cx: float, foot_y: float, person_h: float,
            rng: np.random.Generator) -> None:
    """A soft-edged dark ellipse on the ground under the feet (drawn before the person)."""
    y = min(img.height - 1, max(0, int(foot_y)))
    ground = img.getpixel((min(img.width - 1, max(0, int(cx))), y))
    dark = tuple(int(c * rng.uniform(0.55, 0.75)) for c in ground)
    rx, ry = person_h * rng.uniform(0.12, 0.22), person_h * 0.02
    offset = rng.uniform(-0.5, 0.5) * rx
    draw.ellipse((cx + offset - rx, foot_y - ry, cx + offset + rx, foot_y + ry), fill=dark)
