"""Tokenizer and tokenisation with the original APTM convention.

The released checkpoints were trained with `[CLS]` first and **no** `[SEP]` for a single caption,
truncated to `[CLS]` + 55 word pieces, padded with id 0 to the longest caption of the batch;
lower-cased WordPiece (bert-base-uncased vocab). A loaded checkpoint is fed the same way.
"""
from __future__ import annotations

import functools
from collections.abc import Sequence
from pathlib import Path

import torch

from mals_gen.errors import UserError

from .model.config import BUNDLED_VOCAB, APTMConfig, TextConfig


@functools.lru_cache(maxsize=8)
def _load_tokenizer(source: str):
    from transformers import BertTokenizerFast

    from .model.pretrained import bundled_minilm_dir

    if source == BUNDLED_VOCAB:
        source = str(bundled_minilm_dir())
    path = Path(source)
    if path.is_file():                                     # a bare vocab.txt
        return BertTokenizerFast(str(path), do_lower_case=True)
    try:
        return BertTokenizerFast.from_pretrained(source, do_lower_case=True)
    except OSError as err:
        raise UserError(f"cannot load tokenizer {source!r}: {str(err).splitlines()[0]}; pass a folder "
                        "with vocab.txt or use the default bundled vocab") from None


def build_tokenizer(cfg: APTMConfig | TextConfig):
    """The WordPiece tokenizer named by `cfg.text.tokenizer` (cached per source)."""
    text = cfg.text if isinstance(cfg, APTMConfig) else cfg
    tok = _load_tokenizer(text.tokenizer)
    if len(tok) > text.vocab_size:
        raise UserError(f"tokenizer {text.tokenizer!r} has {len(tok)} tokens but the model's vocab is "
                        f"{text.vocab_size}; use a matching tokenizer")
    return tok


def tokenize(tokenizer, texts: Sequence[str], max_len: int = 56) -> tuple[torch.Tensor, torch.Tensor]:
    """Texts -> (input_ids (B, L) long, attention_mask (B, L) long); L = longest, at most `max_len`."""
    if isinstance(texts, str):
        raise TypeError("tokenize() takes a list of texts, not one string")
    pieces = tokenizer(list(texts), add_special_tokens=False, truncation=True,
                       max_length=max_len - 1)["input_ids"]
    rows = [[tokenizer.cls_token_id] + p for p in pieces]
    length = max(len(r) for r in rows) if rows else 1
    ids = torch.zeros(len(rows), length, dtype=torch.long)                 # pad id 0
    mask = torch.zeros(len(rows), length, dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, :len(r)] = torch.tensor(r, dtype=torch.long)
        mask[i, :len(r)] = 1
    return ids, mask
