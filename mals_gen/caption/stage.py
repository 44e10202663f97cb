"""`mals caption`: one caption per generated image, written as RUN/caption/part-NNNNN.parquet.

Reads each part's plan (key, prompt, seed) and generate manifest (status, tar member), decodes
the images straight from RUN/images/part-NNNNN.tar, captions them in batches and writes
CAPTION_SCHEMA rows: the caption, which captioner made it (`prompt`, `blip:MODEL`, `vlm:MODEL`)
and the settings used (JSON). Prompt and caption stay separate columns. Samples without an image
(generate status != "ok") get an empty caption and count as dropped "no_image".

Defaults follow the run: a sketch run captions with its prompts (no weights needed), any other
backend with BLIP. Parts are processed by the shared runner, so a killed run resumes by
rerunning the same command and gives the same parquet as an uninterrupted one.
"""
from __future__ import annotations

import io
import json
import sys
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from ..contract import CAPTION_SCHEMA
from ..errors import UserError
from ..manifest import read_joined_part
from ..plan import RunPlan, load_plan
from ..ranks import ONE_PROCESS, Ranks
from ..runner import StageContext, StageSummary, run_stage
from ..stages import BY_NAME
from ..tario import PartTar
from .captioners import CaptionItem, read_instructions
from .presets import DEFAULT_MODELS, GENERATION_KEYS, check_settings, preset_settings

STAGE = "caption"
CAPTIONERS = ("auto", "prompt", "blip", "vlm")
#: The style instructions shipped with the repository (pipelines/caption_styles.txt).
DEFAULT_INSTRUCTIONS = Path(__file__).resolve().parents[2] / "pipelines" / "caption_styles.txt"


@dataclass(frozen=True)
class CaptionConfig:
    """Caption stage settings. Generation fields left at None take the preset's value."""
    captioner: str = "auto"          # auto | prompt | blip | vlm; auto: sketch run -> prompt, else blip
    model: str = ""                  # hub id or local folder; "" = the captioner's default model
    preset: str = "default"          # default | mals (MALS's long BLIP captions, blip only)
    num_beams: int | None = None
    min_new_tokens: int | None = None
    max_new_tokens: int | None = None
    repetition_penalty: float | None = None
    no_repeat_ngram_size: int | None = None
    length_penalty: float | None = None
    do_sample: bool | None = None
    temperature: float | None = None
    top_p: float | None = None
    prefix: str | None = None        # text the decoder starts from (blip); cut from the caption
    strip_prefix: bool = True
    instructions_file: str = ""      # vlm style instructions, one per line; "" = the shipped file
    batch_size: int = 16
    device: str = "auto"             # auto | cpu | cuda
    dtype: str = "auto"              # auto | float32 | float16 | bfloat16


@dataclass(frozen=True)
class CaptionSpec:
    """The resolved choice: which captioner, which model, which settings (recorded per row)."""
    kind: str
    model: str
    settings: dict
    instructions: tuple[str, ...] = ()


def resolve_kind(cfg: CaptionConfig, plan: RunPlan) -> str:
    if cfg.captioner not in CAPTIONERS:
        raise UserError(f"unknown captioner {cfg.captioner!r}; pass --captioner prompt, blip or vlm")
    if cfg.captioner != "auto":
        return cfg.captioner
    # A sketch image is drawn from its prompt's attributes, so the prompt is its exact caption.
    return "prompt" if plan.config.get("backend") == "sketch" else "blip"


def resolve_spec(cfg: CaptionConfig, plan: RunPlan) -> CaptionSpec:
    """Pick the captioner and settle every setting before any model is loaded."""
    if cfg.batch_size < 1:
        raise UserError(f"caption batch_size must be at least 1, got {cfg.batch_size}")
    kind = resolve_kind(cfg, plan)
    if kind == "prompt" and plan.source.get("kind") == "images":  # imported photos have no prompt
        raise UserError("caption --captioner prompt: an imported run has no prompts to caption with; "
                        "pass --captioner vlm or --captioner blip (with --model)")
    if kind == "prompt":
        return CaptionSpec("prompt", "", {"source": "plan prompt"})
    settings = preset_settings(cfg.preset, kind)
    for key in GENERATION_KEYS:
        if getattr(cfg, key) is not None:
            settings[key] = getattr(cfg, key)
    check_settings(settings)
    model = cfg.model or DEFAULT_MODELS[kind]
    settings.update(model=model, preset=cfg.preset, batch_size=cfg.batch_size)
    instructions: tuple[str, ...] = ()
    if kind == "blip":
        settings["strip_prefix"] = cfg.strip_prefix
    else:
        path = Path(cfg.instructions_file) if cfg.instructions_file else DEFAULT_INSTRUCTIONS
        instructions = tuple(read_instructions(path))
        settings["instructions_file"] = str(path)
    return CaptionSpec(kind, model, settings, instructions)


def build_captioner(spec: CaptionSpec, cfg: CaptionConfig):
    """Instantiate (and load the weights of) the captioner `spec` names."""
    from .captioners import BlipCaptioner, InstructionCaptioner, PromptCaptioner

    if spec.kind == "prompt":
        return PromptCaptioner()
    if spec.kind == "blip":
        return BlipCaptioner(spec.model, spec.settings, cfg.device, cfg.dtype, strip=cfg.strip_prefix)
    return InstructionCaptioner(spec.model, spec.settings, spec.instructions, cfg.device, cfg.dtype)


