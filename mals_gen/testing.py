"""Tiny random models for tests and benchmarks (like diffusers' test suite builds them).

Nothing here is used by the product's code paths; it builds real model classes with tiny sizes
so tests exercise the same loading and calling code as full-size runs.
"""
from __future__ import annotations

import json
import string
from pathlib import Path


def write_tiny_clip_tokenizer(folder: str | Path) -> Path:
    """A real CLIPTokenizer over a character-level BPE vocabulary (no merges), saved to `folder`."""
    from transformers import CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    symbols = list(string.ascii_lowercase + string.digits + ".,'-!?")
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for sym in symbols:
        vocab[sym] = len(vocab)
        vocab[sym + "</w>"] = len(vocab)
    (folder / "vocab.json").write_text(json.dumps(vocab))
    (folder / "merges.txt").write_text("#version: 0.2\n")
    # positional arguments: transformers 5.x silently ignores vocab_file=
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_sd_pipeline(seed: int = 0):
    """A StableDiffusionPipeline with a ~100k-parameter UNet, VAE and CLIP text encoder."""
    import tempfile

    import torch
    from diffusers import (
        AutoencoderKL,
        EulerAncestralDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), cross_attention_dim=16, norm_num_groups=4,
        attention_head_dim=2)
    vae = AutoencoderKL(block_out_channels=(8, 8), in_channels=3, out_channels=3, latent_channels=4,
                        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
                        norm_num_groups=4, sample_size=32)
    with tempfile.TemporaryDirectory() as tmp:
        tokenizer = CLIPTokenizer.from_pretrained(write_tiny_clip_tokenizer(tmp))
    text_encoder = CLIPTextModel(CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=2,
        num_attention_heads=2, max_position_embeddings=77, bos_token_id=0, eos_token_id=1, pad_token_id=1))
    scheduler = EulerAncestralDiscreteScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                                                timestep_spacing="trailing", steps_offset=1)
    return StableDiffusionPipeline(vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)


def save_tiny_sd_pipeline(folder: str | Path, seed: int = 0) -> Path:
    folder = Path(folder)
    build_tiny_sd_pipeline(seed).save_pretrained(folder)
    return folder


def save_tiny_vitpose(folder: str | Path, seed: int = 0) -> Path:
    """A VitPoseForPoseEstimation (one 32-wide layer, 64x48 input, 17 keypoints) and its processor."""
    import torch
    from transformers import (
        VitPoseBackboneConfig,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessor,
    )

    folder = Path(folder)
    backbone = VitPoseBackboneConfig(image_size=[64, 48], patch_size=[16, 16], hidden_size=32, num_hidden_layers=1,
                                     num_attention_heads=2, mlp_ratio=2, out_indices=[1])
    torch.manual_seed(seed)
    VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone, num_labels=17)).save_pretrained(folder)
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(folder)
    return folder


def save_tiny_causal_lm(folder: str | Path, words: list[str], seed: int = 0, chat: bool = True) -> Path:
    """A ~30k-parameter LlamaForCausalLM with a word-level tokenizer over `words` (+ a chat template)."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    folder = Path(folder)
    vocab = {w: i for i, w in enumerate(dict.fromkeys(["<pad>", "<unk>", "<s>", "</s>", *words]))}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>")
    if chat:
        tokenizer.chat_template = ("{% for m in messages %}USER: {{ m['content'] }} {% endfor %}"
                                   "{% if add_generation_prompt %}ASSISTANT:{% endif %}")
    torch.manual_seed(seed)
    model = LlamaForCausalLM(LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=512, bos_token_id=2, eos_token_id=3, pad_token_id=0))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def build_tiny_feature_network(dim: int = 8, seed: int = 0):
    """A random conv net mapping (N, 3, H, W) uint8 images to (N, dim) features: FID plumbing only."""
    import torch

    torch.manual_seed(seed)

    class TinyFeatures(torch.nn.Module):
        num_features = dim

        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, dim, kernel_size=8, stride=8)

        def forward(self, x):
            return self.conv(x.float() / 255.0).mean(dim=(2, 3))

    return TinyFeatures()
