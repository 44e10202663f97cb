"""APTM model: geometry and sizes against the released checkpoint's keys, API shapes, bidirectional
fusion, save/load round trip, and our Swin against timm where timm's geometry is the original's."""
from __future__ import annotations

import json

import pytest
import torch

from aptm_train.model.aptm import APTM, count_parameters
from aptm_train.model.checkpoint import load_model, save_model
from aptm_train.model.config import named_config
from aptm_train.model.swin import relative_position_index, shift_attn_mask, stage_geometry
from mals_gen.errors import UserError


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    return APTM.from_config(named_config("aptm-tiny")).eval()


def test_aptm_base_matches_released_checkpoint_sizes():
    with torch.device("meta"):
        model = APTM.from_config(named_config("aptm-base"))
    assert count_parameters(model) == 214_456_629
    sd = model.state_dict()
    # 629 released keys minus text_encoder.bert.embeddings.position_ids (we compute it).
    assert len(sd) == 628
    assert sum(k.startswith("vision_encoder.") for k in sd) == 353
    assert sum(k.startswith("text_encoder.") for k in sd) == 264
    tables = [tuple(sd[f"vision_encoder.layers.{s}.blocks.0.attn.relative_position_bias_table"].shape)
              for s in range(4)]
    assert tables == [(225, 4), (225, 8), (225, 16), (49, 32)]
    masks = sorted(k for k in sd if k.endswith("attn_mask"))
    assert masks == ["vision_encoder.layers.0.blocks.1.attn_mask", "vision_encoder.layers.1.blocks.1.attn_mask"]
    assert tuple(sd[masks[0]].shape) == (48, 64, 64) and tuple(sd[masks[1]].shape) == (12, 64, 64)
    assert tuple(sd["vision_encoder.layers.2.downsample.reduction.weight"].shape) == (1024, 2048)
    assert "vision_encoder.layers.3.downsample.norm.weight" not in sd
    assert tuple(sd["text_encoder.bert.encoder.layer.6.crossattention.self.key.weight"].shape) == (768, 1024)
    assert not any(k.startswith("text_encoder.bert.encoder.layer.5.crossattention") for k in sd)
    assert [k for k in sd if k.startswith("itm_head")] == [
        "itm_head.0.weight", "itm_head.0.bias", "itm_head.1.weight", "itm_head.1.bias",
        "itm_head.3.weight", "itm_head.3.bias"]
    assert "text_encoder.cls.predictions.decoder.weight" in sd and "text_encoder.cls.predictions.bias" in sd


def test_original_swin_window_rule():
    # 384x128, window 8: grids 96x32, 48x16, 24x8, 12x4.
    assert [stage_geometry(g, 8) for g in [(96, 32), (48, 16), (24, 8), (12, 4)]] == [
        (8, 4), (8, 4), (8, 0), (4, 0)]


