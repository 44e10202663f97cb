"""Write a contact sheet of sketch-backend renders with their attribute summaries.

    .venv/bin/python scripts/sketch_gallery.py --n 32 --out bench_out/sketch_gallery.png

Each cell is one render (person box outlined when --boxes) above the look it was drawn from. Half
of the vectors are random explicit labels, half leave most slots at -1 for the renderer to decide.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from benchutil import int_options  # scripts/benchutil.py (the script's folder is on sys.path)
from PIL import ImageDraw

from mals_gen.backends.sketch import look_summary, render_with_look
from mals_gen.contact_sheet import save_contact_sheet
from mals_gen.contract import ATTR, LOWER_COLOURS, NUM_MALS_ATTRIBUTES, UPPER_COLOURS


def random_vector(rng: np.random.Generator, explicit: bool) -> np.ndarray:
    """A label vector: every binary slot set (explicit) or mostly unknown, one colour per garment."""
    v = np.full(NUM_MALS_ATTRIBUTES, -1, dtype=np.int8)
    if explicit:
        v[:10] = rng.integers(0, 2, size=10)
        v[ATTR["hat"]:ATTR["bag"] + 1] = (rng.random(4) > 0.35).astype(np.int8)  # gear present ~35%
        for names, first in ((UPPER_COLOURS, ATTR["upper_black"]), (LOWER_COLOURS, ATTR["lower_black"])):
            v[first:first + len(names)] = 1
            v[first + int(rng.integers(len(names)))] = 0
            if rng.random() < 0.15:
                v[first + int(rng.integers(len(names)))] = 0  # sometimes a second colour
    else:
        v[ATTR["gender"]] = rng.integers(0, 2)
    return v


def main() -> None:
    ap = int_options(__doc__, n=32, cols=8, seed=0, height=256, width=128)
    ap.add_argument("--boxes", action="store_true", help="outline the returned person box")
    ap.add_argument("--out", type=Path, default=Path("bench_out/sketch_gallery.png"))
    args = ap.parse_args()
    items = []
    for i in range(args.n):
        rng = np.random.default_rng([args.seed, i])
        img, box, look = render_with_look(random_vector(rng, i % 2 == 0), rng, args.height, args.width)
        if args.boxes:
            ImageDraw.Draw(img).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=(255, 0, 255))
        items.append((img, look_summary(look)))
    path = save_contact_sheet(args.out, items, columns=args.cols, thumb=(args.height, args.width),
                              title=f"sketch backend, seed {args.seed}, {args.height}x{args.width}")
    print(f"wrote {path} ({args.n} renders)")


if __name__ == "__main__":
    main()
