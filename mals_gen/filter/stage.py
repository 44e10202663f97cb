"""`mals filter RUN`: check every generated sample, keep the good ones, record why the others went.

Two passes, both through the shared runner (so both resume by rerunning and share ranks):

1. `filter_checks` (RUN/filter_checks/part-NNNNN.parquet, a manifest folder of its own), per part,
   needs the part's `attrs` done
   (attrs needs caption, caption needs generate; the miner is cheap, and requiring it always keeps
   the result a function of the inputs alone, never of which stages happened to have run).
   Per sample, the first failing check in this order gives the reason: generation failed / image
   missing or unreadable, tiny file, blank, greyscale, blurry, caption (missing, too short,
   repetitive), intended-vs-mined attribute disagreement, person count and size (detector; a
   sample whose generate row knows its person's box, sketch renders and import crops, uses that
   box instead), pose (a ViTPose model and `PoseRule`, when `pose_model` is set), CLIP score. Detector and CLIP run only on samples that passed the cheaper checks, in batches.
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
The resolved settings are written to RUN/state/filter/config.json; a rerun with other settings is
refused, so a run is never filtered half with one threshold and half with another.
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import cached_property
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from ..config import from_mapping, to_dict
from ..contract import FILTER_SCHEMA
from ..devices import resolve_device
from ..errors import UserError
from ..fsutil import write_json_atomic
from ..layout import config_path, done_markers
from ..manifest import read_joined_part, read_part, write_part
from ..plan import load_plan
from ..ranks import ONE_PROCESS, Ranks
from ..runner import PartSpec, StageContext, StageSummary, is_done, run_stage, write_stage_stats
from ..shard.images import DECODE_ERRORS
from ..stages import BY_NAME
from ..tario import PartTars
from . import checks as C
from .dedup import PHashIndex, from_hex, phash, to_hex
from .detectors import build_detector, person_box
from .pose import PoseRule, pose_step

CHECKS_STAGE = "filter_checks"
SKETCH_DETECTOR = "hog"   # HOG finds exactly one person in ~95% of sketch renders (filter/__init__.py)
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
    # height : width of the stored person box: 3, the trainer's 384 x 128, so the resize squeezes no
    # one (at 2 the quickstart's people were 1.5x narrower at training; 3 lifted its test R@1 20 -> 25)
    person_aspect: float = 3.0
    rank_wait_s: float = 3600.0    # with several ranks: how long to wait for the others' checks
    use_known_box: bool = True     # a person box known at creation replaces the detector
    pose_model: str = "none"       # none | ViTPose hub id or local folder (VitPoseForPoseEstimation)
    pose: PoseRule = field(default_factory=PoseRule)
    thresholds: Thresholds = field(default_factory=Thresholds)

    @classmethod
    def from_mapping(cls, data: Mapping | None, where: str = "filter") -> FilterConfig:
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
    return replace(cfg, detector=detector, clip_model=clip_model, clip_pretrained=pretrained,
                   device=resolve_device(cfg.device))


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

    @cached_property
    def pose(self):
        if self.cfg.pose_model == "none":
            return None
        from .pose import PoseModel
        return PoseModel(self.cfg.pose_model, device=self.cfg.device)


# ----------------------------------------------------------------------------- pass 1: checks
def _part_inputs(run_dir: Path, index: int) -> list[dict]:
    """One dict per planned sample of the part, in plan order, with its upstream columns."""
    generate = ["image_path", "image_member", "status", "known_box"]
    try:
        return read_joined_part(run_dir, index, {
            "plan": ["index", "prompt_attrs"], "generate": generate, "caption": ["caption"], "attrs": ["mined_attrs"]})
    except UserError:  # a run generated before generate parts had `known_box`
        return read_joined_part(run_dir, index, {
            "plan": ["index", "prompt_attrs"], "generate": generate[:-1], "caption": ["caption"],
            "attrs": ["mined_attrs"]})


def _new_record(key: str) -> dict:
    rec = {name: None for name in FILTER_SCHEMA.names}
    rec.update(key=key, keep=True, reason=C.OK)
    return rec


def _reject(rec: dict, verdict: C.Verdict) -> bool:
    """Record the first failing verdict; returns whether the sample is still kept."""
    keep, reason = verdict
    if rec["keep"] and not keep:
        rec.update(keep=False, reason=reason)
    return rec["keep"]


def _measure(row: dict, tars: PartTars, th: Thresholds) -> tuple[dict, np.ndarray | None]:
    """The cheap checks of one sample; returns its record and its decoded image (None if none)."""
    rec = _new_record(row["key"])
    if row["status"] != "ok":  # failed, skipped by the import, or missing from the generate part (None)
        _reject(rec, (False, "import_skipped" if row["status"] == "skipped" else "generation_failed"))
        return rec, None
    tar = tars.get(row["image_path"])
    if row["image_member"] not in tar:
        _reject(rec, (False, "missing_image"))
        return rec, None
    data = tar.read(row["image_member"])
    rec["file_bytes"] = len(data)
    try:
        rgb = np.asarray(Image.open(BytesIO(data)).convert("RGB"))            # (H, W, 3) uint8
    except DECODE_ERRORS:  # truncated, not an image, damaged header
        _reject(rec, (False, "unreadable_image"))
        return rec, None
    rec.update(pixel_std=C.pixel_std(rgb), colourfulness=C.colourfulness(rgb), blur=C.blur(rgb),
               phash=to_hex(phash(rgb)), attr_disagreement=C.attr_disagreement(row["prompt_attrs"], row["mined_attrs"]))
    for verdict in (C.check_file_size(len(data), th.min_file_bytes),
                    C.check_blank(rec["pixel_std"], th.min_pixel_std),
                    C.check_greyscale(rec["colourfulness"], th.min_colourfulness),
                    C.check_blur(rec["blur"], th.min_blur),
                    C.check_caption(row["caption"], th.min_caption_words, th.max_phrase_repeats),
                    C.check_attr_disagreement(rec["attr_disagreement"], th.max_attr_disagreement)):
        if not _reject(rec, verdict):
            break
    return rec, rgb


def _known(batch: list[tuple[dict, np.ndarray, dict]], cfg: FilterConfig) -> None:
    """Samples whose person box is known: one person, that box, sized like a detection."""
    th = cfg.thresholds
    for rec, rgb, row in batch:
        box, (h, w) = row["known_box"], rgb.shape[:2]
        rec.update(n_persons=1, person_box=person_box(box, (h, w), cfg.box_margin, cfg.person_aspect))
        _reject(rec, C.check_persons([(box[3] - box[1]) / h], th.min_person_height, th.count_min_height))


def _detect(batch: list[tuple[dict, np.ndarray]], detector, cfg: FilterConfig) -> None:
    """Person count and size on the samples still kept; stores n_persons, score and crop box."""
    th = cfg.thresholds
    min_score = th.min_detector_score if th.min_detector_score is not None else detector.default_min_score
    for (rec, rgb), dets in zip(batch, detector.detect_many([rgb for _, rgb in batch])):
        h, w = rgb.shape[:2]
        confident = [(box, score) for box, score in dets if score >= min_score]
        heights = [(box[3] - box[1]) / h for box, _ in confident]
        counted = [d for d, hh in zip(confident, heights) if hh >= th.count_min_height]
        rec["n_persons"] = len(counted)
        if confident:
            rec["person_score"] = max(score for _, score in confident)
        if len(counted) == 1:
            rec["person_box"] = person_box(counted[0][0], (h, w), cfg.box_margin, cfg.person_aspect)
        _reject(rec, C.check_persons(heights, th.min_person_height, th.count_min_height))


def _check_part(ctx: StageContext, cfg: FilterConfig, models: _Models) -> dict:
    rows = _part_inputs(ctx.run_dir, ctx.part.index)
    tars = PartTars(ctx.run_dir)
    records: list[dict] = []
    try:
        for start in range(0, len(rows), cfg.batch_size):
            chunk = rows[start:start + cfg.batch_size]
            measured = [_measure(row, tars, cfg.thresholds) for row in chunk]
            known = [(rec, rgb, row) for (rec, rgb), row in zip(measured, chunk)
                     if rec["keep"] and cfg.use_known_box and row.get("known_box") is not None]
            _known(known, cfg)
            alive = [(rec, rgb) for (rec, rgb), row in zip(measured, chunk)
                     if rec["keep"] and not (cfg.use_known_box and row.get("known_box") is not None)]
            if alive and models.detector is not None:
                _detect(alive, models.detector, cfg)
            alive = [(rec, rgb) for rec, rgb in measured if rec["keep"]]
            if alive and models.pose is not None:
                pose_step(alive, models.pose, cfg.pose, _reject)
            alive = [(rec, rgb, row["caption"]) for (rec, rgb), row in zip(measured, chunk) if rec["keep"]]
            if alive and models.clip is not None:
                scores = models.clip.score([a[1] for a in alive], [a[2] for a in alive])
                for (rec, _, _), score in zip(alive, scores):
                    rec["clip_score"] = float(score)
                    _reject(rec, C.check_clip(rec["clip_score"], cfg.thresholds.min_clip_score))
            records.extend(rec for rec, _ in measured)
            ctx.advance(len(chunk))
    finally:
        tars.close()
    with ctx.output(".parquet") as tmp:
        write_part(tmp, records, FILTER_SCHEMA)
    return _part_stats(records)


def _part_stats(records: list[dict]) -> dict:
    dropped = Counter(r["reason"] for r in records if not r["keep"])
    return {"samples": len(records), "kept": sum(r["keep"] for r in records), "dropped": dict(dropped)}


# ----------------------------------------------------------------------------- pass 2: dedup
class _Dedup:
    """pHashes of every earlier sample that passed the checks, loaded part by part on demand."""

    def __init__(self, run_dir: Path, max_distance: int):
        self.run_dir = run_dir
        self.index = PHashIndex(max_distance)
        self.added: set[int] = set()

    def _checked(self, part: int) -> tuple[list[dict], list[int]]:
        rows = read_part(self.run_dir, CHECKS_STAGE, part).to_pylist()
        order = read_part(self.run_dir, "plan", part, ["key", "index"]).to_pylist()
        index = {r["key"]: r["index"] for r in order}
        return rows, [index[r["key"]] for r in rows]

    def _add_part(self, part: int) -> None:
        rows, indices = self._checked(part)
        for rec, i in zip(rows, indices):
            if rec["keep"] and rec["phash"]:
                self.index.add(from_hex(rec["phash"]), i, rec["key"])
        self.added.add(part)

    def process(self, ctx: StageContext) -> dict:
        for j in range(ctx.part.index):
            if j not in self.added:
                self._add_part(j)
        rows, indices = self._checked(ctx.part.index)
        for rec, i in zip(rows, indices):
            if not (rec["keep"] and rec["phash"]):
                continue
            h = from_hex(rec["phash"])
            match = self.index.earliest_match(h)
            if match is not None:
                rec.update(keep=False, reason="duplicate", duplicate_of=match[1])
            # Every sample that passed the checks is a candidate, duplicate or not: the rule then
            # depends on earlier samples only, never on the order parts were processed in.
            self.index.add(h, i, rec["key"])
        self.added.add(ctx.part.index)
        ctx.advance(len(rows))
        with ctx.output(".parquet") as tmp:
            write_part(tmp, rows, FILTER_SCHEMA)
        return _part_stats(rows)


# ----------------------------------------------------------------------------- entry point
_RESULT_FIELDS = ("detector", "clip_model", "clip_pretrained", "box_margin", "person_aspect", "thresholds",
                  "use_known_box", "pose_model", "pose")


def _check_settings(run_dir: Path, cfg: FilterConfig) -> None:
    """Write RUN/state/filter/config.json, or refuse to resume with settings that change results."""
    path = config_path(run_dir, "filter")
    wanted = {k: v for k, v in to_dict(cfg).items() if k in _RESULT_FIELDS}
    if path.exists():
        old = json.loads(path.read_text())
        for key in _RESULT_FIELDS:
            # a key newer than the run's config.json had its default value then
            if old.get(key, to_dict(FilterConfig()).get(key)) != wanted[key]:
                raise UserError(f"{path}: this run was filtered with {key}={old.get(key)!r}, not {wanted[key]!r}; "
                                f"rerun with the same settings to resume, or delete {run_dir}/filter, "
                                f"{run_dir}/filter_checks and {run_dir}/state/filter* to refilter")
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, wanted)


def _ready_prefix(run_dir: Path, parts: list[PartSpec], ranks: Ranks, wait_s: float) -> list[PartSpec]:
    """Parts whose own checks and all earlier parts' checks are done; waits for other ranks."""
    deadline = time.monotonic() + (wait_s if ranks.world_size > 1 else 0.0)
    while True:
        n = next((k for k, p in enumerate(parts) if not is_done(run_dir, CHECKS_STAGE, p)), len(parts))
        # Waiting only helps while another rank can still check the missing part.
        if n == len(parts) or time.monotonic() >= deadline or not is_done(run_dir, "attrs", parts[n]):
            return parts[:n]
        time.sleep(1.0)