def test_relative_position_index_and_mask_against_naive():
    w = 3
    idx = relative_position_index(w)
    for p in range(w * w):
        for q in range(w * w):
            dy, dx = p // w - q // w, p % w - q % w
            assert idx[p, q] == (dy + w - 1) * (2 * w - 1) + (dx + w - 1)
    grid, w, s = (8, 4), 4, 2
    mask = shift_attn_mask(grid, w, s)
    label = torch.zeros(grid, dtype=torch.long)   # regions cut at -w and -shift along each axis

    def region(i, n):
        return 0 if i < n - w else (1 if i < n - s else 2)
    for i in range(grid[0]):
        for j in range(grid[1]):
            label[i, j] = region(i, grid[0]) * 3 + region(j, grid[1])
    for win in range(mask.shape[0]):
        r0, c0 = (win // (grid[1] // w)) * w, (win % (grid[1] // w)) * w
        lab = label[r0:r0 + w, c0:c0 + w].reshape(-1)
        expected = torch.where(lab[:, None] == lab[None, :], 0.0, -100.0)
        assert torch.equal(mask[win], expected)


def test_api_shapes_and_normalised_features(tiny):
    cfg = tiny.config
    pixels = torch.randn(2, 3, *cfg.vision.img_size)
    ids = torch.tensor([[101, 1037, 2450, 0], [101, 1037, 2158, 2007]])
    mask = (ids != 0).long()
    with torch.no_grad():
        itok, ifeat = tiny.encode_image(pixels)
        ttok, tfeat = tiny.encode_text(ids, mask)
        assert itok.shape == (2, 49, cfg.vision.width) and ifeat.shape == (2, cfg.embed_dim)
        assert ttok.shape == (2, 4, cfg.text.hidden_size) and tfeat.shape == (2, cfg.embed_dim)
        torch.testing.assert_close(ifeat.norm(dim=-1), torch.ones(2))
        torch.testing.assert_close(tfeat.norm(dim=-1), torch.ones(2))
        assert tiny.fuse(ttok, mask, itok).shape == ttok.shape
        assert tiny.itm_logits(ttok, mask, itok).shape == (2, 2)
        assert tiny.mlm_logits(ids, mask, itok).shape == (2, 4, cfg.text.vocab_size)
        # The first image token is the mean of the others.
        torch.testing.assert_close(itok[:, 0], itok[:, 1:].mean(1))
    with pytest.raises(ValueError, match="expected images"):
        tiny.encode_image(torch.randn(1, 3, 224, 224))


def test_fusion_is_bidirectional_and_ignores_padding(tiny):
    torch.manual_seed(1)
    itok = torch.randn(1, 49, tiny.config.vision.width)
    ids = torch.tensor([[101, 1037, 2450, 1999, 2417]])
    mask = torch.ones_like(ids)
    with torch.no_grad():
        ttok, _ = tiny.encode_text(ids, mask)
        fused = tiny.fuse(ttok, mask, itok)
        ids2 = ids.clone()
        ids2[0, -1] = 2630                                   # change the LAST token
        fused2 = tiny.fuse(tiny.encode_text(ids2, mask)[0], mask, itok)
        assert not torch.allclose(fused[0, 0], fused2[0, 0])  # [CLS] sees later tokens: not causal
        padded = torch.cat([ids, torch.zeros(1, 3, dtype=torch.long)], 1)
        pmask = (padded != 0).long()
        fused_p = tiny.fuse(tiny.encode_text(padded, pmask)[0], pmask, itok)
        torch.testing.assert_close(fused_p[:, :5], fused, atol=1e-5, rtol=1e-5)


def test_save_load_round_trip(tiny, tmp_path):
    save_model(tiny, tmp_path / "ckpt")
    data = json.loads((tmp_path / "ckpt" / "config.json").read_text())
    assert data["model"]["name"] == "aptm-tiny"
    loaded = load_model(tmp_path / "ckpt").eval()
    assert loaded.config == tiny.config
    # tied weights are tied again after loading
    assert loaded.text_encoder.cls.predictions.decoder.weight is \
        loaded.text_encoder.bert.embeddings.word_embeddings.weight
    pixels = torch.randn(2, 3, 384, 128)
    ids = torch.tensor([[101, 1037, 2450, 0], [101, 1037, 2158, 2007]])
    mask = (ids != 0).long()
    with torch.no_grad():
        for m_a, m_b in [(tiny, loaded)]:
            a_tok, a_feat = m_a.encode_image(pixels)
            b_tok, b_feat = m_b.encode_image(pixels)
            assert torch.equal(a_feat, b_feat)
            assert torch.equal(m_a.mlm_logits(ids, mask, a_tok), m_b.mlm_logits(ids, mask, b_tok))
            assert torch.equal(m_a.itm_logits(m_a.encode_text(ids, mask)[0], mask, a_tok),
                               m_b.itm_logits(m_b.encode_text(ids, mask)[0], mask, b_tok))


def test_load_model_errors(tmp_path):
    with pytest.raises(UserError, match="no config.json"):
        load_model(tmp_path)
    (tmp_path / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(UserError, match="not an aptm-train model config"):
        load_model(tmp_path)


def test_named_configs_and_validation():
    assert named_config("aptm-mini").text.hidden_size == 384
    assert named_config("aptm-mini").text.fusion_layer == 3
    with pytest.raises(UserError, match="unknown model size"):
        named_config("aptm-huge")
    from dataclasses import replace
    cfg = named_config("aptm-tiny")
    with pytest.raises(UserError, match="img_size"):
        replace(cfg, vision=replace(cfg.vision, img_size=(100, 100)))


def test_tiny_is_about_a_million_parameters(tiny):
    assert 0.8e6 < count_parameters(tiny) < 2e6


def test_checkpoint_folder_hf_layout(tiny, tmp_path, monkeypatch):
    """Flat config.json, tokenizer files, model card, 0644 weights; loads by ours and by safetensors alone."""
    import os
    import stat

    from safetensors.torch import load_file

    from aptm_train.model import checkpoint as ck
    from aptm_train.model.aptm import APTM as Model

    os.umask(0o022)
    folder = save_model(tiny, tmp_path / "ckpt", extra_config={"training": {
        "recipe": "mals-pretrain", "step": 7, "shards": "shards/demo",
        "counts": {"train": {"samples": 30, "pairs": 60}}}})
    data = json.loads((folder / "config.json").read_text())
    assert data["model_type"] == "aptm" and data["architectures"] == ["APTM"]
    assert data["hidden_size"] == tiny.config.text.hidden_size and data["model"]["name"] == "aptm-tiny"
    assert {"tokenizer.json", "tokenizer_config.json"} <= {p.name for p in folder.iterdir()}
    assert stat.S_IMODE((folder / "model.safetensors").stat().st_mode) == 0o644
    assert stat.S_IMODE((folder / "config.json").stat().st_mode) == 0o644
    card = (folder / "README.md").read_text()
    assert card.startswith("---\n") and "shards/demo" in card and "30 images" in card
    assert "mals-pretrain" in card and "from_pretrained" in card
    # the tokenizer comes from the folder: no bundled vocab package needed
    import aptm_train.model.pretrained as pre
    monkeypatch.setattr(pre, "bundled_minilm_dir", lambda: (_ for _ in ()).throw(AssertionError("bundled")))
    from aptm_train.text import _load_tokenizer
    _load_tokenizer.cache_clear()
    tok = ck.load_tokenizer(folder)
    assert tok("a woman")["input_ids"][1:-1] == [1037, 2450]
    raw = load_file(str(folder / "model.safetensors"))
    ours = ck.from_pretrained(folder)
    assert not ours.training and isinstance(ours, Model)
    for name, tensor in ours.state_dict().items():
        if name not in ck.TIED_ALIASES:
            assert torch.equal(raw[name], tensor), name
    assert Model.from_pretrained(folder).config == tiny.config


def test_older_folder_without_flat_keys_loads(tiny, tmp_path):
    folder = save_model(tiny, tmp_path / "old")
    data = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({"format": data["format"], "model": data["model"]}))
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "README.md"):
        (folder / name).unlink(missing_ok=True)
    assert load_model(folder).config == tiny.config


