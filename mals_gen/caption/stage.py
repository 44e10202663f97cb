"""`mals caption`: captions of every generated image, written as RUN/caption/part-NNNNN.parquet.

Reads each part's plan (key, prompt, seed) and generate manifest (status, tar member), decodes
the images straight from RUN/images/part-NNNNN.tar, captions them in batches and writes
CAPTION_SCHEMA rows: `captions` (each caption with its captioner `prompt` / `blip:MODEL` /
`vlm:MODEL` / `rewrite:MODEL`, the style id and the instruction), and the first caption's text,
captioner and settings (JSON) in `caption` / `captioner` / `caption_settings`. Prompt and caption
stay separate columns. Samples without an image (generate status != "ok") get no caption and count
as dropped "no_image".

Several captions per image (`captions_per_image` N): caption j is made by captioner j mod the
number of captioners (`captioners`), with its own seed (the plan seed for j = 0), so each draws
its own style. With a style file (`styles`, from `mals styles`) the prompt, vlm and rewrite
captioners follow one drawn mined style per caption.

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
CAPTIONERS = ("auto", "prompt", "blip", "vlm", "rewrite")
#: The style instructions shipped with the repository (pipelines/caption_styles.txt).
DEFAULT_INSTRUCTIONS = Path(__file__).resolve().parents[2] / "pipelines" / "caption_styles.txt"


@dataclass(frozen=True)
class CaptionConfig:
    """Caption stage settings. Generation fields left at None take the preset's value."""
    captioner: str = "auto"          # auto | prompt | blip | vlm | rewrite; auto: sketch run -> prompt, else blip
    model: str = ""                  # hub id or local folder; "" = the captioner's default model
    captioners: tuple[str, ...] = ()  # several: "KIND" or "KIND=MODEL" each; replaces captioner + model
    captions_per_image: int = 1      # caption j of an image comes from captioners[j % len(captioners)]
    styles: str = ""                 # style file of `mals styles`: prompt / vlm / rewrite follow drawn styles
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
    styles: tuple = ()               # mined styles (styles.mine.Style) the captioner draws from


def resolve_kind(kind: str, plan: RunPlan) -> str:
    if kind not in CAPTIONERS:
        raise UserError(f"unknown captioner {kind!r}; pass --captioner prompt, blip, vlm or rewrite")
    if kind != "auto":
        return kind
    # A sketch image is drawn from its prompt's attributes, so the prompt is its exact caption.
    return "prompt" if plan.config.get("backend") == "sketch" else "blip"


def _entries(cfg: CaptionConfig) -> list[tuple[str, str]]:
    """(kind, model) of every captioner the config names, in order."""
    if not cfg.captioners:
        return [(cfg.captioner, cfg.model)]
    return [(kind.strip(), model.strip()) for kind, _, model in (e.partition("=") for e in cfg.captioners)]


def resolve_specs(cfg: CaptionConfig, plan: RunPlan) -> tuple[CaptionSpec, ...]:
    """Every captioner's spec, settled before any model is loaded."""
    if cfg.batch_size < 1:
        raise UserError(f"caption batch_size must be at least 1, got {cfg.batch_size}")
    if cfg.captions_per_image < 1:
        raise UserError(f"caption captions_per_image must be at least 1, got {cfg.captions_per_image}")
    styles = ()
    if cfg.styles:
        from ..styles.mine import read_styles
        styles = tuple(read_styles(cfg.styles))
    specs = tuple(resolve_spec(cfg, plan, kind, model, styles) for kind, model in _entries(cfg))
    if cfg.styles and all(s.kind == "blip" for s in specs):
        raise UserError("caption styles need a captioner that follows them (prompt, vlm or rewrite); "
                        "BLIP cannot: pass --captioner vlm or drop --styles")
    return specs


