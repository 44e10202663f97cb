"""`TuneConfig`: every setting of `mals tune-diffusion` (defaults < YAML < flags < --set)."""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import UserError

METHODS = ("lora", "full")
PRECISIONS = ("no", "bf16", "fp16")
# Prompts of the sample grid: fixed, so grids of successive steps compare like for like.
DEFAULT_SAMPLE_PROMPTS = (
    "a woman in a red coat and black trousers carrying a handbag",
    "a man wearing a blue shirt, grey shorts and white shoes",
    "a young man in a black jacket and jeans with a backpack",
    "a woman with long hair in a white dress",
)


@dataclass(frozen=True)
class TuneConfig:
    base: str = "stable-diffusion-v1-5/stable-diffusion-v1-5"  # hub id or pipeline folder
    split: str = "train"               # which split of the shards to learn from
    method: str = "lora"               # lora (peft adapters on the UNet's attention) | full (whole UNet)
    lora_rank: int = 16
    lora_alpha: int = 16
    height: int = 512                  # pixels; the person aspect (2:1), latents are height/8 x width/8
    width: int = 256
    steps: int = 2000
    batch_size: int = 8                # per process
    lr: float = 1e-4
    weight_decay: float = 1e-2
    warmup_steps: int = 100
    max_grad_norm: float = 1.0
    caption_dropout: float = 0.1       # share of captions replaced by "" (classifier-free guidance)
    mixed_precision: str = "no"        # no | bf16 | fp16 (through accelerate)
    gradient_checkpointing: bool = False
    seed: int = 0
    checkpoint_every: int = 500        # full training state for --resume
    keep_checkpoints: int = 2
    sample_every: int = 500            # a PNG grid of the fixed prompts; 0 = only at the end
    sample_steps: int = 25             # denoising steps of the sample grid
    sample_prompts: tuple[str, ...] = DEFAULT_SAMPLE_PROMPTS
    log_every: int = 10
    device: str = "auto"               # auto | cpu | cuda (accelerate launch places each process)

    def resolved(self) -> TuneConfig:
        """Validate before anything is written; messages name the key and the flag."""
        if self.method not in METHODS:
            raise UserError(f"tune.method (--method): unknown {self.method!r}; choose one of: {', '.join(METHODS)}")
        if self.mixed_precision not in PRECISIONS:
            raise UserError(f"tune.mixed_precision (--mixed-precision): unknown {self.mixed_precision!r}; "
                            f"choose one of: {', '.join(PRECISIONS)}")
        check_resolution(self.height, self.width, multiple=1)  # the model's own multiple is checked on load
        for name in ("steps", "batch_size", "checkpoint_every", "keep_checkpoints", "log_every", "lora_rank",
                     "sample_steps"):
            if getattr(self, name) <= 0:
                raise UserError(f"tune.{name} (--{name.replace('_', '-')}) must be positive, got {getattr(self, name)}")
        if not 0.0 <= self.caption_dropout < 1.0:
            raise UserError(f"tune.caption_dropout (--caption-dropout) must be within [0, 1), got {self.caption_dropout}")
        if self.lr <= 0:
            raise UserError(f"tune.lr (--lr) must be positive, got {self.lr}")
        return self


def check_resolution(height: int, width: int, multiple: int = 8) -> None:
    """The VAE divides the image by its scale factor and the UNet halves the latents once per down
    block, so both sides must divide by their product (64 for Stable Diffusion 1.5 / 2.1)."""
    if height <= 0 or width <= 0 or height % multiple or width % multiple:
        raise UserError(f"tune.height x tune.width (--height, --width) = {height}x{width} is not a resolution this "
                        f"model can take: both must be positive multiples of {multiple} (e.g. 512x256 or 384x192)")