def run_filter(run_dir: str | Path, cfg: FilterConfig | None = None, *, ranks: Ranks = ONE_PROCESS,
               progress: bool = True, echo: Callable[[str], None] | None = print) -> StageSummary:
    """Filter every planned sample of RUN (both passes); returns the summary of the final pass."""
    run_dir = Path(run_dir)
    plan = load_plan(run_dir)
    cfg = resolve_config(cfg or FilterConfig(), plan.config.get("backend"))
    if not done_markers(run_dir, "attrs"):
        raise UserError(f"{run_dir}/attrs has no finished parts: run `mals attrs {run_dir}` first "
                        "(the filter compares mined with intended attributes)")
    _check_settings(run_dir, cfg)
    parts = plan.parts
    models = _Models(cfg)
    run_stage(CHECKS_STAGE, run_dir, parts, lambda ctx: _check_part(ctx, cfg, models),
              ranks=ranks, requires=BY_NAME["filter"].requires, progress=progress, echo=echo)
    ready = _ready_prefix(run_dir, parts, ranks, cfg.rank_wait_s)
    dedup = _Dedup(run_dir, cfg.thresholds.max_phash_distance)
    summary = run_stage("filter", run_dir, ready, dedup.process, ranks=ranks, requires=CHECKS_STAGE,
                        progress=progress, echo=None)
    # The final pass saw only the ready prefix; report against the whole plan.
    summary.parts_total = len(parts)
    summary.parts_waiting = [p.index for p in parts[len(ready):]
                             if ranks.owns(p.index) and not is_done(run_dir, "filter", p)]
    summary.totals = write_stage_stats(run_dir, "filter", len(parts))
    if echo is not None:
        echo(summary.render(table=progress and sys.stdout.isatty()))
    return summary
