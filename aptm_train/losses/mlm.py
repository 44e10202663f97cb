"""MLM: whole-word masking (collate side, CPU, deterministic per torch.Generator) and the loss.

Masking (per caption): the candidates are the caption's own word pieces (never [CLS], [SEP],
[PAD]); pieces starting with `##` join the previous word. The number of masks is
`min(max_masks, max(1, round(prob * n_candidates)))`. Words are visited in random order; with
probability `span_prob` the unit is a span of 2-3 pieces, extended to whole words, else one word;
a unit that would overshoot the count is skipped, so every word is masked entirely or not at all.
Each masked piece becomes [MASK] (80%), a random regular token (10%) or stays (10%).

Deliberate deviation (the padded-length quirk), `count="caption"` (our default): the original
counts masks from the *padded* length, so nearly every caption gets 10 masks and padding positions
can be masked. We count from the caption's own pieces and never mask padding: a short caption gets
proportionally fewer masks, and no loss is spent predicting [PAD]. `count="padded"` restores the
original: the count is `min(max_masks, round(prob * L))` with L the padded length (the collate then
pads to the full max length: round(0.25 * 56) = 14 -> 10), every position after [CLS] is a
candidate (padding included), and random replacements come from the whole vocabulary.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .common import IGNORE, safe_cross_entropy

MASK_COUNTS = ("caption", "padded")


@dataclass(frozen=True)
class MaskingConfig:
    prob: float = 0.25
    max_masks: int = 10
    span_prob: float = 0.2
    span_lengths: tuple[int, ...] = (2, 3)
    mask_frac: float = 0.8        # -> [MASK]
    random_frac: float = 0.1      # -> a random regular token; the rest stays unchanged
    count: str = "caption"        # "caption" (ours) | "padded" (the original's quirk, see above)


@dataclass(frozen=True)
class MaskingVocab:
    mask_id: int
    special: torch.Tensor         # (V,) bool: never masked
    continuation: torch.Tensor    # (V,) bool: "##" pieces
    random_ids: torch.Tensor      # (R,) ids used for random replacement

    @classmethod
    def from_tokenizer(cls, tokenizer) -> MaskingVocab:
        vocab = tokenizer.get_vocab()
        size = max(len(tokenizer), max(vocab.values()) + 1)
        special = torch.zeros(size, dtype=torch.bool)
        special[list(tokenizer.all_special_ids)] = True
        cont = torch.zeros(size, dtype=torch.bool)
        unused = torch.zeros(size, dtype=torch.bool)
        for tok, i in vocab.items():
            cont[i] = tok.startswith("##")
            unused[i] = tok.startswith("[") and tok.endswith("]")           # [unused17], [PAD], ...
        return cls(tokenizer.mask_token_id, special, cont, torch.nonzero(~special & ~unused).squeeze(1))


def _words(cand: list[bool], cont: list[bool]) -> list[list[int]]:
    """Group candidate positions into whole words."""
    words: list[list[int]] = []
    for pos, (is_cand, is_cont) in enumerate(zip(cand, cont)):
        if not is_cand:
            continue
        if is_cont and words and words[-1][-1] == pos - 1:
            words[-1].append(pos)
        else:
            words.append([pos])
    return words


def _choose_positions(words: list[list[int]], n_target: int, cfg: MaskingConfig,
                      g: torch.Generator) -> list[int]:
    order = torch.randperm(len(words), generator=g).tolist()
    coin = torch.rand(len(words), generator=g).tolist()
    span = torch.randint(len(cfg.span_lengths), (len(words),), generator=g).tolist()
    taken: set[int] = set()
    for k, w in enumerate(order):
        unit = list(words[w])
        if coin[k] < cfg.span_prob:               # span: extend over following words to >= n pieces
            nxt = w + 1
            while len(unit) < cfg.span_lengths[span[k]] and nxt < len(words):
                unit += words[nxt]
                nxt += 1
        if taken.intersection(unit) or len(taken) + len(unit) > n_target:
            continue
        taken.update(unit)
        if len(taken) == n_target:
            break
    return sorted(taken)


def mask_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor, vocab: MaskingVocab,
                generator: torch.Generator | list[torch.Generator], cfg: MaskingConfig = MaskingConfig()
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L) CPU ids + mask -> (mlm_input_ids (B, L), mlm_labels (B, L) with -100 where not masked).

    `generator`: one for the batch, or a list of B, one per caption: each caption then draws from
    its own, over its own length (the full width when padding is a candidate), so it is masked the
    same whatever its batch-mates and the batch's padding (the training collate's way)."""
    if cfg.count not in MASK_COUNTS:
        raise ValueError(f"MaskingConfig.count must be one of {MASK_COUNTS}, got {cfg.count!r}")
    ids = input_ids.cpu()
    padded = cfg.count == "padded"
    per_caption = isinstance(generator, (list, tuple))
    chosen = torch.zeros_like(ids, dtype=torch.bool)                        # (B, L)
    pad = attention_mask.cpu() == 0
    cand_all = ~pad & ~vocab.special[ids]
    if padded:
        cand_all |= pad                                                     # padding can be masked
    cont_all = vocab.continuation[ids]
    lengths = [ids.shape[1]] * ids.shape[0] if padded else (~pad).sum(1).tolist()
    drawn: list[tuple[torch.Tensor, torch.Tensor]] = []     # per caption: its replacement draws
    drawn_at = torch.zeros_like(chosen)                       # (B, L) where they go, row by row
    for row in range(ids.shape[0]):
        g = generator[row] if per_caption else generator
        cand = cand_all[row].tolist()
        n_cand = sum(cand)
        if n_cand == 0:
            continue
        n_target = mask_count(n_cand, ids.shape[1], cfg)
        words = _words(cand, cont_all[row].tolist())
        pos = _choose_positions(words, n_target, cfg, g)
        chosen[row, pos] = True
        if per_caption:
            drawn.append(_draw_replacements((lengths[row],), vocab, g, cfg))
            drawn_at[row, :lengths[row]] = True
    if per_caption:     # a caption without candidates draws nothing: its places stay "keep"
        u, rand_tok = torch.ones(ids.shape), torch.zeros_like(ids)          # (B, L) each
        if drawn:
            u[drawn_at], rand_tok[drawn_at] = (torch.cat(d) for d in zip(*drawn))
    else:
        u, rand_tok = _draw_replacements(ids.shape, vocab, generator, cfg)
    out, labels = _replace(ids, chosen, u, rand_tok, vocab, cfg)
    return out.to(input_ids.device), labels.to(input_ids.device)