def resolve_spec(cfg: CaptionConfig, plan: RunPlan, kind: str = "", model: str = "",
                 styles: tuple = ()) -> CaptionSpec:
    """One captioner's choice: kind, model and every setting (recorded with its captions)."""
    kind = resolve_kind(kind or cfg.captioner, plan)
    if kind == "prompt" and plan.source.get("kind") == "images":  # imported photos have no prompt
        raise UserError("caption --captioner prompt: an imported run has no prompts to caption with; "
                        "pass --captioner vlm or --captioner blip (with --model)")
    style_note = {"styles_file": cfg.styles, "styles": len(styles)} if styles else {}
    if kind == "prompt":
        return CaptionSpec("prompt", "", {"source": "plan prompt", **style_note}, styles=styles)
    settings = preset_settings(cfg.preset, kind)
    for key in GENERATION_KEYS:
        if getattr(cfg, key) is not None:
            settings[key] = getattr(cfg, key)
    check_settings(settings)
    model = model or (cfg.model if not cfg.captioners else "") or DEFAULT_MODELS[kind]
    settings.update(model=model, preset=cfg.preset, batch_size=cfg.batch_size)
    if kind == "blip":
        settings["strip_prefix"] = cfg.strip_prefix
        return CaptionSpec(kind, model, settings)
    path = Path(cfg.instructions_file) if cfg.instructions_file else DEFAULT_INSTRUCTIONS
    settings.update(instructions_file=str(path), **style_note)
    return CaptionSpec(kind, model, settings, tuple(read_instructions(path)), styles)


def build_captioner(spec: CaptionSpec, cfg: CaptionConfig):
    """Instantiate (and load the weights of) the captioner `spec` names."""
    from .captioners import BlipCaptioner, InstructionCaptioner, PromptCaptioner

    if spec.kind == "prompt":
        return PromptCaptioner(spec.styles)
    if spec.kind == "blip":
        return BlipCaptioner(spec.model, spec.settings, cfg.device, cfg.dtype, strip=cfg.strip_prefix)
    if spec.kind == "rewrite":
        from .rewrite import RewriteCaptioner
        return RewriteCaptioner(spec.model, spec.settings, spec.instructions, cfg.device, cfg.dtype, spec.styles)
    return InstructionCaptioner(spec.model, spec.settings, spec.instructions, cfg.device, cfg.dtype, spec.styles)


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


def caption_seed(seed: int, index: int) -> int:
    """The seed of an image's caption `index` (its plan seed for the first): styles differ per caption."""
    return seed if index == 0 else (seed * 1_000_003 + index * 0x9E3779B1) % (2**31 - 1)


class _PartCaptions:
    """Captions with provenance, the first caption's settings and drop counts of one part."""

    def __init__(self, captioners: list, specs: tuple[CaptionSpec, ...], per_image: int):
        self.captioners, self.per_image = captioners, per_image
        several = {"captions_per_image": per_image, "captioners": [c.name for c in captioners]}
        self.settings = {**specs[0].settings, **captioners[0].runtime(),
                         **(several if per_image > 1 or len(captioners) > 1 else {})}
        self.base = json.dumps(self.settings, sort_keys=True)
        self.results: dict[str, tuple[list[dict], str]] = {}  # key -> (caption entries, settings JSON)
        self.dropped = {"no_image": 0, "bad_image": 0, "empty_caption": 0}

    @property
    def needs_images(self) -> bool:
        return any(c.needs_images for c in self.captioners)

    def add_batch(self, rows: list[dict], tar: PartTar | None) -> None:
        batch = []
        for row in rows:
            image = _read_image(tar, row["image_member"]) if tar is not None else None
            if tar is not None and image is None:
                self.dropped["bad_image"] += 1
                continue
            batch.append((row, image))
        if not batch:
            return
        entries: list[list[dict]] = [[] for _ in batch]
        settings = [self.base] * len(batch)
        for j in range(self.per_image):
            captioner = self.captioners[j % len(self.captioners)]
            items = [CaptionItem(row["key"], row["prompt"], caption_seed(int(row["seed"]), j),
                                 image if captioner.needs_images else None, source=_source(found))
                     for (row, image), found in zip(batch, entries)]
            for i, res in enumerate(captioner.caption(items)):
                self.dropped["empty_caption"] += not res.text
                if j == 0 and res.extra:
                    settings[i] = json.dumps({**self.settings, **res.extra}, sort_keys=True)
                if res.text:
                    entries[i].append({"text": res.text, "captioner": captioner.name,
                                       "style": int(res.extra.get("style", -1)),
                                       "instruction": res.extra.get("instruction")})
        for (row, _), found, setting in zip(batch, entries, settings):
            self.results[row["key"]] = (found, setting)

    def rows(self, plan_rows: list[dict]) -> list[dict]:
        """One output row per planned sample, in plan order; no caption -> empty string."""
        out = []
        for r in plan_rows:
            found, settings = self.results.get(r["key"], ([], self.base))
            out.append({"key": r["key"], "caption": found[0]["text"] if found else "",
                        "captioner": found[0]["captioner"] if found else self.captioners[0].name,
                        "caption_settings": settings, "captions": found})
        return out