def test_card_metrics_rows_replace_same_split(tmp_path):
    from aptm_train.model.card import card_rows, merge_rows, metric_row, write_card

    write_card(tmp_path, {"model": {"name": "aptm-tiny"}}, [metric_row("shards/a", "test", "fused", {"R@1": 1.0})])
    rows = merge_rows(card_rows(tmp_path), [metric_row("shards/a", "test", "fused", {"R@1": 55.5}),
                                            metric_row("shards/b", "test", "itc", {"R@1": 2.0})])
    write_card(tmp_path, {"model": {"name": "aptm-tiny"}}, rows)
    rows = card_rows(tmp_path)
    assert len(rows) == 2 and "55.50" in rows[0] and "shards/b" in rows[1]


def test_training_checkpoint_save_prints_no_shared_tensor_note(tiny, tmp_path, caplog):
    """accelerate notes each dropped tied alias on save_state; our save keeps that note out of the log."""
    import logging

    from accelerate import Accelerator

    from aptm_train.train.checkpoint import save_checkpoint

    acc = Accelerator(cpu=True)
    model = acc.prepare(tiny)
    with caplog.at_level(logging.WARNING):
        acc.save_state(str(tmp_path / "bare"))                 # the note fires without our filter ...
    assert any("Removed shared tensor" in r.getMessage() for r in caplog.records)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        final = save_checkpoint(acc, tmp_path / "run", 3, {"step": 3}, {}, lambda f: save_model(model, f),
                                "recipe: x\n", keep_last=2)
    assert not any("Removed shared tensor" in r.getMessage() for r in caplog.records)   # ... not with it
    assert (final / "model" / "README.md").is_file()


def test_training_export_card_names_data_recipe_steps_and_validation(tiny, tmp_path):
    from types import SimpleNamespace

    from aptm_train.data.shards import open_shards
    from aptm_train.model.card import card_rows
    from aptm_train.train.checkpoint import export_model
    from tests._train_shards import write_shards

    shards = open_shards(write_shards(tmp_path / "shards", n=20))
    train = shards.counts("train")
    cfg = SimpleNamespace(recipe="mals-pretrain", init=None, data=SimpleNamespace(shards=str(shards.folder)))
    export_model(tiny, tmp_path / "model", cfg, shards, 12, {"val_r1": 40.0, "val_r5": 80.0, "val_r10": 90.0})
    card = (tmp_path / "model" / "README.md").read_text()
    assert f"- shards: `{shards.folder}`" in card and f"train: {train.samples:,} images, {train.pairs:,}" in card
    assert "recipe: `mals-pretrain`" in card and "optimiser steps: 12" in card
    row = f"| {shards.folder} | val | itc (training validation) | 40.00 | 80.00 | 90.00 | - |"
    assert card_rows(tmp_path / "model") == [row]
    config = json.loads((tmp_path / "model" / "config.json").read_text())
    assert config["training"]["counts"]["train"] == {"samples": train.samples, "pairs": train.pairs}


def test_cpu_attention_matches_pytorch_sdpa():
    import torch.nn.functional as F

    from aptm_train.model.attention import attend

    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, n, 8, generator=g) for n in (5, 7, 7))
    keep = torch.rand(2, 1, 1, 7, generator=g) > 0.3
    keep[..., 0] = True                                        # every query may attend somewhere
    for bias in (None, torch.randn(2, 3, 5, 7, generator=g), keep):
        torch.testing.assert_close(attend(q, k, v, bias), F.scaled_dot_product_attention(q, k, v, attn_mask=bias))
