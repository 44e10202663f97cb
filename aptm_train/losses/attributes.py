"""The attribute stream: IAC, IAM and MAM over prompt pairs (attribute a = prompts 2a, 2a+1).

`attrs` is (B, A) long with label v in {0, 1} selecting prompt 2a+v, and -1 = unknown (ignored
everywhere). Prompt features/tokens are the text encoder's output for the 2A prompts, recomputed
every step so the gradient reaches the text encoder.

`reduction` of IAC and IAM: "pairs" (ours) averages over every known (image, attribute) or
(image, prompt) pair, so a rarely labelled attribute weighs in proportion to its labels;
"per-attribute" (the original code) averages each attribute (IAC) or drawn prompt (IAM) over its
known images first, then averages those means, so every attribute weighs the same.
"""
from __future__ import annotations

import torch

from .common import IGNORE, grouped_cross_entropy, safe_cross_entropy

REDUCTIONS = ("pairs", "per-attribute")


def iac_loss(image_feat: torch.Tensor, prompt_feat: torch.Tensor, logit_scale: torch.Tensor,
             attrs: torch.Tensor, *, label_smoothing: float = 0.0, reduction: str = "pairs") -> torch.Tensor:
    """Per attribute a 2-way CE of image-vs-prompt-pair similarities, reduced as `reduction` says."""
    b, a = attrs.shape
    logits = logit_scale * image_feat.float() @ prompt_feat.float().T      # (B, 2A)
    logits = logits.view(b, a, 2)                                          # (B, A, 2)
    labels = torch.where(attrs < 0, IGNORE, attrs)                         # (B, A)
    groups = torch.arange(a, device=attrs.device).repeat(b)                # (B*A,) attribute of each
    return _reduce(logits.reshape(b * a, 2), labels.reshape(-1), groups, label_smoothing, reduction)


def _reduce(logits, labels, groups, label_smoothing: float, reduction: str) -> torch.Tensor:
    if reduction == "pairs":
        return safe_cross_entropy(logits, labels, label_smoothing)
    if reduction == "per-attribute":
        return grouped_cross_entropy(logits, labels, groups, label_smoothing)
    raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def choose_prompts(num_prompts: int, k: int, generator: torch.Generator | None) -> torch.Tensor:
    """k distinct prompt indices out of num_prompts, uniformly at random."""
    return torch.randperm(num_prompts, generator=generator)[:k]


def iam_loss(model, image_tokens: torch.Tensor, prompt_tokens: torch.Tensor, prompt_mask: torch.Tensor,
             attrs: torch.Tensor, prompts: torch.Tensor, *, label_smoothing: float = 0.0,
             reduction: str = "pairs") -> torch.Tensor:
    """Each chosen prompt x every image through fusion + the shared ITM head; match iff the label selects it.

    prompts: (K,) indices into the 2A prompts (see `choose_prompts`; 5 in the paper).
    """
    b, k = image_tokens.shape[0], prompts.shape[0]
    prompts = prompts.to(image_tokens.device)
    text = prompt_tokens[prompts].repeat_interleave(b, 0)                  # (K*B, Lp, Dt), prompt-major
    mask = prompt_mask[prompts].repeat_interleave(b, 0)
    images = image_tokens.repeat(k, 1, 1)                                  # (K*B, 49, Dv)
    logits = model.itm_logits(text, mask, images)                          # (K*B, 2)
    label = attrs[:, prompts // 2].T                                       # (K, B)
    match = (label == (prompts % 2)[:, None]).long()                       # (K, B)
    labels = torch.where(label < 0, IGNORE, match).reshape(-1)             # (K*B,)
    groups = torch.arange(k, device=labels.device).repeat_interleave(b)    # (K*B,) drawn prompt of each
    return _reduce(logits, labels, groups, label_smoothing, reduction)


def choose_images(attrs: torch.Tensor, generator: torch.Generator | None
                  ) -> tuple[torch.Tensor, torch.Tensor]:
    """For each prompt p, one random image whose label selects it. -> (image (2A,), has_one (2A,) bool)."""
    b, a = attrs.shape
    true = torch.stack([attrs == 0, attrs == 1], 2).reshape(b, 2 * a).T.cpu()  # (2A, B)
    has = true.any(1)
    weights = true.float()
    weights[~has] = 1.0
    image = torch.multinomial(weights, 1, generator=generator).squeeze(1)
    return image.to(attrs.device), has.to(attrs.device)


def mam_loss(model, image_tokens: torch.Tensor, prompt_mlm_ids: torch.Tensor, prompt_mask: torch.Tensor,
             prompt_mlm_labels: torch.Tensor, image: torch.Tensor, has_image: torch.Tensor) -> torch.Tensor:
    """Masked prompts (2A, Lp), each with one image for which it is true (`choose_images`); MLM CE."""
    keep = has_image.nonzero().squeeze(1)                                  # prompts with a true image
    if keep.numel() == 0:
        return image_tokens.sum() * 0.0
    hidden = model.mlm_hidden(prompt_mlm_ids[keep], prompt_mask[keep], image_tokens[image[keep]])
    labels = prompt_mlm_labels[keep]                                       # (P', Lp)
    where = labels != IGNORE
    if not bool(where.any()):
        return hidden.sum() * 0.0
    return safe_cross_entropy(model.mlm_head(hidden[where]), labels[where])
