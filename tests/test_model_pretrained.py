"""Pretrained weights: our Swin equals timm's where their geometry agrees (224, window 7), bias tables
are resized for new windows, BERT layers load by name and reproduce transformers' outputs, the
bundled all-MiniLM-L6-v2 loads into aptm-mini; and the tokenizer follows the original convention."""
from __future__ import annotations

import dataclasses
import re

import pytest
import torch

from aptm_train.model.aptm import APTM
from aptm_train.model.config import APTMConfig, TextConfig, VisionConfig, named_config
from aptm_train.model.pretrained import (
    load_bert_pretrained,
    load_pretrained,
    load_swin_pretrained,
    resize_bias_table,
)
from aptm_train.text import build_tokenizer, tokenize
from mals_gen.errors import UserError

SMALL_SWIN = {"embed_dim": 16, "depths": (2, 2, 2, 2), "num_heads": (1, 2, 2, 4)}


@pytest.fixture(scope="module")
def timm_swin():
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    m = timm.create_model("swin_tiny_patch4_window7_224", pretrained=False, num_classes=0, **SMALL_SWIN)
    for p in m.parameters():   # non-trivial LayerNorm / bias values
        p.data.add_(torch.randn_like(p) * 0.02)
    return m.eval()


def _model(img, window):
    cfg = APTMConfig(name="t", vision=VisionConfig(img_size=img, window_size=window, drop_path_rate=0.0,
                                                    **SMALL_SWIN),
                     text=named_config("aptm-tiny").text, embed_dim=16)
    return APTM.from_config(cfg).eval()


@pytest.mark.parametrize("layout", ["timm", "original"])
def test_swin_equals_timm_at_224(timm_swin, tmp_path, layout):
    sd = timm_swin.state_dict()
    if layout == "original":   # Microsoft layout: downsample at the end of the previous stage
        sd = {re.sub(r"layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) - 1}.downsample", k): v
              for k, v in sd.items()}
    torch.save({"model": sd}, tmp_path / "swin.pth")
    model = _model((224, 224), 7)
    report = load_swin_pretrained(model, str(tmp_path / "swin.pth"))
    assert not report.missing and not report.unexpected and not report.resized
    x = torch.randn(2, 3, 224, 224)
    with torch.no_grad():
        ref = timm_swin.forward_features(x).flatten(1, 2)                 # (2, 49, C)
        ours = model.vision_encoder(x)                                     # (2, 50, C)
    torch.testing.assert_close(ours[:, 1:], ref, atol=1e-4, rtol=1e-4)


def test_swin_tables_resized_for_aptm_windows(timm_swin, tmp_path):
    torch.save(timm_swin.state_dict(), tmp_path / "swin.pth")
    model = _model((384, 128), 8)
    report = load_swin_pretrained(model, str(tmp_path / "swin.pth"))
    assert not report.missing and not report.unexpected
    assert len(report.resized) == 8      # every block: 13x13 -> 15x15 (stages 0-2), -> 7x7 (stage 3)
    tables = [model.vision_encoder.layers[s].blocks[0].attn.relative_position_bias_table.shape[0]
              for s in range(4)]
    assert tables == [225, 225, 225, 49]
    torch.testing.assert_close(model.vision_encoder.layers[1].blocks[0].mlp.fc1.weight,
                               timm_swin.layers[1].blocks[0].mlp.fc1.weight)
    # a constant table stays constant; the centre (offset 0) maps to the centre
    const = torch.full((169, 2), 0.5)
    torch.testing.assert_close(resize_bias_table(const, 8), torch.full((225, 2), 0.5))


def test_swin_bad_source(tmp_path):
    model = _model((384, 128), 8)
    with pytest.raises(UserError, match="not a file"):
        load_swin_pretrained(model, str(tmp_path / "missing" / "swin.pth"))


def _hf_bert(tmp_path, with_head=True):
    from transformers import BertConfig, BertForMaskedLM, BertModel
    t = named_config("aptm-tiny").text
    hf_cfg = BertConfig(vocab_size=t.vocab_size, hidden_size=t.hidden_size, num_hidden_layers=t.num_layers,
                        num_attention_heads=t.num_heads, intermediate_size=t.intermediate_size,
                        max_position_embeddings=t.max_position_embeddings)
    torch.manual_seed(3)
    model = (BertForMaskedLM if with_head else BertModel)(hf_cfg).eval()
    model.save_pretrained(tmp_path / "bert")
    return model