# ---------------------------------------------------------------------------------------------
# One part.

@contextmanager
def _open_tar(run_dir: Path, image_path: str | None):
    """The part tar holding the images (None for captioners that never look at them)."""
    if image_path is None:
        yield None
        return
    with PartTar(run_dir / image_path) as tar:
        yield tar


def _read_image(tar: PartTar, member: str):
    """The decoded RGB image of tar member KEY.jpg, or None (one warning line) when it does not decode."""
    from PIL import Image

    from ..shard.images import DECODE_ERRORS

    data = tar.read(member)
    try:
        with Image.open(io.BytesIO(data)) as img:
            return img.convert("RGB")
    except DECODE_ERRORS as err:
        tqdm.write(f"warning: caption: {tar.path} member {member} does not decode ({err}); "
                   "its caption stays empty (counted as bad_image)", file=sys.stderr)
        return None


class _PartCaptions:
    """Captions, per-row settings and drop counts of one part, filled batch by batch."""

    def __init__(self, captioner, spec: CaptionSpec):
        self.captioner = captioner
        self.settings = {**spec.settings, **captioner.runtime()}
        self.base = json.dumps(self.settings, sort_keys=True)
        self.results: dict[str, tuple[str, str]] = {}  # key -> (caption, settings JSON)
        self.dropped = {"no_image": 0, "bad_image": 0, "empty_caption": 0}

    def add_batch(self, rows: list[dict], tar: PartTar | None) -> None:
        batch = []
        for row in rows:
            image = _read_image(tar, row["image_member"]) if tar is not None else None
            if tar is not None and image is None:
                self.dropped["bad_image"] += 1
                continue
            batch.append(CaptionItem(row["key"], row["prompt"], int(row["seed"]), image))
        for item, res in zip(batch, self.captioner.caption(batch) if batch else []):
            self.dropped["empty_caption"] += not res.text
            extra = json.dumps({**self.settings, **res.extra}, sort_keys=True) if res.extra else self.base
            self.results[item.key] = (res.text, extra)

    def rows(self, plan_rows: list[dict]) -> list[dict]:
        """One output row per planned sample, in plan order; no caption -> empty string."""
        out = []
        for r in plan_rows:
            text, settings = self.results.get(r["key"], ("", self.base))
            out.append({"key": r["key"], "caption": text, "captioner": self.captioner.name,
                        "caption_settings": settings})
        return out


def caption_part(ctx: StageContext, captioner, spec: CaptionSpec, batch_size: int) -> dict:
    """Caption one part in batches, tar by tar; returns its stats."""
    plan_rows = read_joined_part(ctx.run_dir, ctx.part.index, {
        "plan": ["prompt", "seed"], "generate": ["image_path", "image_member", "status"]})
    found = _PartCaptions(captioner, spec)
    by_tar: dict[str | None, list[dict]] = {}
    for row in plan_rows:
        if row["status"] != "ok":  # failed, or missing from the generate part (None)
            found.dropped["no_image"] += 1
            continue
        by_tar.setdefault(row["image_path"] if captioner.needs_images else None, []).append(row)
    ctx.advance(found.dropped["no_image"])
    for image_path, rows in by_tar.items():
        with _open_tar(ctx.run_dir, image_path) as tar:
            for start in range(0, len(rows), batch_size):
                found.add_batch(rows[start:start + batch_size], tar)
                ctx.advance(len(rows[start:start + batch_size]))
    out = found.rows(plan_rows)
    with ctx.output(".parquet") as tmp:
        pq.write_table(pa.Table.from_pylist(out, schema=CAPTION_SCHEMA), tmp, compression="zstd")
    return {"samples": len(out), "kept": sum(1 for r in out if r["caption"]), "captioner": captioner.name,
            "dropped": {k: v for k, v in found.dropped.items() if v}}


class _LazyCaptioner:
    """Loads the model on the first part that needs work, so a finished stage reruns instantly."""

    def __init__(self, spec: CaptionSpec, cfg: CaptionConfig):
        self.spec, self.cfg, self.captioner = spec, cfg, None

    def get(self):
        if self.captioner is None:
            self.captioner = build_captioner(self.spec, self.cfg)
        return self.captioner


def run_caption(run_dir: str | Path, cfg: CaptionConfig, *, ranks: Ranks = ONE_PROCESS, progress: bool = True,
                echo: Callable[[str], None] | None = print) -> StageSummary:
    """Caption every generated part this rank owns that is not captioned yet."""
    run_dir = Path(run_dir)
    plan = load_plan(run_dir)
    spec = resolve_spec(cfg, plan)
    lazy = _LazyCaptioner(spec, cfg)

    def process_part(ctx: StageContext) -> dict:
        return caption_part(ctx, lazy.get(), spec, cfg.batch_size)

    return run_stage(STAGE, run_dir, plan.parts, process_part, ranks=ranks, requires=BY_NAME[STAGE].requires,
                     progress=progress, echo=echo)
