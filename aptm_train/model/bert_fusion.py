"""BERT text encoder + bidirectional fusion encoder + MLM head, with the original's parameter names.

Why our own module: transformers' `BertModel` adds cross-attention only as a *causal* decoder,
while APTM's fusion layers attend bidirectionally over the caption and cross-attend to the image
tokens. Names follow `BertForMaskedLM` (`bert.embeddings.*`, `bert.encoder.layer.{i}.*`,
`cls.predictions.*`), so bert-base-uncased and all-MiniLM-L6-v2 weights load by name and layers
`i >= fusion_layer` gain a `crossattention` block (query from text, key/value from the image).
Layer order: self-attention -> cross-attention (fusion layers only) -> FFN. The MLM decoder
weight is tied to the word embeddings.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .attention import attend
from .config import TextConfig


class Embeddings(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(cfg.vocab_size, cfg.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(cfg.max_position_embeddings, cfg.hidden_size)
        self.token_type_embeddings = nn.Embedding(cfg.type_vocab_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)     # (L,)
        x = self.word_embeddings(input_ids) + self.position_embeddings(pos)[None]
        x = x + self.token_type_embeddings.weight[0]                        # single segment: type 0
        return self.dropout(self.LayerNorm(x))                              # (B, L, D)


class SelfOrCrossAttention(nn.Module):
    """`attention.self` of BERT: query from x, key/value from `memory` (x itself for self-attention)."""

    def __init__(self, cfg: TextConfig, memory_width: int) -> None:
        super().__init__()
        self.heads = cfg.num_heads
        self.p = cfg.dropout
        self.query = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.key = nn.Linear(memory_width, cfg.hidden_size)
        self.value = nn.Linear(memory_width, cfg.hidden_size)

    def forward(self, x: torch.Tensor, memory: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
        b, lq, d = x.shape
        q = self.query(x).view(b, lq, self.heads, -1).transpose(1, 2)       # (B, h, Lq, d/h)
        k = self.key(memory).view(b, memory.shape[1], self.heads, -1).transpose(1, 2)
        v = self.value(memory).view(b, memory.shape[1], self.heads, -1).transpose(1, 2)
        out = attend(q, k, v, bias, dropout_p=self.p if self.training else 0.0)
        return out.transpose(1, 2).reshape(b, lq, d)                        # (B, Lq, D)


class AttentionOutput(nn.Module):
    """dense -> dropout -> LayerNorm(residual + .), BERT's `output` sub-block."""

    def __init__(self, cfg: TextConfig, inner: int) -> None:
        super().__init__()
        self.dense = nn.Linear(inner, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, h: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(residual + self.dropout(self.dense(h)))


class Attention(nn.Module):
    def __init__(self, cfg: TextConfig, memory_width: int) -> None:
        super().__init__()
        self.self = SelfOrCrossAttention(cfg, memory_width)
        self.output = AttentionOutput(cfg, cfg.hidden_size)

    def forward(self, x, memory, bias):
        return self.output(self.self(x, memory, bias), x)


class Intermediate(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.intermediate_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.dense(x))


class BertLayer(nn.Module):
    def __init__(self, cfg: TextConfig, cross_width: int | None) -> None:
        super().__init__()
        self.attention = Attention(cfg, cfg.hidden_size)
        self.crossattention = Attention(cfg, cross_width) if cross_width else None
        self.intermediate = Intermediate(cfg)
        self.output = AttentionOutput(cfg, cfg.intermediate_size)

    def forward(self, x, self_bias, image=None):
        x = self.attention(x, x, self_bias)
        if self.crossattention is not None:
            x = self.crossattention(x, image, None)     # every image token is valid: no mask
        return self.output(self.intermediate(x), x)


class Encoder(nn.Module):
    def __init__(self, cfg: TextConfig, image_width: int) -> None:
        super().__init__()
        self.layer = nn.ModuleList(
            BertLayer(cfg, image_width if i >= cfg.fusion_layer else None) for i in range(cfg.num_layers))


class BertBody(nn.Module):
    def __init__(self, cfg: TextConfig, image_width: int) -> None:
        super().__init__()
        self.embeddings = Embeddings(cfg)
        self.encoder = Encoder(cfg, image_width)


class PredictionTransform(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.dense = nn.Linear(cfg.hidden_size, cfg.hidden_size)
        self.LayerNorm = nn.LayerNorm(cfg.hidden_size, eps=cfg.layer_norm_eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(F.gelu(self.dense(x)))


class Predictions(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.transform = PredictionTransform(cfg)
        self.decoder = nn.Linear(cfg.hidden_size, cfg.vocab_size)
        self.bias = self.decoder.bias           # the original's alias: cls.predictions.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(x))                              # (B, L, vocab)


class MLMHead(nn.Module):
    def __init__(self, cfg: TextConfig) -> None:
        super().__init__()
        self.predictions = Predictions(cfg)


def padding_mask(attention_mask: torch.Tensor) -> torch.Tensor:
    """(B, L) 1/0 -> (B, 1, 1, L) bool, True = may attend: padding is hidden, nothing is causal.

    A boolean mask (not an additive float one) stays exact under bf16/fp16 autocast."""
    return attention_mask[:, None, None, :].bool()


class BertTextFusion(nn.Module):
    """`text_encoder` of APTM: `bert` (embeddings + all layers) and `cls` (MLM head)."""

    def __init__(self, cfg: TextConfig, image_width: int) -> None:
        super().__init__()
        self.cfg = cfg
        self.bert = BertBody(cfg, image_width)
        self.cls = MLMHead(cfg)
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight  # tied
        self.apply(_init_weights)

    def encode_text(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.bert.embeddings(input_ids)                                 # (B, L, D)
        bias = padding_mask(attention_mask)
        for layer in self.bert.encoder.layer[:self.cfg.fusion_layer]:
            x = layer(x, bias)
        return x

    def fuse(self, x: torch.Tensor, attention_mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        bias = padding_mask(attention_mask)
        for layer in self.bert.encoder.layer[self.cfg.fusion_layer:]:
            x = layer(x, bias, image)
        return x                                                            # (B, L, D)


def _init_weights(m: nn.Module) -> None:
    # BERT's init: normal(0.02) weights, zero biases, unit LayerNorm.
    if isinstance(m, (nn.Linear, nn.Embedding)):
        nn.init.normal_(m.weight, std=0.02)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)
        if isinstance(m, nn.Embedding) and m.padding_idx is not None:
            nn.init.zeros_(m.weight[m.padding_idx])
    elif isinstance(m, nn.LayerNorm):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)
