"""`run_import(source, run_dir, cfg)`: images (or person crops of them) as a run's plan and generate parts.

After the listing (listing.py), two passes of the shared runner, like `mals generate`:
`plan` decodes each part's files (and detects persons with --detect-persons) and writes
RUN/plan/part-NNNNN.parquet, one row per sample (prompt empty, prompt_attrs unknown); `generate`
writes the part tar (KEY.jpg) and its GENERATE_SCHEMA manifest with the crop's box in the source
image, the source file and the detection score. A file that cannot be used (unreadable, not an
image, no person passing the gate) keeps one row with status "skipped" and its reason, is counted
and named in one warning line. Both passes are deterministic, so a killed import reruns to the
same parts. The plan pass keeps only what it decided (boxes, scores, sizes; no pixels) for the
generate pass of the same process, so detection runs once and memory stays small; a generate
pass without them (after a kill) decides again, with the same result.
"""
from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from ..contract import GENERATE_SCHEMA, LABEL_UNKNOWN, NUM_MALS_ATTRIBUTES, PLAN_SCHEMA
from ..devices import resolve_device
from ..errors import UserError
from ..fsutil import ensure_writable_dir
from ..manifest import write_part
from ..ranks import ONE_PROCESS, Ranks
from ..runner import StageContext, StageSummary, run_stage
from ..tario import add_member
from .crops import MAX_CROPS, CropGate, build_scene_detector, gated_crops
from .listing import extend_plan, read_listing
from .sources import SourceReader

BACKEND = "import"
SKIPPED = "skipped"


@dataclass(frozen=True)
class ImportConfig:
    source: str = ""                 # `mals run`: the SOURCE to import ("" = no import in this pipeline)
    part_size: int = 1000            # source files per part (one tar + one parquet each)
    key_prefix: str = "im"
    detect_persons: bool = False     # cut scene images into one sample per detected person
    detector: str = "hog"            # hog | transformers object detector hub id or local folder
    detect_height: int = 800         # HOG's working height for scenes (people are small in them)
    device: str = "auto"
    gate: CropGate = field(default_factory=CropGate)
    jpeg_quality: int = 95           # re-encoding (crops, non-JPEG files); JPEG files are kept as they are
    path_column: str | None = None   # parquet SOURCE: the column holding paths (default: path, image_path, ...)

    def resolved(self) -> ImportConfig:
        if self.part_size < 1:
            raise UserError(f"import.part_size (--part-size) must be positive, got {self.part_size}")
        if not 1 <= self.jpeg_quality <= 100:
            raise UserError(f"import.jpeg_quality must be within 1..100, got {self.jpeg_quality}")
        self.gate.validate()
        return self


@dataclass
class Sample:
    """One planned sample of an import: a whole image or one person crop."""
    key: str
    index: int
    ref: str
    status: str = "ok"
    error: str = ""
    size: tuple[int, int] = (0, 0)     # (width, height) of the stored image
    source_box: list[int] | None = None
    score: float | None = None


def _decode(data: bytes, check_only: bool = False) -> tuple[Image.Image | None, str]:
    """The RGB image and its format, or (None, reason). `check_only`: a JPEG is decoded at 1/8
    scale (still the whole stream, so a truncated file fails) and the image keeps only its size."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            size = img.size
            if check_only:
                img.draft("RGB", (max(1, size[0] // 8), max(1, size[1] // 8)))
            img.load()   # a truncated file fails here, not later in a stage that trusts it
            if check_only:
                return Image.new("1", size), img.format or ""
            return img.convert("RGB"), img.format or ""
    except Image.DecompressionBombError as err:
        return None, f"too_large: {err}"
    except UnidentifiedImageError:
        return None, "not_an_image: no image format PIL knows"
    except (OSError, ValueError, SyntaxError) as err:
        return None, f"unreadable_image: {err}"


def _jpeg(img: Image.Image, quality: int) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


class PartWork:
    """Turns one part's listed files into samples; the detector loads on first use."""

    def __init__(self, cfg: ImportConfig, echo: Callable[[str], None] | None):
        self.cfg, self.echo = cfg, echo
        self._detector = None
        self.cache: dict[int, list[Sample]] = {}
        self.detect_seconds = 0.0

    @property
    def detector(self):
        if self._detector is None:
            self._detector = build_scene_detector(self.cfg.detector, self.cfg.detect_height,
                                                  resolve_device(self.cfg.device))
        return self._detector

    def samples(self, run_dir: Path, index: int) -> list[Sample]:
        if index in self.cache:
            return self.cache.pop(index)
        reader = SourceReader()
        try:
            return [s for row in read_listing(run_dir, index) for s in self._one(reader, row)]
        finally:
            reader.close()

    def _one(self, reader: SourceReader, row: dict) -> list[Sample]:
        key, ref, slot = row["key"], row["ref"], row["slot"]
        try:
            data = reader.read(ref)
        except OSError as err:
            return [self._skip(key, slot, ref, f"read_failed: {err}")]
        img, fmt = _decode(data, check_only=not self.cfg.detect_persons)
        if img is None:
            return [self._skip(key, slot, ref, fmt)]
        if not self.cfg.detect_persons:
            return [Sample(key, slot * MAX_CROPS, ref, size=img.size)]
        return self._crops(key, slot, ref, img)

    def _crops(self, key: str, slot: int, ref: str, img: Image.Image) -> list[Sample]:
        rgb = np.asarray(img)
        started = time.perf_counter()
        dets = self.detector.detect(rgb)
        self.detect_seconds += time.perf_counter() - started
        kept, rejected = gated_crops(rgb, dets, self.cfg.gate)
        if not kept:
            why = ", ".join(f"{r} {n}" for r, n in sorted(rejected.items())) or "no detection"
            return [self._skip(key, slot, ref, f"no_person_crop: {why}")]
        out = []
        for j, (box, score) in enumerate(kept):
            out.append(Sample(f"{key}-p{j:02d}", slot * MAX_CROPS + j, ref, size=(box[2] - box[0], box[3] - box[1]),
                              source_box=box, score=score))
        return out

    def image_bytes(self, reader: SourceReader, sample: Sample) -> bytes:
        """The stored bytes of a kept sample: a JPEG file as it is, anything else (and crops) re-encoded."""
        data = reader.read(sample.ref)
        if sample.source_box is None and data[:3] == b"\xff\xd8\xff":
            return data
        img, _ = _decode(data)
        if sample.source_box is not None:
            img = img.crop(tuple(sample.source_box))
        return _jpeg(img, self.cfg.jpeg_quality)

    def _skip(self, key: str, slot: int, ref: str, error: str) -> Sample:
        tqdm.write(f"warning: {ref} (key {key}) skipped: {error}", file=sys.stderr)
        return Sample(key, slot * MAX_CROPS, ref, status=SKIPPED, error=error)


