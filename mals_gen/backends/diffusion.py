"""The diffusers backend: any text-to-image pipeline diffusers loads from a hub id or a folder.

One CPU `torch.Generator` per sample seeds its latents, so a sample's image depends on its seed
alone (not on its batch or device). Images leave the pipeline as tensors and are turned into
PIL images on the writer thread's side of the queue, keeping the GPU loop free of CPU work.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

from ..devices import resolve_device, resolve_dtype
from ..errors import UserError
from .base import SampleRequest, SampleResult


def load_pipeline(model: str, torch_dtype, flag: str = "--model"):
    """Load a text-to-image pipeline or fail with one line naming the flags that change it."""
    from diffusers import DiffusionPipeline
    from diffusers.utils import logging as diffusers_logging

    # the hub client's own warnings would bury the one line that matters
    verbosity = diffusers_logging.get_verbosity()
    diffusers_logging.set_verbosity_error()
    bars = diffusers_logging.is_progress_bar_enabled()
    diffusers_logging.disable_progress_bar()  # loading bars would bury it too
    try:
        return DiffusionPipeline.from_pretrained(model, dtype=torch_dtype)
    except (OSError, ValueError):
        where = "no such local folder" if not os.path.isdir(model) else "not a saved diffusers pipeline"
        fix = "" if flag != "--model" else ", or --backend sketch to draw without weights"
        raise UserError(f"cannot load diffusion model {model!r} ({where}, and the hub is not reachable): "
                        f"pass {flag} FOLDER with a saved pipeline{fix}") from None
    finally:
        diffusers_logging.set_verbosity(verbosity)
        if bars:
            diffusers_logging.enable_progress_bar()


def load_adapter(pipe, lora: str) -> None:
    """Load a LoRA folder (`mals tune-diffusion --out`) onto the pipeline, or fail with one line."""
    from ..generate.planning import lora_weights

    weights = lora_weights(lora)
    try:
        pipe.load_lora_weights(str(weights.parent), weight_name=weights.name)
    except (OSError, ValueError, KeyError, RuntimeError) as err:
        raise UserError(f"generate.lora (--lora) {lora}: cannot load it onto {type(pipe).__name__} "
                        f"({str(err).splitlines()[0] if str(err) else type(err).__name__}); was it tuned from "
                        "this --model?") from None


class DiffusionBackend:
    name = "diffusers"

    def __init__(self, model: str, *, steps: int, guidance: float, negative_prompt: str, height: int,
                 width: int, dtype: str = "auto", device: str = "auto", compile: bool = False, pipeline=None,
                 lora: str | None = None):

        self.model = model
        self.device = resolve_device(device)
        torch_dtype = resolve_dtype(dtype, self.device)
        self.pipe = pipeline if pipeline is not None else load_pipeline(model, torch_dtype)
        if lora:
            load_adapter(self.pipe, lora)
            self.model = f"{model}+lora:{lora}"  # the manifest's model column names the adapter too
        self.pipe.to(self.device)
        self.pipe.set_progress_bar_config(disable=True)
        if compile:
            denoiser = getattr(self.pipe, "unet", None) or getattr(self.pipe, "transformer", None)
            if denoiser is not None:
                denoiser.compile()
        self.steps, self.guidance, self.negative_prompt = steps, guidance, negative_prompt
        self.height, self.width = height, width

    def generate(self, batch: Sequence[SampleRequest]) -> list[SampleResult]:
        import torch

        generators = [torch.Generator("cpu").manual_seed(req.seed) for req in batch]
        kwargs = {"prompt": [req.prompt for req in batch], "num_inference_steps": self.steps,
                  "guidance_scale": self.guidance, "height": self.height, "width": self.width,
                  "generator": generators, "output_type": "pt"}
        if self.negative_prompt and self.guidance > 1.0:
            kwargs["negative_prompt"] = [self.negative_prompt] * len(batch)
        with torch.inference_mode():
            out = self.pipe(**kwargs)
        flagged = getattr(out, "nsfw_content_detected", None) or [False] * len(batch)
        images = out.images  # (B, 3, H, W) in [0, 1] on the device
        return [SampleResult(None, "safety checker blanked the image") if flag else SampleResult(TensorImage(img))
                for img, flag in zip(images, flagged)]


class TensorImage:
    """A (3, H, W) tensor in [0, 1] that becomes a PIL image only when the writer asks for it."""

    def __init__(self, tensor):
        self.tensor = tensor.detach()
        self.height, self.width = int(tensor.shape[-2]), int(tensor.shape[-1])

    def convert(self, mode: str):
        from PIL import Image

        array = (self.tensor.float().clamp(0, 1) * 255).round().to("cpu").byte().permute(1, 2, 0).numpy()
        return Image.fromarray(array).convert(mode)
