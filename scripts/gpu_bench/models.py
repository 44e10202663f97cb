"""Full-size and tiny architectures, built from their configs with random weights (no hub).

Full sizes (the published checkpoints' configs):
* SD-Turbo = Stable Diffusion 2.1 UNet (320-640-1280-1280, 2 layers per block, head dims
  5-10-20-20, cross-attention 1024, linear projections) + the SD VAE (128-256-512-512) + an
  OpenCLIP-H text tower (1024 wide, 23 layers, 16 heads, gelu); EulerAncestral, "trailing" steps.
* SD-1.5 = the same UNet blocks with 8-dim heads, cross-attention 768, conv projections, and the
  CLIP ViT-L/14 text tower (768 wide, 12 layers, 12 heads, quick_gelu); PNDM (the checkpoint's
  own scheduler, PLMS steps; DPM-Solver would be faster at equal quality, not what MALS ran).
* BLIP-large captioner: ViT-L/16 at 384 (1024 wide, 24 layers, 16 heads) + a bert-base-sized
  decoder (768 wide, 12 layers, vocab 30,524).
* CLIP score: open_clip's built-in ViT-B-32 config. APTM: the named configs of aptm_train.
Tiny sizes keep every class and block type, with a few channels. Models are created under a
`torch.device` context, so a full-size one is initialised directly on the GPU.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

_SD_BLOCKS = {
    "full": {
        "block_out_channels": (320, 640, 1280, 1280),
        "layers_per_block": 2,
        "sample_size": 64,
        "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        "up_block_types": ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
    },
    "tiny": {
        "block_out_channels": (8, 16),
        "layers_per_block": 1,
        "sample_size": 8,
        "norm_num_groups": 4,
        "down_block_types": ("CrossAttnDownBlock2D", "DownBlock2D"),
        "up_block_types": ("UpBlock2D", "CrossAttnUpBlock2D"),
    },
}
_SD_ATTENTION = {
    ("turbo", "full"): {
        "attention_head_dim": (5, 10, 20, 20),
        "cross_attention_dim": 1024,
        "use_linear_projection": True,
    },
    ("sd15", "full"): {"attention_head_dim": 8, "cross_attention_dim": 768, "use_linear_projection": False},
    ("turbo", "tiny"): {
        "attention_head_dim": (2, 4),
        "cross_attention_dim": 16,
        "use_linear_projection": True,
    },
    ("sd15", "tiny"): {"attention_head_dim": 2, "cross_attention_dim": 16, "use_linear_projection": False},
}
_VAE = {
    "full": {
        "block_out_channels": (128, 256, 512, 512),
        "layers_per_block": 2,
        "sample_size": 512,
        "down_block_types": ("DownEncoderBlock2D",) * 4,
        "up_block_types": ("UpDecoderBlock2D",) * 4,
    },
    "tiny": {
        "block_out_channels": (8, 8),
        "layers_per_block": 1,
        "sample_size": 32,
        "norm_num_groups": 4,
        "down_block_types": ("DownEncoderBlock2D",) * 2,
        "up_block_types": ("UpDecoderBlock2D",) * 2,
    },
}
_TINY_TEXT = {
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_hidden_layers": 2,
    "num_attention_heads": 2,
    "projection_dim": 16,
}
_TEXT = {
    ("turbo", "full"): {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 23,
        "num_attention_heads": 16,
        "hidden_act": "gelu",
        "projection_dim": 1024,
    },
    ("sd15", "full"): {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "hidden_act": "quick_gelu",
        "projection_dim": 768,
    },
    ("turbo", "tiny"): {**_TINY_TEXT, "hidden_act": "gelu"},
    ("sd15", "tiny"): {**_TINY_TEXT, "hidden_act": "quick_gelu"},
}


def sd_pipeline(kind: str, size: str, device, dtype, workdir: Path):
    """A StableDiffusionPipeline of `kind` "turbo" (SD-2.1 / SD-Turbo) or "sd15", random weights."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        PNDMScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from mals_gen.testing import write_tiny_clip_tokenizer

    # any CLIPTokenizer will do: the pipeline pads every prompt to 77 tokens
    tokenizer = CLIPTokenizer.from_pretrained(write_tiny_clip_tokenizer(workdir / "clip_tokenizer"))
    torch.manual_seed(0)
    with torch.device(device):
        unet = UNet2DConditionModel(
            in_channels=4, out_channels=4, **_SD_BLOCKS[size], **_SD_ATTENTION[kind, size]
        )
        vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, **_VAE[size])
        text = CLIPTextModel(
            CLIPTextConfig(
                vocab_size=49408,
                max_position_embeddings=77,
                bos_token_id=0,
                eos_token_id=1,
                pad_token_id=1,
                **_TEXT[kind, size],
            )
        )
    betas = {"beta_start": 0.00085, "beta_end": 0.012, "beta_schedule": "scaled_linear", "steps_offset": 1}
    if kind == "turbo":
        scheduler = EulerAncestralDiscreteScheduler(timestep_spacing="trailing", **betas)
    else:
        scheduler = PNDMScheduler(skip_prk_steps=True, set_alpha_to_one=False, **betas)
    pipe = StableDiffusionPipeline(
        vae=vae,
        text_encoder=text,
        tokenizer=tokenizer,
        unet=unet,
        scheduler=scheduler,
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device=device, dtype=dtype)


