"""The model side of tuning: load the base pipeline, attach LoRA (or free the UNet), the denoising loss.

`denoising_loss` is the one loss of this package: the training loop minimises it and the tests
(and anyone comparing a tuned model with its base) evaluate it on fixed noise.
"""
from __future__ import annotations

import torch

from ..backends.diffusion import load_pipeline
from ..errors import UserError
from .config import TuneConfig, check_resolution

LORA_TARGETS = ("to_q", "to_k", "to_v", "to_out.0")  # the UNet's attention projections


def load_base(cfg: TuneConfig, pipeline=None):
    """The base pipeline (float32 master weights) with a UNet, a VAE and a text encoder, checked."""
    pipe = pipeline if pipeline is not None else load_pipeline(cfg.base, torch.float32, flag="--base")
    missing = [name for name in ("unet", "vae", "text_encoder", "tokenizer") if getattr(pipe, name, None) is None]
    if missing:
        raise UserError(f"--base {cfg.base}: {type(pipe).__name__} has no {', '.join(missing)}; tune-diffusion "
                        "fine-tunes UNet pipelines such as Stable Diffusion 1.5 / 2.1")
    check_resolution(cfg.height, cfg.width, latent_multiple(pipe))
    pipe.set_progress_bar_config(disable=True)
    return pipe


def latent_multiple(pipe) -> int:
    """Image sides must divide by this: the VAE's scale factor times the UNet's total downsampling."""
    return int(pipe.vae_scale_factor) * 2 ** (len(pipe.unet.config.block_out_channels) - 1)


def prepare_trainable(pipe, cfg: TuneConfig) -> list[torch.nn.Parameter]:
    """Freeze what is not tuned; return the parameters the optimiser updates."""
    pipe.vae.requires_grad_(False)
    pipe.text_encoder.requires_grad_(False)
    unet = pipe.unet
    if cfg.method == "lora":
        from peft import LoraConfig

        unet.requires_grad_(False)
        unet.add_adapter(LoraConfig(r=cfg.lora_rank, lora_alpha=cfg.lora_alpha, init_lora_weights="gaussian",
                                    target_modules=list(LORA_TARGETS)))
    else:
        unet.requires_grad_(True)
    if cfg.gradient_checkpointing:
        unet.enable_gradient_checkpointing()
    return [p for p in unet.parameters() if p.requires_grad]


def encode_captions(pipe, captions: list[str], device) -> torch.Tensor:
    tok = pipe.tokenizer(captions, padding="max_length", truncation=True, max_length=pipe.tokenizer.model_max_length,
                         return_tensors="pt")
    with torch.no_grad():
        return pipe.text_encoder(tok.input_ids.to(device))[0]


def to_pixels(images, device, dtype) -> torch.Tensor:
    """(n, H, W, 3) uint8 -> (n, 3, H, W) in [-1, 1]."""
    tensor = torch.from_numpy(images).to(device).permute(0, 3, 1, 2).to(dtype)
    return tensor / 127.5 - 1.0


def denoising_loss(pipe, unet, scheduler, images, captions: list[str], generator: torch.Generator,
                   dtype=torch.float32) -> torch.Tensor:
    """The diffusion training loss of one batch: MSE between the UNet's prediction and its target.

    Latents, noise and timesteps are drawn from `generator` (CPU), so the loss of a batch is a
    function of the weights and the generator's seed alone."""
    device = next(unet.parameters()).device
    with torch.no_grad():
        pixels = to_pixels(images, device, pipe.vae.dtype)
        latents = pipe.vae.encode(pixels).latent_dist.sample(generator=generator) * pipe.vae.config.scaling_factor
        latents = latents.to(dtype)
        hidden = encode_captions(pipe, captions, device).to(dtype)
    noise = torch.randn(latents.shape, generator=generator).to(device, dtype)
    steps = torch.randint(0, scheduler.config.num_train_timesteps, (latents.shape[0],), generator=generator).to(device)
    noisy = scheduler.add_noise(latents, noise, steps)
    prediction_type = scheduler.config.prediction_type
    target = scheduler.get_velocity(latents, noise, steps) if prediction_type == "v_prediction" else noise
    prediction = unet(noisy, steps, hidden).sample
    return torch.nn.functional.mse_loss(prediction.float(), target.float())


def training_scheduler(pipe):
    from diffusers import DDPMScheduler

    return DDPMScheduler.from_config(pipe.scheduler.config)


def step_generator(seed: int, step: int, rank: int) -> torch.Generator:
    """The noise of (step, rank): resumed runs draw the same noise as uninterrupted ones."""
    return torch.Generator("cpu").manual_seed((seed * 1_000_003 + step) * 1009 + rank)