def _reason(sample: Sample) -> str:
    return sample.error.split(":", 1)[0]


def plan_part(ctx: StageContext, work: PartWork) -> dict:
    detect_before = work.detect_seconds
    samples = work.samples(ctx.run_dir, ctx.part.index)
    unknown = [LABEL_UNKNOWN] * NUM_MALS_ATTRIBUTES
    rows = [{"key": s.key, "index": s.index, "part": ctx.part.index, "prompt": "", "seed": 0,
             "prompt_attrs": unknown, "prompt_source": BACKEND} for s in samples]
    write_part(ctx.path(".parquet"), rows, PLAN_SCHEMA)
    work.cache[ctx.part.index] = samples
    ctx.advance(ctx.part.size)
    return {**_counts(samples), "detect_seconds": round(work.detect_seconds - detect_before, 3)}


def _counts(samples: list[Sample]) -> dict:
    dropped: dict[str, int] = {}
    for s in samples:
        if s.status != "ok":
            dropped[_reason(s)] = dropped.get(_reason(s), 0) + 1
    return {"samples": len(samples), "ok": len(samples) - sum(dropped.values()), "dropped": dropped}


def generate_part(ctx: StageContext, work: PartWork) -> dict:
    import tarfile

    samples = work.samples(ctx.run_dir, ctx.part.index)
    image_path = ctx.path(".tar").relative_to(ctx.run_dir).as_posix()
    model = work.cfg.detector if work.cfg.detect_persons else "none"
    rows, reader = [], SourceReader()
    with ctx.output(".tar") as tmp, tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for s in samples:
            row = {"key": s.key, "image_path": image_path, "backend": BACKEND, "model": model, "status": s.status,
                   "error": s.error, "source_image": s.ref, "source_box": s.source_box, "detect_score": s.score}
            if s.status == "ok":
                data = work.image_bytes(reader, s)
                add_member(tar, f"{s.key}.jpg", data)
                w, h = s.size
                row.update(image_member=f"{s.key}.jpg", width=w, height=h, image_bytes=len(data),
                           known_box=[0, 0, w, h] if s.source_box is not None else None)
            rows.append(row)
    reader.close()
    ctx.advance(ctx.part.size)
    write_part(ctx.path(".parquet"), rows, GENERATE_SCHEMA)
    return _counts(samples)


def run_import(source: str | Path, run_dir: str | Path, cfg: ImportConfig | None = None, *,
               ranks: Ranks = ONE_PROCESS, progress: bool = True,
               echo: Callable[[str], None] | None = print) -> StageSummary:
    """Import SOURCE into RUN (new files only, on a rerun); returns the generate pass's summary."""
    cfg = (cfg or ImportConfig()).resolved()
    run_dir = ensure_writable_dir(run_dir)
    plan = extend_plan(run_dir, source, cfg, ranks, progress, echo)
    work = PartWork(cfg, echo)
    run_stage("plan", run_dir, plan.parts, lambda ctx: plan_part(ctx, work), ranks=ranks, progress=progress,
              echo=None)
    return run_stage("generate", run_dir, plan.parts, lambda ctx: generate_part(ctx, work), ranks=ranks,
                     requires="plan", progress=progress, echo=echo)


def run_import_stage(run_dir: str | Path, cfg: ImportConfig, *, ranks: Ranks = ONE_PROCESS, progress: bool = True,
                     echo: Callable[[str], None] | None = print) -> StageSummary | None:
    """The registry's entry point (`mals run`): import `cfg.source`; a pipeline without one imports nothing."""
    if not cfg.source:
        return None
    return run_import(cfg.source, run_dir, cfg, ranks=ranks, progress=progress, echo=echo)
