"""`mals shard RUN --out shards/NAME`: select a run's kept samples and write them as WebDataset shards.

Reads the joined manifest (plan + generate + caption + attrs + filter when present), keeps rows
whose image was generated (`status == "ok"`) and, when the filter ran, that it kept. Image bytes
are read straight from the byte ranges of `RUN/images/part-NNNNN.tar` (no extraction), cropped
to `person_box` and resized when configured (else copied untouched), and written by the shared
dataset writer, which leaves out (and lists in `rejects.parquet`) any image that does not decode,
e.g. a damaged member of a generate tar when the filter did not run. Every generated image is its own person (`person_id = key`); the split is a stable
hash of the key.
"""
from __future__ import annotations

import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..config import to_dict
from ..contract import NUM_MALS_ATTRIBUTES, ShardSample, caption_entries
from ..errors import UserError
from ..manifest import done_part_files, load_manifest
from ..plan import load_plan
from ..runner import StageSummary
from ..tario import tar_index
from .dataset import REJECTS_FILE, ImageRef, Sample, write_dataset
from .images import ImageSpec
from .split import SplitFractions, split_of

_SCORE_COLUMNS = ("clip_score", "blur", "colourfulness", "attr_agreement")


@dataclass(frozen=True)
class ShardConfig:
    samples_per_shard: int = 10_000
    crop: bool = True                  # crop to the filter's person box when there is one
    resize: bool = True                # resize to `height` (width follows the person's aspect)
    height: int = 384
    upscale: bool = False              # also enlarge images lower than `height`
    jpeg_quality: int = 95             # only used when an image must be re-encoded
    split: SplitFractions = field(default_factory=SplitFractions)
    workers: int = 0                   # shard-writing processes; 0 = one per CPU core
    attrs_from: str = "mined"          # mined (from captions) | known (what a sketch drew, else mined) | prompt
    name: str | None = None            # dataset name on the card; default: the output folder name

    def image_spec(self) -> ImageSpec:
        if not 1 <= self.jpeg_quality <= 100:
            raise UserError(f"shard.jpeg_quality must be within 1..100, got {self.jpeg_quality}")
        if self.resize and self.height < 8:
            raise UserError(f"shard.height must be at least 8 pixels, got {self.height}")
        return ImageSpec(crop=self.crop, height=self.height if self.resize else None,
                         upscale=self.upscale, quality=self.jpeg_quality)


def _present(value) -> bool:
    """False for the null markers pandas uses for a missing cell (None, NaN, NA)."""
    if value is None or value is pd.NA:
        return False
    return not (isinstance(value, float) and math.isnan(value))


def _check_finished(run_dir: Path) -> None:
    """Every stage that started must have finished all parts, or shards would silently miss samples."""
    n_parts = len(load_plan(run_dir).parts)
    for stage in ("plan", "generate", "caption", "attrs", "filter"):
        done = len(done_part_files(run_dir, stage))
        if stage in ("plan", "generate") and done == 0:
            raise UserError(f"{run_dir / stage} has no finished parts: run `mals generate` first")
        if 0 < done < n_parts:
            raise UserError(f"{run_dir / stage} has {done} of {n_parts} parts done: finish it "
                            f"(rerun `mals {stage}` on {run_dir}) before sharding")


def _scores(row: dict) -> dict:
    return {c: round(float(row[c]), 6) for c in _SCORE_COLUMNS if c in row and _present(row[c])}


ATTRS_FROM = {"mined": ("mined_attrs",), "known": ("known_attrs", "mined_attrs"), "prompt": ("prompt_attrs",)}


def _labels(row: dict, attrs_from: str) -> tuple[list[int] | None, str | None]:
    """The sample's 27 labels from the first column `attrs_from` names that holds them, and its source."""
    for column in ATTRS_FROM[attrs_from]:
        value = row.get(column)
        if _present_list(value, NUM_MALS_ATTRIBUTES):
            source = row.get("attr_source") if column == "mined_attrs" else column.removesuffix("_attrs")
            return [int(v) for v in value], source if _present(source) else None
    return None, None


