"""`mals tune-diffusion`: fine-tune a diffusers text-to-image pipeline on person shards (LoRA or full UNet).

config (TuneConfig), data (shards -> padded person-aspect images + captions, a pure function of
the step), loop (the accelerate training loop, checkpoints, resume), output (adapter folder, card,
sample grids, logs).
"""