def _source(found: list[dict]) -> str:
    """What `rewrite` restyles: the image's first caption not made by a rewrite ("" = the prompt)."""
    return next((e["text"] for e in found if not e["captioner"].startswith("rewrite:")), "")


def caption_part(ctx: StageContext, captioners: list, specs: tuple[CaptionSpec, ...], cfg: CaptionConfig) -> dict:
    """Caption one part in batches, tar by tar; returns its stats."""
    plan_rows = read_joined_part(ctx.run_dir, ctx.part.index, {
        "plan": ["prompt", "seed"], "generate": ["image_path", "image_member", "status"]})
    found = _PartCaptions(captioners, specs, cfg.captions_per_image)
    by_tar: dict[str | None, list[dict]] = {}
    for row in plan_rows:
        if row["status"] != "ok":  # failed, or missing from the generate part (None)
            found.dropped["no_image"] += 1
            continue
        by_tar.setdefault(row["image_path"] if found.needs_images else None, []).append(row)
    ctx.advance(found.dropped["no_image"])
    for image_path, rows in by_tar.items():
        with _open_tar(ctx.run_dir, image_path) as tar:
            for start in range(0, len(rows), cfg.batch_size):
                found.add_batch(rows[start:start + cfg.batch_size], tar)
                ctx.advance(len(rows[start:start + cfg.batch_size]))
    out = found.rows(plan_rows)
    with ctx.output(".parquet") as tmp:
        pq.write_table(pa.Table.from_pylist(out, schema=CAPTION_SCHEMA), tmp, compression="zstd")
    return {"samples": len(out), "kept": sum(1 for r in out if r["caption"]),
            "captions": sum(len(r["captions"]) for r in out), "captioner": captioners[0].name,
            "dropped": {k: v for k, v in found.dropped.items() if v}}


class _LazyCaptioners:
    """Loads the models on the first part that needs work, so a finished stage reruns instantly."""

    def __init__(self, specs: tuple[CaptionSpec, ...], cfg: CaptionConfig):
        self.specs, self.cfg, self.captioners = specs, cfg, None

    def get(self) -> list:
        if self.captioners is None:
            self.captioners = [build_captioner(spec, self.cfg) for spec in self.specs]
        return self.captioners


def run_caption(run_dir: str | Path, cfg: CaptionConfig, *, ranks: Ranks = ONE_PROCESS, progress: bool = True,
                echo: Callable[[str], None] | None = print) -> StageSummary:
    """Caption every generated part this rank owns that is not captioned yet."""
    run_dir = Path(run_dir)
    plan = load_plan(run_dir)
    specs = resolve_specs(cfg, plan)
    lazy = _LazyCaptioners(specs, cfg)

    def process_part(ctx: StageContext) -> dict:
        return caption_part(ctx, lazy.get(), specs, cfg)

    return run_stage(STAGE, run_dir, plan.parts, process_part, ranks=ranks, requires=BY_NAME[STAGE].requires,
                     progress=progress, echo=echo)
