"""Noise-aware masking: low token-to-image similarity -> masked more often; the task option on a tiny model."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from aptm_train.losses import MaskingVocab, Task, named_task, task_config
from aptm_train.losses.mlm import MaskingConfig
from aptm_train.losses.nam import noise_aware_mask, token_image_scores
from mals_gen.errors import UserError

# vocabulary: 0 [PAD], 1 [CLS], 2 [SEP], 3 [MASK], 4.. words; 9 is a "##" piece
VOCAB = MaskingVocab(mask_id=3, special=torch.tensor([True] * 4 + [False] * 8),
                     continuation=torch.tensor([False] * 9 + [True] + [False] * 2), random_ids=torch.arange(4, 12))
IDS = torch.tensor([[1, 4, 5, 6, 7, 8, 9, 10, 11, 2, 0, 0]])      # (1, 12): 8 pieces, 7 words (8+9 one word)
MASK = (IDS != 0).long()


def _masked_positions(scores: torch.Tensor, seed: int, **cfg) -> set[int]:
    g = torch.Generator().manual_seed(seed)
    _, labels = noise_aware_mask(IDS, MASK, scores, VOCAB, g, MaskingConfig(**cfg), temperature=0.05)
    return set(torch.nonzero(labels[0] != -100).flatten().tolist())


def test_the_poorly_grounded_words_are_masked():
    # words: [1] [2] [3] [4] [5, 6] [7] [8]; round(0.25 * 8 pieces) = 2 masks per caption
    scores = torch.full((1, 12), 0.9)
    scores[0, 3] = -0.5                                           # the word at 3 matches no patch
    hits = [_masked_positions(scores, seed) for seed in range(20)]
    assert all(3 in h and len(h) == 2 for h in hits)
    assert len({frozenset(h) for h in hits}) > 1                  # the second mask is still drawn
    scores[0, 7] = -0.4
    assert all(_masked_positions(scores, seed) == {3, 7} for seed in range(20))


def test_whole_words_and_counts_follow_ordinary_masking():
    scores = torch.zeros(1, 12)
    scores[0, 5] = -1.0                                           # piece 5 of word (5, 6): the word goes whole
    got = [_masked_positions(scores, seed, prob=0.25) for seed in range(10)]
    assert all(g == {5, 6} for g in got)
    assert all(p not in {0, 9, 10, 11} for g in got for p in g)  # never [CLS], [SEP], padding


def test_uniform_scores_spread_masks_over_every_word():
    scores = torch.zeros(1, 12)
    seen = set().union(*(_masked_positions(scores, seed) for seed in range(60)))
    assert seen == {1, 2, 3, 4, 5, 6, 7, 8}


def test_token_image_scores_on_a_tiny_model():
    from aptm_train.model.aptm import APTM
    from aptm_train.model.config import named_config

    torch.manual_seed(0)
    cfg = named_config("aptm-tiny")
    model = APTM.from_config(dataclasses.replace(cfg, vision=dataclasses.replace(cfg.vision, img_size=(128, 64))))
    dt, dv = model.text_proj.in_features, model.vision_proj.in_features
    image = torch.randn(2, 5, dv)                                 # CLS + 4 patches
    text = torch.randn(2, 3, dt)
    scores = token_image_scores(model, text, image)               # (2, 3)
    t = torch.nn.functional.normalize(model.text_proj(text), dim=-1)
    v = torch.nn.functional.normalize(model.vision_proj(image[:, 1:]), dim=-1)
    torch.testing.assert_close(scores[1, 2], (v[1] @ t[1, 2]).max().detach())
    assert not scores.requires_grad


def test_task_option_masks_from_the_image(monkeypatch):
    from aptm_train.model.aptm import APTM
    from aptm_train.model.config import named_config
    from aptm_train.text import build_tokenizer, tokenize

    torch.manual_seed(0)
    cfg = named_config("aptm-tiny")
    model = APTM.from_config(dataclasses.replace(cfg, vision=dataclasses.replace(cfg.vision, img_size=(128, 64))))
    ids, mask = tokenize(build_tokenizer(model.config), ["a man in a red shirt", "a woman with a blue bag"])
    batch = {"pixels": torch.randn(2, 3, 128, 64), "input_ids": ids, "attention_mask": mask,
             "person_ids": torch.tensor([0, 1])}
    called = []
    import aptm_train.losses.task as task_mod
    real = task_mod.noise_aware_mask
    monkeypatch.setattr(task_mod, "noise_aware_mask", lambda *a, **k: called.append(1) or real(*a, **k))
    on = dataclasses.replace(named_task("finetune"), noise_aware_masking=True, weights=dataclasses.replace(
        named_task("finetune").weights, itc_eda=0.0, itm_eda=0.0))
    out = Task(on)(model, batch)
    assert called and torch.isfinite(out["mlm_loss"])
    assert not named_task("finetune").noise_aware_masking and not named_task("mals-pretrain").noise_aware_masking
    assert task_config("mals-pretrain", {"noise_aware_masking": True}).noise_aware_masking
    with pytest.raises(UserError, match="nam_temperature"):
        task_config("finetune", {"nam_temperature": 0})
