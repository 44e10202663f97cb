"""`GenerateConfig`: every setting of `mals generate`, resolved against the backend's preset."""
from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import UserError
from ..prompts.composer import ComposerConfig
from .presets import DIFFUSION_PRESETS, SKETCH_DEFAULT_SIZE

BACKENDS = ("diffusers", "sketch")


@dataclass(frozen=True)
class GenerateConfig:
    n: int = 2000                      # samples to plan ("10k", "1.5M" accepted)
    part_size: int = 1000              # samples per part (one tar + one parquet each)
    seed: int = 0                      # base seed; every sample's seed derives from it and its index
    key_prefix: str = "s"
    backend: str = "diffusers"         # the job is diffusion; `sketch` draws procedurally, no weights
    preset: str = "sd-turbo"           # diffusion preset: sd-turbo | mals-faithful | sda-style
    model: str | None = None           # hub id or local folder; None = the preset's
    lora: str | None = None            # a LoRA folder of `mals tune-diffusion` loaded onto the model
    steps: int | None = None
    guidance: float | None = None
    negative_prompt: str | None = None
    height: int | None = None
    width: int | None = None
    batch_size: int = 16
    dtype: str = "auto"                # auto = bfloat16 on CUDA, float32 on CPU
    device: str = "auto"               # auto = cuda:LOCAL_RANK when CUDA is there, else cpu
    compile: bool = False              # torch.compile the denoiser (long first batch, faster after)
    jpeg_quality: int = 92
    prompts: str | None = None         # a file of descriptions instead of the composer
    prompt_field: str | None = None    # column / field holding the text in that file
    # EDA edit rate for reused descriptions (SDA's expanded prompts): when N exceeds the file, every
    # use after the first is the description with synonym / insert / swap / delete edits at this
    # rate, seeded per sample (mals_gen/eda.py); 0 keeps the descriptions as they are.
    prompt_eda: float = 0.0
    composer: ComposerConfig = field(default_factory=ComposerConfig)  # attribute priors of the composer

    def resolved(self) -> GenerateConfig:
        """Fill unset fields from the preset (diffusers) or the sketch defaults; validate.

        Runs before plan.json is written, so a bad setting never leaves a plan behind that the
        corrected command would then refuse to resume. Messages name the YAML key and the flag.
        """
        cfg = self._checked()
        if cfg.backend == "sketch":
            if cfg.lora:
                raise UserError("generate.lora (--lora) needs the diffusers backend; drop --backend sketch")
            height, width = SKETCH_DEFAULT_SIZE
            return dataclasses.replace(cfg, model=cfg.model or "sketch-v1",
                                       height=cfg.height or height, width=cfg.width or width)
        if cfg.preset not in DIFFUSION_PRESETS:
            raise UserError(f"generate.preset: unknown preset {cfg.preset!r}; choose one of: "
                            f"{', '.join(DIFFUSION_PRESETS)}")
        preset = DIFFUSION_PRESETS[cfg.preset]
        filled = {name: preset.get(name) for name in ("model", "lora", "steps", "guidance", "negative_prompt",
                                                       "height", "width") if getattr(cfg, name) is None}
        if cfg.model is not None:
            filled.pop("lora", None)  # a preset's adapter belongs to the preset's model only
        cfg = dataclasses.replace(cfg, **filled)
        if cfg.height % 8 or cfg.width % 8:
            raise UserError("generate.height and generate.width (--height, --width) must be multiples of 8 "
                            f"for diffusion, got {cfg.height}x{cfg.width}")
        return cfg

    def _checked(self) -> GenerateConfig:
        """Checks that need no preset; a composer given as a plain dict is typed here."""
        cfg = self
        if isinstance(cfg.composer, Mapping):  # built in code with a dict of priors
            from ..config import from_mapping

            cfg = dataclasses.replace(cfg, composer=from_mapping(ComposerConfig, cfg.composer, "generate.composer"))
        if cfg.backend not in BACKENDS:
            raise UserError(f"generate.backend: unknown backend {cfg.backend!r}; choose one of: {', '.join(BACKENDS)}")
        if cfg.n <= 0:
            raise UserError(f"generate.n (--n): the number of samples must be positive, got {cfg.n}; "
                            "pass e.g. --n 2000")
        for name in ("part_size", "batch_size"):
            if getattr(cfg, name) <= 0:
                raise UserError(f"generate.{name} (--{name.replace('_', '-')}) must be positive, "
                                f"got {getattr(cfg, name)}")
        if not 0.0 <= cfg.prompt_eda <= 0.5:
            raise UserError(f"generate.prompt_eda (--prompt-eda) is an edit rate within 0..0.5, got {cfg.prompt_eda}")
        if cfg.prompt_eda and cfg.prompts is None:
            raise UserError("generate.prompt_eda (--prompt-eda) edits descriptions from a file: pass --prompts FILE")
        if not 1 <= cfg.jpeg_quality <= 100:
            raise UserError(f"generate.jpeg_quality (--jpeg-quality) must be within 1..100, got {cfg.jpeg_quality}")
        return cfg

    def images_per_second_reference(self) -> float | None:
        if self.backend == "diffusers":
            return DIFFUSION_PRESETS[self.preset]["reference_images_per_second"]
        return None
