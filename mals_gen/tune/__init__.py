"""`mals tune-diffusion` and `mals fid`: fine-tune a diffusers text-to-image pipeline on person shards, measure it.

config (TuneConfig), data (shards -> padded person-aspect images + captions, a pure function of
the step), model (base pipeline, LoRA / full UNet, the denoising loss), loop (the accelerate
training loop), checkpoint (full state for --resume), output (adapter folder, card, sample
grids, logs), fid (FID / KID against a reference shard folder).
"""
