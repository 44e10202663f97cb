"""Scaled dot-product attention for every attention layer of the model, picked per device.

On CUDA (and other accelerators) it is PyTorch's fused `scaled_dot_product_attention`. On CPU it
is the explicit softmax(q k^T / sqrt(d) + bias) v: for this model's short sequences (text of ~30
tokens, image windows of 49) the fused CPU kernel is slower, most of all in bf16, where forward +
backward of one layer's attention (batch 48, 12 heads of 32, 30 tokens) took 30 ms against 6 ms
on two cores; a whole aptm-mini training step gained 4-7%. Both compute the same function; they
differ by rounding only.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None = None,
           dropout_p: float = 0.0) -> torch.Tensor:
    """(..., Lq, d), (..., Lk, d), (..., Lk, dv) -> (..., Lq, dv). `bias` broadcasts to (..., Lq, Lk):
    a float one is added to the scores, a bool one says where a query may attend (SDPA's rule)."""
    if q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=bias, dropout_p=dropout_p)
    scores = (q * q.shape[-1] ** -0.5) @ k.transpose(-1, -2)             # (..., Lq, Lk)
    if bias is not None and bias.dtype == torch.bool:
        scores = scores.masked_fill(~bias, float("-inf"))
    elif bias is not None:
        scores = scores + bias
    probs = torch.softmax(scores, dim=-1)
    if dropout_p > 0:
        probs = F.dropout(probs, dropout_p)
    return probs.to(v.dtype) @ v
