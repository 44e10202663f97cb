"""MLM masking: counts, whole words, spans, 80/10/10, specials and padding never masked, determinism."""
from __future__ import annotations

import pytest
import torch

from aptm_train.losses import MaskingConfig, MaskingVocab, mask_tokens
from aptm_train.model.config import named_config
from aptm_train.text import build_tokenizer, tokenize

CAPTIONS = [
    "a young woman with long black hair wears a white t-shirt, blue jeans and unbelievably bright sneakers",
    "the man is carrying a backpack and walking quickly",
    "a pedestrian in a grey hoodie",
    "short",
    ("a girl wearing a pink skirt, black leggings and a yellow umbrella over her shoulder while walking "
    "down the crowded street next to a red bicycle and several parked motorcycles in the evening"),
] * 40


@pytest.fixture(scope="module")
def setup():
    tok = build_tokenizer(named_config("aptm-tiny"))
    ids, mask = tokenize(tok, CAPTIONS)
    return tok, MaskingVocab.from_tokenizer(tok), ids, mask


def test_mask_counts_whole_words_and_no_specials(setup):
    tok, vocab, ids, mask = setup
    out, labels = mask_tokens(ids, mask, vocab, torch.Generator().manual_seed(0))
    masked = labels != -100
    assert torch.equal(labels[masked], ids[masked])
    assert not masked[:, 0].any() and not masked[mask == 0].any()          # never [CLS], never padding
    assert torch.equal(out[~masked], ids[~masked])
    for row in range(len(CAPTIONS)):
        n = int(mask[row].sum()) - 1
        assert int(masked[row].sum()) == min(10, max(1, round(0.25 * n)))
        # whole words: a "##" piece is masked iff the piece before it is
        pieces = tok.convert_ids_to_tokens(ids[row].tolist())
        for pos, piece in enumerate(pieces):
            if piece.startswith("##"):
                assert masked[row, pos] == masked[row, pos - 1]


def test_replacement_split_and_spans(setup):
    _, vocab, ids, mask = setup
    g = torch.Generator().manual_seed(1)
    counts = torch.zeros(3)
    adjacent = total_runs = 0
    for _ in range(10):
        out, labels = mask_tokens(ids, mask, vocab, g)
        masked = labels != -100
        is_mask = masked & (out == vocab.mask_id)
        same = masked & (out == ids)
        counts += torch.tensor([is_mask.sum(), (masked & ~is_mask & ~same).sum(), same.sum()])
        adjacent += int((masked[:, 1:] & masked[:, :-1]).sum())
        total_runs += int(masked.sum())
    frac = counts / counts.sum()
    assert abs(frac[0] - 0.8) < 0.03 and abs(frac[1] - 0.1) < 0.02 and abs(frac[2] - 0.1) < 0.02
    assert adjacent / total_runs > 0.05      # spans (and multi-piece words) mask neighbours together


def test_span_probability_changes_adjacency(setup):
    _, vocab, ids, mask = setup

    def adjacency(span_prob):
        _, labels = mask_tokens(ids, mask, vocab, torch.Generator().manual_seed(2),
                                MaskingConfig(span_prob=span_prob))
        m = labels != -100
        return (m[:, 1:] & m[:, :-1]).sum().item() / m.sum().item()
    assert adjacency(1.0) > adjacency(0.0) + 0.2


def test_masking_is_deterministic_per_generator(setup):
    _, vocab, ids, mask = setup
    a = mask_tokens(ids, mask, vocab, torch.Generator().manual_seed(5))
    b = mask_tokens(ids, mask, vocab, torch.Generator().manual_seed(5))
    c = mask_tokens(ids, mask, vocab, torch.Generator().manual_seed(6))
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[1], c[1])


def test_padded_count_as_the_original(setup):
    """count="padded": 10 masks from the padded length 56 (round(0.25 * 56) = 14 -> 10), padding
    included, random replacements from the whole vocabulary; [CLS] still never masked."""
    tok, vocab, ids, mask = setup
    ids, mask = (torch.nn.functional.pad(t, (0, 56 - t.shape[1])) for t in (ids, mask))
    cfg = MaskingConfig(count="padded")
    out, labels = mask_tokens(ids, mask, vocab, torch.Generator().manual_seed(0), cfg)
    masked = labels != -100
    assert (masked.sum(1) == 10).all()
    assert not masked[:, 0].any()
    assert masked[mask == 0].any()                                          # masks land on padding
    assert (labels[masked & (mask == 0)] == 0).all()                        # ... and predict [PAD]
    replaced = masked & (out != ids) & (out != tok.mask_token_id)
    assert not torch.isin(out[replaced], vocab.random_ids).all()            # specials / [unused] drawn too
    _, ours = mask_tokens(ids, mask, vocab, torch.Generator().manual_seed(0))
    assert ((ours != -100) & (mask == 0)).sum() == 0                        # the default never masks padding


@pytest.mark.parametrize("count", ["caption", "padded"])
def test_a_generator_per_caption_masks_each_as_alone(setup, count):
    """A list of generators: caption i is masked as it would be alone on its own length (the full
    width when padding counts), so batch-mates and the batch's padding change nothing."""
    _, vocab, ids, mask = setup
    ids, mask = ids[:5], mask[:5]
    if count == "padded":
        ids, mask = (torch.nn.functional.pad(t, (0, 56 - t.shape[1])) for t in (ids, mask))
    cfg = MaskingConfig(count=count)
    out, labels = mask_tokens(ids, mask, vocab, [torch.Generator().manual_seed(i) for i in range(5)], cfg)
    for i in range(5):
        n = ids.shape[1] if count == "padded" else int(mask[i].sum())
        alone = mask_tokens(ids[i:i + 1, :n], mask[i:i + 1, :n], vocab, torch.Generator().manual_seed(i), cfg)
        assert torch.equal(out[i, :n], alone[0][0]) and torch.equal(labels[i, :n], alone[1][0])
        assert torch.equal(out[i, n:], ids[i, n:]) and (labels[i, n:] == -100).all()
