"""CLIP score of an image and its caption with open_clip: 100 * cosine(image, text) embeddings.

The model is named like open_clip names it, with its weights given separately:
* a built-in architecture (`ViT-B-32`) plus a pretrained tag (`openai`, fetched from the hub) or a
  local weights file (`/models/vit-b-32.bin`);
* a model config JSON file (`tiny.json`, registered under its stem) plus a local weights file;
* `hf-hub:org/repo`, or a local folder holding `open_clip_config.json` and the weights.
Captions longer than the text tower's context are truncated by the tokenizer (as CLIP itself does).
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import UserError

HOW_TO_SKIP = ("pass --clip-pretrained FILE (a local open_clip weights file), --clip-model FOLDER, "
               "or --clip-model none to skip the CLIP score")


def _resolve_name(model: str) -> str:
    """Register a config JSON file / turn a folder into open_clip's `local-dir:` name."""
    import open_clip

    path = Path(model)
    if model.endswith(".json"):
        if not path.is_file():
            raise UserError(f"open_clip model config {model} does not exist; check --clip-model")
        open_clip.add_model_config(path)
        return path.stem
    if path.is_dir():
        return f"local-dir:{path}"
    return model


class ClipScorer:
    """Loads an open_clip model once; `score(images, captions)` in batches."""

    def __init__(self, model: str, pretrained: str | None, device: str = "cpu", batch_size: int = 32):
        import open_clip
        import torch

        name = _resolve_name(model)
        self.name = f"{model}:{pretrained}" if pretrained else model
        try:
            net, _, preprocess = open_clip.create_model_and_transforms(
                name, pretrained=pretrained or None, device=device)
            self.tokenizer = open_clip.get_tokenizer(name)
        except (RuntimeError, OSError, ValueError) as err:
            raise UserError(f"cannot load CLIP model {self.name!r}: {str(err).splitlines()[0][:200]}; "
                            f"{HOW_TO_SKIP}") from None
        self.model = net.eval()
        self.preprocess = preprocess
        self.device = device
        self.batch_size = batch_size
        self._torch = torch

    def score(self, images: Sequence[Image.Image | np.ndarray], captions: Sequence[str]) -> np.ndarray:
        """(N,) float32 scores = 100 * cos(image embedding, caption embedding)."""
        if len(images) != len(captions):
            raise ValueError(f"{len(images)} images but {len(captions)} captions")
        out = [self._score_batch(images[i:i + self.batch_size], captions[i:i + self.batch_size])
               for i in range(0, len(images), self.batch_size)]
        return np.concatenate(out).astype(np.float32) if out else np.zeros(0, np.float32)

    def _score_batch(self, images, captions) -> np.ndarray:
        torch = self._torch
        pil = [im if isinstance(im, Image.Image) else Image.fromarray(im) for im in images]
        pixels = torch.stack([self.preprocess(im) for im in pil]).to(self.device)   # (B, 3, S, S)
        tokens = self.tokenizer(list(captions)).to(self.device)                    # (B, L)
        with torch.no_grad():
            img = self.model.encode_image(pixels, normalize=True)                  # (B, D)
            txt = self.model.encode_text(tokens, normalize=True)                   # (B, D)
        return (100.0 * (img * txt).sum(dim=-1)).float().cpu().numpy()           # (B,)
