"""`mals filter RUN`: check every generated sample, keep the good ones, record why the others went.

Two passes, both through the shared runner (so both resume by rerunning and share ranks):

1. `filter/checks` (RUN/filter/checks/part-NNNNN.parquet), per part, needs the part's `attrs` done
   (attrs needs caption, caption needs generate; the miner is cheap, and requiring it always keeps
   the result a function of the inputs alone, never of which stages happened to have run).
   Per sample, the first failing check in this order gives the reason: generation failed / image
   missing or unreadable, tiny file, blank, greyscale, blurry, caption (missing, too short,
   repetitive), intended-vs-mined attribute disagreement, person count and size (detector),
   CLIP score. Detector and CLIP run only on samples that passed the cheaper checks, in batches.
   Every decodable image gets its pHash.
2. `filter` (RUN/filter/part-NNNNN.parquet, FILTER_SCHEMA): near-duplicates. A sample that passed
   pass 1 is a duplicate when an *earlier* sample (smaller plan index) that also passed pass 1 has
   a pHash within `max_phash_distance` bits; `duplicate_of` names the earliest such sample. This
   rule reads only pass-1 results of the part itself and of earlier parts, so it gives the same
   answer whatever order parts finish in, and after any kill and rerun.

Several ranks: pass 1 splits parts round-robin like every stage; pass 2 of part i needs pass 1 of
parts 0..i, so each rank, after its own pass 1, waits (polling done markers, at most `rank_wait_s`)
for the other ranks' pass 1, then runs pass 2 on its own parts. Parts that cannot be finished
(another rank is gone, or attrs are missing) are reported as waiting; rerun `mals filter` to finish.
The resolved settings are written to RUN/filter/config.json; a rerun with other settings is
refused, so a run is never filtered half with one threshold and half with another.
"""
from __future__ import annotations

import json
import tarfile
import time
from collections import Counter
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from io import BytesIO
from pathlib import Path
from typing import Mapping

import numpy as np
from PIL import Image


from ..config import from_mapping, to_dict
from ..errors import UserError
from ..fsutil import write_json_atomic
from ..manifest import read_part
from ..plan import load_plan
from ..ranks import Ranks
from ..runner import PartSpec, StageContext, StageSummary, aggregate_stats, is_done, run_stage
from ..contract import FILTER_SCHEMA
from ..manifest import write_part
from . import checks as C
from .dedup import PHashIndex, from_hex, phash, to_hex
from .detectors import build_detector, person_box

CHECKS_STAGE = "filter/checks"
SKETCH_DETECTOR = "hog"   # measured on sketch renders: see the module docstring of filter/__init__
DIFFUSION_CLIP = ("ViT-B-32", "openai")


@dataclass(frozen=True)
class Thresholds:
    """Every check's threshold (values measured at MEASURE_HEIGHT where size matters)."""
    min_file_bytes: int = 1024            # MALS: tiny files are failed or blank frames
    min_pixel_std: float = 4.0            # grey levels; below = a blank frame
    min_colourfulness: float = 3.0        # spread of channel differences; below = greyscale
    min_blur: float = 10.0                # variance of the Laplacian; below = blurry or flat
    min_caption_words: int = 5
    max_phrase_repeats: int = 2           # a 3-word phrase may occur at most this often
    max_attr_disagreement: float = 0.34   # share of known-on-both-sides attributes that differ
    min_detector_score: float | None = None   # None: the detector's own default (HOG 1.0, DETR 0.7)
    count_min_height: float = 0.25        # detections shorter than this share of the image are ignored
    min_person_height: float = 0.5        # the one person must be at least this share of the height
    min_clip_score: float = 20.0          # 100 * cosine
    max_phash_distance: int = 4           # bits of 64; 0 = exact duplicates only


@dataclass(frozen=True)
class FilterConfig:
    detector: str = "auto"         # auto | hog | none | transformers hub id or local folder
    clip_model: str = "auto"       # auto | none | open_clip name | config .json | folder | hf-hub:...
    clip_pretrained: str = "auto"  # auto | open_clip tag | local weights file
    device: str = "auto"
    batch_size: int = 32
    box_margin: float = 0.1        # person box grows by this share of its size on each side
    person_aspect: float = 2.0     # height : width of the stored person box
    rank_wait_s: float = 3600.0    # with several ranks: how long to wait for the others' checks
    thresholds: Thresholds = field(default_factory=Thresholds)

    @classmethod
    def from_mapping(cls, data: Mapping | None, where: str = "filter") -> "FilterConfig":
        """Thresholds may be given nested (`thresholds: {min_blur: 5}`) or flat (`min_blur: 5`)."""
        data = dict(data or {})
        names = {f.name for f in fields(Thresholds)}
        flat = {k: data.pop(k) for k in list(data) if k in names}
        if flat:
            data["thresholds"] = {**dict(data.get("thresholds") or {}), **flat}
        return from_mapping(cls, data, where)


def resolve_config(cfg: FilterConfig, backend: str | None) -> FilterConfig:
    """Replace every "auto" with what the run calls for (see the module docstring of filter)."""
    sketch = backend == "sketch"
    detector = cfg.detector if cfg.detector != "auto" else (SKETCH_DETECTOR if sketch else "hog")
    clip_model, pretrained = cfg.clip_model, cfg.clip_pretrained
    if clip_model == "auto":
        clip_model = "none" if sketch else DIFFUSION_CLIP[0]
    if clip_model == "none":
        pretrained = ""
    elif pretrained == "auto":
        pretrained = _default_tag(clip_model)
    device = cfg.device
    if device == "auto":
        import torch
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return replace(cfg, detector=detector, clip_model=clip_model, clip_pretrained=pretrained, device=device)


def _default_tag(model: str) -> str:
    """A built-in name gets its 'openai' tag (or its first); folders/hub ids carry their weights."""
    if model.endswith(".json"):
        raise UserError(f"--clip-model {model} is a bare config: pass its weights with --clip-pretrained FILE")
    if Path(model).is_dir() or model.startswith("hf-hub:"):
        return ""
    import open_clip
    tags = open_clip.list_pretrained_tags_by_model(model)
    if not tags:
        raise UserError(f"open_clip knows no pretrained weights for {model!r}: pass --clip-pretrained FILE, "
                        "or --clip-model none to skip the CLIP score")
    return "openai" if "openai" in tags else tags[0]


class _Models:
    """Detector and CLIP model, loaded on first use (a rerun with nothing to do loads nothing)."""

    def __init__(self, cfg: FilterConfig):
        self.cfg = cfg

    @cached_property
    def detector(self):
        return build_detector(self.cfg.detector, device=self.cfg.device)

    @cached_property
    def clip(self):
        if self.cfg.clip_model == "none":
            return None
        from .clip_score import ClipScorer
        return ClipScorer(self.cfg.clip_model, self.cfg.clip_pretrained or None,
                          device=self.cfg.device, batch_size=self.cfg.batch_size)
