"""APTM: Swin image encoder + BERT text encoder + bidirectional fusion encoder, projections and heads.

Built from an `APTMConfig` only. Parameter names follow the released checkpoints (`temp`,
`vision_encoder.*`, `text_encoder.bert.*`, `text_encoder.cls.*`, `vision_proj`, `text_proj`,
`itm_head.{0,1,3}`), so conversion is a near-identity mapping. Losses are plain functions in
`aptm_train.losses`; the model only exposes the encoders and heads they need.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .bert_fusion import BertTextFusion
from .config import APTMConfig
from .swin import SwinEncoder

# ALBEF clamps its temperature to this range before every forward pass; APTM's original code has no
# clamp. Ours is off unless training asks for it (loss.temp_clamp, docs/differences-from-original.md).
TEMP_RANGE = (0.001, 0.5)


class APTM(nn.Module):
    def __init__(self, cfg: APTMConfig) -> None:
        super().__init__()
        self.config = cfg
        hidden, vwidth = cfg.text.hidden_size, cfg.vision.width
        self.temp = nn.Parameter(torch.tensor(cfg.temp))
        self.vision_encoder = SwinEncoder(cfg.vision)
        self.text_encoder = BertTextFusion(cfg.text, vwidth)
        self.vision_proj = nn.Linear(vwidth, cfg.embed_dim)
        self.text_proj = nn.Linear(hidden, cfg.embed_dim)
        self.itm_head = nn.Sequential(
            nn.Linear(hidden, 2 * hidden), nn.LayerNorm(2 * hidden), nn.GELU(), nn.Linear(2 * hidden, 2))
        for m in (self.vision_proj, self.text_proj, self.itm_head[0], self.itm_head[3]):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)

    @classmethod
    def from_config(cls, cfg: APTMConfig) -> APTM:
        return cls(cfg)

    @classmethod
    def from_pretrained(cls, folder, device="cpu") -> APTM:
        """The model of a checkpoint folder in eval mode (`checkpoint.from_pretrained`)."""
        from .checkpoint import from_pretrained

        return from_pretrained(folder, device)

    def forward(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run `fn(self, *args, **kwargs)` inside forward.

        Losses call several encoders, not one forward; routing them through `forward` lets a
        DDP / accelerate wrapper apply its hooks (gradient sync, autocast): `Task` calls
        `model(task.compute, batch)`, which works on a bare or a wrapped model alike.
        """
        return fn(self, *args, **kwargs)

    # -- encoders -------------------------------------------------------------------------------
    def encode_image(self, pixels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, H, W) -> image_tokens (B, 49, Dv), image_feat (B, E) L2-normalised."""
        tokens = self.vision_encoder(pixels)                                # (B, 49, Dv)
        feat = F.normalize(self.vision_proj(tokens[:, 0]), dim=-1)          # (B, E)
        return tokens, feat

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) ids + mask -> text_tokens (B, L, Dt), text_feat (B, E) L2-normalised.

        The feature is the [CLS] token (APTM) or, with `text.pooling == "mean"`, the mean of the
        caption's tokens (padding excluded)."""
        tokens = self.text_encoder.encode_text(input_ids, attention_mask)  # (B, L, Dt)
        pooled = pool(tokens, attention_mask, self.config.text.pooling)    # (B, Dt)
        feat = F.normalize(self.text_proj(pooled), dim=-1)                 # (B, E)
        return tokens, feat

    def fuse(self, text_tokens: torch.Tensor, attention_mask: torch.Tensor,
             image_tokens: torch.Tensor) -> torch.Tensor:
        """Fusion-encoder hidden states (B, L, Dt): text attends to itself and to the image tokens."""
        return self.text_encoder.fuse(text_tokens, attention_mask, image_tokens)

    # -- heads ----------------------------------------------------------------------------------
    def itm_logits(self, text_tokens: torch.Tensor, attention_mask: torch.Tensor,
                   image_tokens: torch.Tensor) -> torch.Tensor:
        """(B, 2) match logits from the fusion output pooled by `text.itm_pooling`; class 1 = "match".

        APTM reads the fusion [CLS]. aptm-mini pools by mean: all-MiniLM-L6-v2's [CLS] enters the
        fusion layers identical for every caption (cosine 1.000), so an ITM head on it starts
        blind to the text (the CPU demo's ITM loss sat at the 1:2 prior through 700 steps)."""
        fused = self.fuse(text_tokens, attention_mask, image_tokens)       # (B, L, Dt)
        return self.itm_head(pool(fused, attention_mask, self.config.text.itm_pooling))  # (B, 2)

    def mlm_hidden(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   image_tokens: torch.Tensor) -> torch.Tensor:
        """(B, L, Dt): (masked) ids through text + fusion layers with the image as memory."""
        text = self.text_encoder.encode_text(input_ids, attention_mask)    # (B, L, Dt)
        return self.fuse(text, attention_mask, image_tokens)

    def mlm_head(self, hidden: torch.Tensor) -> torch.Tensor:
        """(..., Dt) -> (..., vocab); the loss applies it to masked positions only (saves memory)."""
        return self.text_encoder.cls.predictions(hidden)

    def mlm_logits(self, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                   image_tokens: torch.Tensor) -> torch.Tensor:
        """(B, L, vocab): MLM logits at every position."""
        return self.mlm_head(self.mlm_hidden(input_ids, attention_mask, image_tokens))

    def logit_scale(self, clamp: tuple[float, float] | None = None) -> torch.Tensor:
        """1 / temp; with `clamp` (e.g. TEMP_RANGE) temp is clamped first (gradient flows inside the range)."""
        return 1.0 / (self.temp if clamp is None else self.temp.clamp(*clamp))


def pool(tokens: torch.Tensor, attention_mask: torch.Tensor, how: str) -> torch.Tensor:
    """(B, L, D) -> (B, D): the [CLS] token ("cls") or the mean of the unpadded tokens ("mean")."""
    if how != "mean":
        return tokens[:, 0]
    weights = attention_mask.unsqueeze(-1).to(tokens.dtype)                # (B, L, 1)
    return (tokens * weights).sum(1) / weights.sum(1).clamp(min=1.0)


def count_parameters(model: nn.Module) -> int:
    """Distinct parameter elements (tied tensors counted once)."""
    return sum(p.numel() for p in model.parameters())