_BLIP = {
    "full": {
        "vision": {
            "hidden_size": 1024,
            "intermediate_size": 4096,
            "num_hidden_layers": 24,
            "num_attention_heads": 16,
            "image_size": 384,
            "patch_size": 16,
        },
        "text": {
            "hidden_size": 768,
            "intermediate_size": 3072,
            "num_hidden_layers": 12,
            "num_attention_heads": 12,
        },
    },
    "tiny": {
        "vision": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 16,
        },
        "text": {
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
        },
    },
}


def blip(size: str, device, dtype, vocab: Path):
    """(BlipForConditionalGeneration, BlipProcessor): BLIP-large-sized or tiny, random weights."""
    import torch
    from transformers import (
        BertTokenizerFast,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    spec = _BLIP[size]
    image = spec["vision"]["image_size"]
    # positional vocab file: transformers 5.x ignores some tokenizers' vocab_file= keyword
    tokenizer = BertTokenizerFast(str(vocab), do_lower_case=True)
    tokenizer.add_special_tokens({"bos_token": "[DEC]", "additional_special_tokens": ["[ENC]"]})  # 30,524
    processor = BlipProcessor(BlipImageProcessor(size={"height": image, "width": image}), tokenizer)
    config = BlipConfig(
        vision_config=spec["vision"], text_config=dict(vocab_size=len(tokenizer), **spec["text"])
    )
    torch.manual_seed(0)
    with torch.device(device):
        model = BlipForConditionalGeneration(config)
    return model.to(device=device, dtype=dtype).eval(), processor


def clip_model_name(size: str, workdir: Path) -> str:
    """open_clip's ViT-B-32, or a tiny config file that ClipScorer registers by its path."""
    if size == "full":
        return "ViT-B-32"
    path = workdir / "tiny-clip.json"
    path.write_text(
        json.dumps(
            {
                "embed_dim": 16,
                "vision_cfg": {
                    "image_size": 224,
                    "layers": 2,
                    "width": 32,
                    "patch_size": 32,
                    "head_width": 16,
                },
                "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2},
            }
        )
    )
    return str(path)


def aptm_config(name: str, vocab: Path):
    """A named APTM config with random init and the bench vocab as its tokenizer."""
    from aptm_train.model.config import named_config

    cfg = named_config(name, pretrained_vision=None, pretrained_text=None)
    return dataclasses.replace(cfg, text=dataclasses.replace(cfg.text, tokenizer=str(vocab)))


def aptm(cfg, device):
    import torch

    from aptm_train.model.aptm import APTM

    torch.manual_seed(0)
    with torch.device(device):
        model = APTM.from_config(cfg)
    return model.to(device)
