"""Noise-aware masking (NAM, LUPerson-MLLM, Tan et al. CVPR 2024) for machine-written captions.

A machine caption may name things the image does not show. Each caption token is scored by its
best cosine to the image's patch tokens (both projected to the joint space; no gradient); words
are then drawn for MLM masking with probability softmax(-score / temperature) over the caption's
words (a word scores as its lowest piece), so poorly grounded words are masked, and so hidden from
the text the MLM loss sees, more often. The number of masks per caption and the 80/10/10 replacement
are those of ordinary masking (`mlm.py`); only which words are chosen changes. Off by default and
for human captions (`TaskConfig.noise_aware_masking`).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .mlm import MaskingConfig, MaskingVocab, _words, mask_count, replace_chosen

_DEFAULT_MASKING = MaskingConfig()


@torch.no_grad()
def token_image_scores(model, text_tokens: torch.Tensor, image_tokens: torch.Tensor) -> torch.Tensor:
    """(B, L) best cosine of each text token (B, L, Dt) to its own image's patches (B, 1 + P, Dv)."""
    text = F.normalize(model.text_proj(text_tokens), dim=-1)                 # (B, L, E)
    patches = image_tokens[:, 1:] if image_tokens.shape[1] > 1 else image_tokens
    vision = F.normalize(model.vision_proj(patches), dim=-1)                 # (B, P, E)
    return torch.einsum("ble,bpe->blp", text, vision).amax(-1).float()       # (B, L)


def _draw_words(words: list[list[int]], scores: list[float], n_target: int, temperature: float,
                generator: torch.Generator) -> list[int]:
    """Whole words, drawn without replacement by softmax(-word score / T), up to n_target pieces."""
    word_scores = torch.tensor([min(scores[p] for p in w) for w in words])
    weights = torch.softmax(-word_scores / temperature, dim=0)
    order = torch.multinomial(weights, len(words), replacement=False, generator=generator).tolist()
    taken: list[int] = []
    for w in order:
        if len(taken) + len(words[w]) <= n_target:
            taken += words[w]
        if len(taken) == n_target:
            break
    return sorted(taken)


def noise_aware_mask(input_ids: torch.Tensor, attention_mask: torch.Tensor, scores: torch.Tensor,
                     vocab: MaskingVocab, generator: torch.Generator, cfg: MaskingConfig = _DEFAULT_MASKING,
                     temperature: float = 0.1) -> tuple[torch.Tensor, torch.Tensor]:
    """Like `mask_tokens`, with the masked words drawn by low `scores` (B, L); returns (ids, labels)."""
    ids = input_ids.cpu()
    cand_all = (attention_mask.cpu() != 0) & ~vocab.special[ids]              # (B, L)
    cont_all = vocab.continuation[ids]
    chosen = torch.zeros_like(ids, dtype=torch.bool)
    for row in range(ids.shape[0]):
        cand = cand_all[row].tolist()
        n_cand = sum(cand)
        if n_cand:
            words = _words(cand, cont_all[row].tolist())
            pos = _draw_words(words, scores[row].cpu().tolist(), mask_count(n_cand, ids.shape[1], cfg),
                              temperature, generator)
            chosen[row, pos] = True
    out, labels = replace_chosen(ids, chosen, vocab, generator, cfg)
    return out.to(input_ids.device), labels.to(input_ids.device)
