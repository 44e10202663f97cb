"""`GenerateConfig`: every setting of `mals generate`, resolved against the backend's preset."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from ..errors import UserError
from .presets import DIFFUSION_PRESETS, SKETCH_DEFAULT_SIZE

BACKENDS = ("diffusers", "sketch")


@dataclass(frozen=True)
class GenerateConfig:
    n: int = 2000                      # samples to plan ("10k", "1.5M" accepted)
    part_size: int = 1000              # samples per part (one tar + one parquet each)
    seed: int = 0                      # base seed; every sample's seed derives from it and its index
    key_prefix: str = "s"
    backend: str = "diffusers"         # the job is diffusion; `sketch` draws procedurally, no weights
    preset: str = "sd-turbo"           # diffusion preset: sd-turbo | mals-faithful
    model: str | None = None           # hub id or local folder; None = the preset's
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
    composer: dict = field(default_factory=dict)  # ComposerConfig overrides (attribute priors)

    def resolved(self) -> GenerateConfig:
        """Fill unset fields from the preset (diffusers) or the sketch defaults; validate."""
        if self.backend not in BACKENDS:
            raise UserError(f"unknown backend {self.backend!r}; choose one of: {', '.join(BACKENDS)}")
        if self.n <= 0:
            raise UserError(f"the number of samples must be positive, got {self.n}; pass e.g. --n 2000")
        if self.part_size <= 0 or self.batch_size <= 0:
            raise UserError("--part-size and --batch-size must be positive")
        if not 1 <= self.jpeg_quality <= 100:
            raise UserError(f"--jpeg-quality must be within 1..100, got {self.jpeg_quality}")
        if self.backend == "sketch":
            height, width = SKETCH_DEFAULT_SIZE
            return dataclasses.replace(self, model=self.model or "sketch-v1",
                                       height=self.height or height, width=self.width or width)
        if self.preset not in DIFFUSION_PRESETS:
            raise UserError(f"unknown preset {self.preset!r}; choose one of: {', '.join(DIFFUSION_PRESETS)}")
        preset = DIFFUSION_PRESETS[self.preset]
        filled = {name: preset[name] for name in ("model", "steps", "guidance", "negative_prompt",
                                                   "height", "width") if getattr(self, name) is None}
        cfg = dataclasses.replace(self, **filled)
        if cfg.height % 8 or cfg.width % 8:
            raise UserError(f"height and width must be multiples of 8 for diffusion, got {cfg.height}x{cfg.width}")
        return cfg

    def images_per_second_reference(self) -> float | None:
        if self.backend == "diffusers":
            return DIFFUSION_PRESETS[self.preset]["reference_images_per_second"]
        return None
