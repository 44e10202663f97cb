"""Collate training pairs into the batch dict the losses read (docs/architecture.md, the sample contract).

Captions are cut to 56 words (and ICFG-PEDES / RSTPReid captions are lower-cased with every run
of characters outside [0-9a-z] turned into one space, as the benchmarks' protocol does), then
tokenised to at most 56 tokens ([CLS] + 55 word pieces, no [SEP], pad 0; padded to the batch's
longest, or to the full max length with `pad_to_max`, which the original's padded MLM mask count
needs). MLM masking happens here, caption by caption, each with a generator seeded from its pair's
seed (pipeline.py: seed, epoch, key, caption): a caption is masked the same whatever batch or
loader worker it lands in, so a resumed run masks as the uninterrupted one, and a batch collated
in parts (one per worker, joined by `batching.merge`) equals the batch collated at once.
"""
from __future__ import annotations

import re
from collections.abc import Callable

import torch
from torch.utils.data import get_worker_info

from mals_gen.contract import NUM_MALS_ATTRIBUTES

from .pipeline import stable_int

_NON_ALNUM = re.compile(r"[^0-9a-z]+")
LOWERCASE_SOURCES = ("icfg-pedes", "rstpreid")


def clean_caption(text: str, source: str, max_words: int = 56) -> str:
    if source.lower() in LOWERCASE_SOURCES:
        text = _NON_ALNUM.sub(" ", text.lower()).strip()
    return " ".join(text.split()[:max_words])


class Collate:
    """Picklable collate function: pairs -> batch dict (tensors, plus "keys"); the training loader runs
    it in its workers (batching.py)."""

    def __init__(self, tokenizer, tokenize: Callable, mask_fn: Callable | None, *, max_len: int = 56,
                 max_words: int = 56, num_attrs: int = NUM_MALS_ATTRIBUTES, pad_to_max: bool = False):
        self.tokenizer, self.tokenize, self.mask_fn = tokenizer, tokenize, mask_fn
        self.max_len, self.max_words, self.num_attrs = max_len, max_words, num_attrs
        self.pad_to_max = pad_to_max

    def _tokens(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        ids, mask = self.tokenize(self.tokenizer, texts, max_len=self.max_len)  # (B, L), (B, L)
        if self.pad_to_max and ids.shape[1] < self.max_len:
            extra = self.max_len - ids.shape[1]
            ids, mask = (torch.nn.functional.pad(t, (0, extra)) for t in (ids, mask))  # pad id 0
        return ids, mask

    def __call__(self, pairs: list[dict]) -> dict:
        texts = [clean_caption(p["caption"], p["source"], self.max_words) for p in pairs]
        ids, mask = self._tokens(texts)
        batch = {
            "pixels": _stack([p["pixels"] for p in pairs]),                     # (B, 3, H, W)
            "input_ids": ids, "attention_mask": mask,
            "person_ids": torch.tensor([p["person_id"] for p in pairs], dtype=torch.long),  # (B,)
            "attrs": torch.tensor([_attrs(p.get("attrs"), self.num_attrs) for p in pairs],
                                  dtype=torch.long),                             # (B, A), -1 unknown
            "keys": [f"{p['key']}#{p['caption_index']}" for p in pairs],   # not a tensor: the trainer pops it
        }
        if self.mask_fn is not None:
            batch["mlm_input_ids"], batch["mlm_labels"] = self._mask(ids, mask, [p["seed"] for p in pairs])
        if "eda_caption" in pairs[0]:
            eda = [clean_caption(p["eda_caption"], p["source"], self.max_words) for p in pairs]
            batch["eda_input_ids"], batch["eda_attention_mask"] = self._tokens(eda)
        return batch

    def _mask(self, ids: torch.Tensor, mask: torch.Tensor, seeds: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """One generator per caption (`mask_tokens`), so neither its batch-mates nor the batch's
        padding change its draws."""
        gens = [torch.Generator().manual_seed(stable_int("mlm", seed) % 2**63) for seed in seeds]
        return self.mask_fn(ids, mask, generator=gens)


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    """torch.stack; inside a DataLoader worker straight into shared memory, as torch's default collate
    does, or sending the batch to the main process would copy it there first."""
    out = None
    if get_worker_info() is not None:
        first = tensors[0].as_subclass(torch.Tensor)          # a torchvision Image: a plain tensor
        storage = first._typed_storage()._new_shared(len(tensors) * first.numel(), device=first.device)
        out = first.new(storage).resize_(len(tensors), *first.shape)
    return torch.stack(tensors, 0, out=out)


def _attrs(values, n: int) -> list[int]:
    if values is None or len(values) != n:
        return [-1] * n
    return [int(v) for v in values]