def _sample_fields(row: dict, run_dir: Path, split: str, attrs_from: str = "mined") -> ShardSample:
    entries = caption_entries(row)     # every caption of the image, with its captioner and style
    captions = [e["text"] for e in entries] or [row["prompt"]]
    attrs, attr_source = _labels(row, attrs_from)
    box = row.get("person_box")
    provenance = {
        "run": run_dir.name, "backend": row.get("backend"), "model": row.get("model"),
        "seed": int(row["seed"]), "index": int(row["index"]), "prompt_source": row.get("prompt_source"),
        "text_source": entries[0]["captioner"] if entries else "prompt",
        "caption_sources": [{"captioner": e["captioner"], "style": e["style"]} for e in entries] or None,
        "caption_settings": row.get("caption_settings") if _present(row.get("caption_settings")) else None,
        "person_box": [int(v) for v in box] if _present_list(box, 4) else None,
    }
    if _present(row.get("source_image")):   # imported images: where the crop came from
        src_box = row.get("source_box")
        provenance.update(source_image=row["source_image"], detect_score=_float(row.get("detect_score")),
                          source_box=[int(v) for v in src_box] if _present_list(src_box, 4) else None)
    return ShardSample(
        key=row["key"], split=split, source=f"mals-{row.get('backend') or 'generated'}", captions=captions,
        mals_attrs=attrs, attr_source=attr_source,
        prompt=row["prompt"], scores=_scores(row), provenance=provenance)   # person_id = image_id = key


def _float(value) -> float | None:
    return round(float(value), 6) if _present(value) else None


def _present_list(value, length: int) -> bool:
    return value is not None and not isinstance(value, float) and len(value) == length


def run_samples(run_dir: Path, cfg: ShardConfig) -> tuple[list[Sample], dict]:
    """The samples to shard, in plan order, and counts of what was left out and why."""
    _check_finished(run_dir)
    frame = load_manifest(run_dir).sort_values("index", kind="stable")
    dropped: dict[str, int] = {}
    ok = frame["status"] == "ok"
    dropped["generate_failed"] = int((~ok).sum())
    if "keep" in frame.columns:
        kept = frame["keep"].fillna(False).astype(bool)
        for reason, count in frame.loc[ok & ~kept, "reason"].fillna("unknown").value_counts().items():
            dropped[f"filter:{reason}"] = int(count)
        ok &= kept
    indexes: dict[str, dict] = {}
    samples = []
    for row in frame.loc[ok].to_dict("records"):
        tar_path = run_dir / row["image_path"]
        index = indexes.get(row["image_path"])
        if index is None:
            index = indexes[row["image_path"]] = tar_index(tar_path)
        if row["image_member"] not in index:
            raise UserError(f"{tar_path} has no member {row['image_member']} for sample {row['key']}; "
                            "delete that generate part and rerun `mals generate`")
        offset, size = index[row["image_member"]]
        split = split_of(row["key"], cfg.split)
        box = row.get("person_box")
        samples.append(Sample(_sample_fields(row, run_dir, split, cfg.attrs_from), ImageRef(str(tar_path), offset, size),
                              tuple(int(v) for v in box) if _present_list(box, 4) else None))
    return samples, {k: v for k, v in dropped.items() if v}


def _totals(result, dropped: dict) -> dict:
    """The summary line's counts; images the writer rejected count as dropped `unreadable_image`."""
    totals = {"kept": result.samples, "reencoded": result.reencoded, **result.split_counts}
    if result.kept_shards:
        totals["tars_kept_from_earlier_run"] = result.kept_shards
    if result.rejected:
        dropped = {**dropped, "unreadable_image": result.rejected}
    return {**totals, "dropped": dropped}


def run_shard(run_dir: str | Path, out_dir: str | Path, cfg: ShardConfig = ShardConfig(), *,
              progress: bool = True, echo=print, command: str | None = None,
              config: dict | None = None) -> StageSummary:
    """Shard the kept samples of `run_dir` into `out_dir`; rerunning with the same inputs is a no-op.

    `command` and `config` (e.g. the whole resolved pipeline) go on the dataset card.
    """
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    cfg.split.validate()
    if cfg.attrs_from not in ATTRS_FROM:
        raise UserError(f"shard.attrs_from: unknown value {cfg.attrs_from!r}; choose one of: {', '.join(ATTRS_FROM)}")
    spec = cfg.image_spec()
    samples, dropped = run_samples(run_dir, cfg)
    if not samples:
        raise UserError(f"{run_dir}: no sample is kept (dropped: {dropped}); nothing to shard")
    plan = load_plan(run_dir)
    card = {"name": cfg.name or out_dir.name,
            "config": config or {"shard": to_dict(cfg), "generate": plan.config}}
    if command:
        card["command"] = command
    result = write_dataset(samples, out_dir, spec=spec, samples_per_shard=cfg.samples_per_shard,
                           workers=cfg.workers, card=card, progress=progress)
    summary = StageSummary("shard", result.shards, parts_done_now=0 if result.skipped else result.shards,
                           parts_skipped=result.shards if result.skipped else 0,
                           samples_now=0 if result.skipped else result.samples, seconds=result.seconds,
                           totals=_totals(result, dropped), output=str(out_dir))
    if echo is not None:
        echo(summary.render(table=progress and sys.stdout.isatty()))
        if result.rejected:
            echo(f"shard: {result.rejected} unreadable image(s) left out, listed in {out_dir / REJECTS_FILE}")
    return summary
