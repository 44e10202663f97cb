"""ITM with hard negatives: for each text one negative image, for each image one negative text.

Negatives are drawn (no grad, per process) from softmax(hardness * similarity) with every same-id
entry zeroed (hardness 1 is APTM's; 0 draws uniformly, easier negatives for a fusion encoder that
starts from scratch), so a negative never shares the positive's identity. A sample whose batch holds no other
identity has no negative; its negative pair is ignored (label -100) instead of failing.
"""
from __future__ import annotations

import torch

from .common import IGNORE, safe_cross_entropy


@torch.no_grad()
def sample_negatives(sim: torch.Tensor, person_ids: torch.Tensor,
                     generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """sim (B, C) rows = anchors. -> (index (B,) of a negative column, valid (B,) bool)."""
    weights = torch.softmax(sim.float(), 1) + 1e-5                         # (B, C)
    same = person_ids[:, None] == person_ids[None, :]                      # (B, C)
    weights = weights.masked_fill(same, 0.0).cpu()
    valid = weights.sum(1) > 0                                             # (B,)
    weights[~valid] = 1.0                                                  # placeholder, ignored later
    index = torch.multinomial(weights, 1, generator=generator).squeeze(1)  # (B,)
    return index.to(sim.device), valid.to(sim.device)


def itm_loss(model, image_tokens: torch.Tensor, text_tokens: torch.Tensor, attention_mask: torch.Tensor,
             image_feat: torch.Tensor, text_feat: torch.Tensor, person_ids: torch.Tensor | None = None,
             *, generator: torch.Generator | None = None, label_smoothing: float = 0.0,
             logit_scale: torch.Tensor | None = None, hardness: float = 1.0) -> torch.Tensor:
    """2-way CE over B positives + B (text, hard negative image) + B (image, hard negative text).

    logit_scale: the scale of the similarities negatives are drawn from (default model.logit_scale());
    hardness multiplies it (0: uniform negatives).
    """
    b = image_tokens.shape[0]
    if person_ids is None:
        person_ids = torch.arange(b, device=image_tokens.device)
    with torch.no_grad():
        scale = model.logit_scale() if logit_scale is None else logit_scale
        sim = hardness * scale * image_feat.float() @ text_feat.float().T   # (B, B) image x text
    neg_image, ok_image = sample_negatives(sim.T, person_ids, generator)   # per text
    neg_text, ok_text = sample_negatives(sim, person_ids, generator)       # per image
    text_all = torch.cat([text_tokens, text_tokens, text_tokens[neg_text]])  # (3B, L, Dt)
    mask_all = torch.cat([attention_mask, attention_mask, attention_mask[neg_text]])
    image_all = torch.cat([image_tokens, image_tokens[neg_image], image_tokens])  # (3B, 49, Dv)
    logits = model.itm_logits(text_all, mask_all, image_all)               # (3B, 2)
    ones = torch.ones(b, dtype=torch.long, device=logits.device)
    labels = torch.cat([ones,
                        torch.where(ok_image, 0, IGNORE) * ones,
                        torch.where(ok_text, 0, IGNORE) * ones])           # (3B,)
    return safe_cross_entropy(logits, labels, label_smoothing)
