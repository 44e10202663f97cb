"""Benchmark `mals import images`: images/s against a bare copy loop, and the detector's share of time.

Source: N drawn person images (half JPEG, half PNG, 128x256), plus for --detect-persons a few
copies of ultralytics' bus.jpg (read from the installed package). Three timed runs, same files:
  * bare    : read every file and write it into a tar (the floor of any importer)
  * import  : `run_import` whole images (listing, decode check, plan + generate parts)
  * detect  : `run_import --detect-persons` on the street photos (HOG + WebPerson gate + crops);
              prints the share of its time spent in the detector

Wall-clock rates on a shared machine are noisy: re-measure on an idle one.

    PYTHONPATH=. .venv/bin/python scripts/bench_import.py [--n 400] [--scenes 4]
"""
from __future__ import annotations

import importlib.util
import json
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchutil import int_options, seconds  # scripts/benchutil.py (the script's folder is on sys.path)

from mals_gen import layout
from mals_gen.images_import.stage import ImportConfig, run_import
from mals_gen.tario import add_member


def make_images(folder: Path, n: int) -> list[Path]:
    folder.mkdir(parents=True)
    paths = []
    for i in range(n):
        image = Image.new("RGB", (128, 256), (40 + i % 200, 120, 200 - i % 150))
        ImageDraw.Draw(image).rectangle((30, 60, 98, 240), fill=(i % 255, 30, 90))
        path = folder / f"{i:05d}.{'jpg' if i % 2 else 'png'}"
        image.save(path)
        paths.append(path)
    return paths


def bare_copy(paths: list[Path], out: Path) -> float:
    started = time.perf_counter()
    with tarfile.open(out, "w") as tar:
        for i, path in enumerate(paths):
            add_member(tar, f"{i:09d}{path.suffix}", path.read_bytes())
    return time.perf_counter() - started


def main() -> None:
    args = int_options(__doc__, n=400, scenes=4).parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = make_images(root / "images", args.n)
        bare = bare_copy(paths, root / "bare.tar")
        whole = seconds(run_import, root / "images", root / "run", ImportConfig(part_size=200),
                        progress=False, echo=None)
        print(f"bare read+write : {args.n / bare:9.1f} images/s")
        print(f"mals import     : {args.n / whole:9.1f} images/s  ({bare / whole:.2f}x the bare loop)")
        spec = importlib.util.find_spec("ultralytics")
        if spec is None or not spec.submodule_search_locations:
            print("detect: skipped (ultralytics, whose bus.jpg is the street photo, is not installed)")
            return
        bus = Path(next(iter(spec.submodule_search_locations))) / "assets" / "bus.jpg"
        (root / "scenes").mkdir()
        for i in range(args.scenes):
            shutil.copy(bus, root / "scenes" / f"bus{i}.jpg")
        took = seconds(run_import, root / "scenes", root / "crops", ImportConfig(detect_persons=True),
                       progress=False, echo=None)
        stats = json.loads(layout.stats_path(root / "crops", "plan").read_text())   # detection runs when planning
        print(f"--detect-persons: {args.scenes / took:9.2f} scene images/s, {stats['ok']} crops; "
              f"detector {stats['detect_seconds'] / took:.0%} of the time")


if __name__ == "__main__":
    main()