def test_bert_loads_by_name_and_matches_transformers(tmp_path):
    hf = _hf_bert(tmp_path)
    model = APTM.from_config(named_config("aptm-tiny")).eval()
    cross_before = model.text_encoder.bert.encoder.layer[2].crossattention.self.key.weight.clone()
    report = load_bert_pretrained(model, str(tmp_path / "bert"))
    assert all("crossattention" in k for k in report.missing)
    assert len(report.missing) == 2 * 10   # the fusion layers' new cross-attention
    assert torch.equal(model.text_encoder.bert.encoder.layer[2].crossattention.self.key.weight, cross_before)
    torch.testing.assert_close(model.text_encoder.cls.predictions.transform.dense.weight,
                               hf.cls.predictions.transform.dense.weight)
    ids = torch.tensor([[101, 1037, 2450, 1999, 0, 0]])
    mask = (ids != 0).long()
    with torch.no_grad():
        ours = model.text_encoder.encode_text(ids, mask)                   # layers 0..1
        ref = hf.bert(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states[2]
    torch.testing.assert_close(ours[:, :4], ref[:, :4], atol=1e-5, rtol=1e-5)


def test_bert_without_head_keeps_head_init(tmp_path):
    _hf_bert(tmp_path, with_head=False)
    model = APTM.from_config(named_config("aptm-tiny"))
    transform = model.text_encoder.cls.predictions.transform.dense.weight.clone()
    report = load_bert_pretrained(model, str(tmp_path / "bert"))
    assert any(k.startswith("cls.predictions.transform") for k in report.missing)
    assert torch.equal(model.text_encoder.cls.predictions.transform.dense.weight, transform)


def test_bert_size_mismatch_is_user_error(tmp_path):
    _hf_bert(tmp_path)
    cfg = named_config("aptm-tiny")
    cfg = dataclasses.replace(cfg, text=dataclasses.replace(cfg.text, intermediate_size=48))
    with pytest.raises(UserError, match="intermediate.dense.weight"):
        load_bert_pretrained(APTM.from_config(cfg), str(tmp_path / "bert"))


def test_bundled_minilm_loads_into_aptm_mini():
    cfg = named_config("aptm-mini")
    assert cfg.text == TextConfig(hidden_size=384, num_layers=6, fusion_layer=3, num_heads=12,
                                  intermediate_size=1536, pooling="mean", itm_pooling="mean")
    model = APTM.from_config(cfg)
    (report,) = load_pretrained(model)
    assert len(report.loaded) >= 6 * 16 + 5
    assert all(k.startswith(("bert.encoder.layer.3", "bert.encoder.layer.4", "bert.encoder.layer.5",
                             "cls.")) for k in report.missing)
    emb = model.text_encoder.bert.embeddings.word_embeddings.weight
    assert emb.abs().mean() > 0.01 and emb[0].abs().sum() > 0   # real weights, not our init


def test_aptm_mini_text_features_tell_captions_apart():
    """MiniLM's [CLS] after its first 3 layers is the same for every sentence; mean pooling is not."""
    cfg = named_config("aptm-mini")
    model = APTM.from_config(cfg).eval()
    load_pretrained(model)
    ids, mask = tokenize(build_tokenizer(cfg), ["a man in a red shirt and black pants",
                                                "a woman in a long white dress with a handbag"])
    with torch.no_grad():
        tokens, feat = model.encode_text(ids, mask)
        cls = torch.nn.functional.normalize(tokens[:, 0], dim=-1)
    assert float(cls[0] @ cls[1]) > 0.999          # why aptm-mini does not use [CLS]
    assert float(feat[0] @ feat[1]) < 0.98


@pytest.mark.parametrize("how", ["cls", "mean"])
def test_itm_head_reads_the_pooling_its_config_names(how, monkeypatch):
    """With a fusion [CLS] that is the same for every caption (MiniLM's), only mean pooling lets
    the ITM head tell two captions apart; "cls" (APTM, and checkpoints without the field) does not."""
    cfg = named_config("aptm-tiny")
    cfg = dataclasses.replace(cfg, text=dataclasses.replace(cfg.text, itm_pooling=how))
    model = APTM.from_config(cfg).eval()
    hidden = cfg.text.hidden_size
    fused = torch.randn(2, 5, hidden, generator=torch.Generator().manual_seed(0))
    fused[:, 0] = 1.0                                        # one [CLS] for both captions
    monkeypatch.setattr(model, "fuse", lambda text, mask, image: fused)
    mask = torch.ones(2, 5, dtype=torch.long)
    with torch.no_grad():
        logits = model.itm_logits(torch.zeros(2, 5, hidden), mask, torch.zeros(2, 3, cfg.vision.width))
    assert torch.allclose(logits[0], logits[1]) == (how == "cls")


def test_old_config_files_keep_the_cls_itm_head():
    assert TextConfig().itm_pooling == "cls" and named_config("aptm-base").text.itm_pooling == "cls"


def test_tokenize_follows_the_original_convention():
    tok = build_tokenizer(named_config("aptm-tiny"))
    ids, mask = tokenize(tok, ["A Woman in a RED shirt", "man " * 100])
    assert ids.shape == (2, 56) and ids[:, 0].tolist() == [101, 101]
    assert 102 not in ids.tolist()[0] and 102 not in ids.tolist()[1]          # no [SEP]
    assert ids[0, 1:7].tolist() == tok("a woman in a red shirt", add_special_tokens=False)["input_ids"]
    assert mask[0].sum() == 7 and ids[0, 7:].eq(0).all() and mask[1].all()
    short_ids, _ = tokenize(tok, ["a man"])
    assert short_ids.shape == (1, 3)        # padded to the longest of the batch, not to 56