def mask_count(n_cand: int, padded_len: int, cfg: MaskingConfig) -> int:
    """How many pieces of a caption with `n_cand` candidates are masked (module docstring)."""
    basis = padded_len if cfg.count == "padded" else n_cand
    return min(cfg.max_masks, max(1, round(cfg.prob * basis)), n_cand)


def replace_chosen(ids: torch.Tensor, chosen: torch.Tensor, vocab: MaskingVocab, generator: torch.Generator,
                   cfg: MaskingConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, L) CPU ids + chosen positions -> (ids with [MASK] 80% / random 10% / kept 10%, labels)."""
    return _replace(ids, chosen, *_draw_replacements(ids.shape, vocab, generator, cfg), vocab, cfg)


def _draw_replacements(shape, vocab: MaskingVocab, generator: torch.Generator,
                       cfg: MaskingConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """(uniform draw, random token) per position of `shape`."""
    u = torch.rand(shape, generator=generator)
    if cfg.count == "padded":                                              # the whole vocabulary
        return u, torch.randint(len(vocab.special), shape, generator=generator)
    return u, vocab.random_ids[torch.randint(len(vocab.random_ids), shape, generator=generator)]


def _replace(ids: torch.Tensor, chosen: torch.Tensor, u: torch.Tensor, rand_tok: torch.Tensor,
             vocab: MaskingVocab, cfg: MaskingConfig) -> tuple[torch.Tensor, torch.Tensor]:
    labels = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    out = ids.clone()
    out[chosen & (u < cfg.mask_frac)] = vocab.mask_id
    use_rand = chosen & (u >= cfg.mask_frac) & (u < cfg.mask_frac + cfg.random_frac)
    out[use_rand] = rand_tok[use_rand]
    return out, labels


def mlm_loss(model, mlm_input_ids: torch.Tensor, attention_mask: torch.Tensor,
             image_tokens: torch.Tensor, mlm_labels: torch.Tensor) -> torch.Tensor:
    """CE of the MLM head at the masked positions only (the head never sees the other positions)."""
    hidden = model.mlm_hidden(mlm_input_ids, attention_mask, image_tokens)  # (B, L, Dt)
    where = mlm_labels != IGNORE                                            # (B, L)
    if not bool(where.any()):
        return hidden.sum() * 0.0
    logits = model.mlm_head(hidden[where])                                  # (M, vocab)
    return safe_cross_entropy(logits, mlm_labels[where])
