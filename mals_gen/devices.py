"""Which device and dtype a model stage runs on: one rule for every stage that loads a model.

`auto` takes the GPU when one is visible; one process per GPU (`accelerate launch`, torchrun)
takes `cuda:LOCAL_RANK`. bfloat16 on GPUs that have it (float16 elsewhere), float32 on CPU.
"""
from __future__ import annotations

import os

from .errors import UserError

DTYPE_NAMES = ("auto", "float32", "float16", "bfloat16")
_ALIASES = {"fp32": "float32", "fp16": "float16", "bf16": "bfloat16"}


def resolve_device(device: str) -> str:
    import torch

    if device not in ("auto", "cpu", "cuda") and not device.startswith("cuda:"):
        raise UserError(f"unknown device {device!r}; pass --device auto, cpu, cuda or cuda:N")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise UserError(f"--device {device} was asked for but no CUDA GPU is visible; pass --device cpu")
        if device == "cuda":
            device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    return device


def resolve_dtype(dtype: str, device: str):
    import torch

    dtype = _ALIASES.get(dtype, dtype)
    if dtype not in DTYPE_NAMES:
        raise UserError(f"unknown dtype {dtype!r}; choose one of: {', '.join(DTYPE_NAMES)}")
    if dtype == "auto":
        if not device.startswith("cuda"):
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return getattr(torch, dtype)
