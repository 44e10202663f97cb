"""Converter: a checkpoint laid out like the released APTM_Retrieval one (names, aliases, buffers,
{"model", "config"}), aptm-tiny sized, converts to a folder that reproduces the model exactly."""
from __future__ import annotations

import argparse
import dataclasses

import pytest
import torch
from typer.testing import CliRunner

from aptm_train.cli import app
from aptm_train.model.aptm import APTM
from aptm_train.model.checkpoint import load_model
from aptm_train.model.config import named_config
from aptm_train.model.convert import convert_checkpoint, infer_config, read_released
from mals_gen.errors import UserError


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    """(path, source model): torch.save({'model': state_dict, 'config': yaml dict}) as the original does."""
    torch.manual_seed(0)
    model = APTM.from_config(named_config("aptm-tiny")).eval()
    sd = dict(model.state_dict())        # holds both names of each tied pair, like the original
    sd["text_encoder.bert.embeddings.position_ids"] = torch.arange(64)[None]
    cfg = {"vision_config": "configs/config_swinB_384.json", "text_config": "configs/config_bert.json",
           "embed_dim": 16, "batch_size_train": 120, "lr": 1e-4}
    path = tmp_path_factory.mktemp("released") / "checkpoint_best.pth"
    torch.save({"model": sd, "config": cfg}, path)
    return path, model


def test_infer_config_from_shapes(released):
    path, _model = released
    sd = torch.load(path, weights_only=True)["model"]
    cfg = infer_config(sd, text_heads=2)
    tiny = named_config("aptm-tiny")
    assert cfg.vision == dataclasses.replace(tiny.vision, drop_path_rate=cfg.vision.drop_path_rate)
    assert cfg.text == tiny.text and cfg.embed_dim == tiny.embed_dim


def test_convert_reproduces_the_model(released, tmp_path):
    path, model = released
    messages = []
    report = convert_checkpoint(path, tmp_path / "out", text_heads=2, echo=messages.append)
    assert report.missing == [] and report.unexpected == []
    assert "text_encoder.bert.embeddings.position_ids" in report.dropped
    assert (tmp_path / "out" / "conversion.json").is_file()
    conv = load_model(tmp_path / "out").eval()
    pixels = torch.randn(2, 3, 384, 128)
    ids = torch.tensor([[101, 1037, 2450, 0], [101, 1037, 2158, 2007]])
    mask = (ids != 0).long()
    with torch.no_grad():
        a_tok, a_feat = model.encode_image(pixels)
        b_tok, b_feat = conv.encode_image(pixels)
        assert torch.equal(a_feat, b_feat)
        assert torch.equal(model.mlm_logits(ids, mask, a_tok), conv.mlm_logits(ids, mask, b_tok))
        assert torch.equal(model.encode_text(ids, mask)[1], conv.encode_text(ids, mask)[1])
    assert torch.equal(model.temp, conv.temp)


def test_convert_reports_missing_and_unexpected(released, tmp_path):
    path, _ = released
    obj = torch.load(path, weights_only=True)
    del obj["model"]["itm_head.3.bias"]
    obj["model"]["some.extra.weight"] = torch.zeros(3)
    torch.save(obj, tmp_path / "edited.pth")
    report = convert_checkpoint(tmp_path / "edited.pth", tmp_path / "out", text_heads=2, echo=lambda m: None)
    assert report.missing == ["itm_head.3.bias"] and report.unexpected == ["some.extra.weight"]


def test_wrong_image_size_is_caught_by_the_stored_masks(released, tmp_path):
    path, _ = released
    with pytest.raises(UserError, match="--image-size"):
        convert_checkpoint(path, tmp_path / "out", text_heads=2, image_size=(256, 128), echo=lambda m: None)


def test_untrusted_pickle_needs_the_flag(released, tmp_path):
    path, _ = released
    obj = torch.load(path, weights_only=True)
    obj["config"] = argparse.Namespace(lr=1e-4)          # not loadable with weights_only
    torch.save(obj, tmp_path / "pickled.pth")
    runner = CliRunner()
    result = runner.invoke(app, ["convert", str(tmp_path / "pickled.pth"), "--out", str(tmp_path / "o1"),
                                 "--text-heads", "2"])
    assert result.exit_code != 0 and isinstance(result.exception, UserError)
    assert "--trust-pickle" in str(result.exception)
    result = runner.invoke(app, ["convert", str(tmp_path / "pickled.pth"), "--out", str(tmp_path / "o2"),
                                 "--text-heads", "2", "--trust-pickle"])
    assert result.exit_code == 0, result.output
    assert "warning: loading" in result.output and "0 missing, 0 unexpected" in result.output
    assert (tmp_path / "o2" / "model.safetensors").is_file()


@pytest.mark.parametrize("trust", [False, True])
def test_files_that_are_not_checkpoints_never_suggest_trust_pickle(released, tmp_path, trust):
    """A random file, a text file and a truncated checkpoint: one line each, no --trust-pickle hint."""
    path, _ = released
    (tmp_path / "random.pth").write_bytes(bytes(range(256)) * 20)
    (tmp_path / "notes.pth").write_text("hello world\n")
    (tmp_path / "cut.pth").write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    expected = {"random.pth": "is not a PyTorch checkpoint", "notes.pth": "is not a PyTorch checkpoint",
                "cut.pth": "is truncated or damaged"}
    for name, message in expected.items():
        with pytest.raises(UserError) as info:
            read_released(tmp_path / name, trust_pickle=trust, echo=lambda _: None)
        assert message in str(info.value) and "--trust-pickle" not in str(info.value), str(info.value)
