"""Diffusion presets: the model and the settings it was made for.

`sd-turbo` is the default: a distilled Stable Diffusion (2.1-sized) meant for 1-4 steps without
classifier-free guidance. `mals-faithful` is what MALS used: Stable Diffusion 1.5 with guidance.
Reference throughputs are rough published figures for the dry-run's time estimate only; replace
them with what `scripts/bench_gpu.py` measures on your cards. A preset may name a `lora`: a folder
of `mals tune-diffusion` loaded onto its model (`sda-style`: SD 1.5 tuned on person data).
"""
from __future__ import annotations

DIFFUSION_PRESETS: dict[str, dict] = {
    "sd-turbo": {
        "model": "stabilityai/sd-turbo",
        "steps": 1,
        "guidance": 0.0,
        "negative_prompt": "",
        "height": 512,
        "width": 256,
        # 1 step at 512x256 in bf16 with batching on one H100; SDXL-Turbo with TensorRT takes
        # 83.8 ms for a 512x512 image there, SD-Turbo is smaller and our frames have half the pixels.
        "reference_images_per_second": 25.0,
    },
    "mals-faithful": {
        "model": "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "steps": 25,
        "guidance": 7.5,
        "negative_prompt": "cropped, out of frame, several people, blurry, deformed, bad anatomy, text",
        "height": 512,
        "width": 256,
        # SD-1.5 at 50 steps runs at about 1.5 images/s on an A100 at 512x512: half the steps and
        # half the pixels on an H100 give very roughly 8 images/s.
        "reference_images_per_second": 8.0,
    },
    "sda-style": {
        # SD 1.5 with a LoRA tuned on real pedestrians (`mals tune-diffusion`, pipelines/sda-style.yaml)
        "model": "stable-diffusion-v1-5/stable-diffusion-v1-5",
        "lora": "models/sda-cuhk",
        "steps": 25,
        "guidance": 7.5,
        "negative_prompt": "cropped, out of frame, several people, blurry, deformed, bad anatomy, text",
        "height": 512,
        "width": 256,
        "reference_images_per_second": 8.0,  # as mals-faithful: a LoRA adds little to each step
    },
}

SKETCH_DEFAULT_SIZE = (256, 128)  # height, width
