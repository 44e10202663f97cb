"""`mals caption` with mined styles, several captions per image and the text-only rewrite captioner."""
from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from mals_gen.caption.stage import CaptionConfig, caption_seed, run_caption
from mals_gen.contract import caption_entries
from mals_gen.errors import UserError
from mals_gen.styles.mine import Style, draw_style, draw_template, style_templates, write_styles
from mals_gen.testing import save_tiny_causal_lm

from ._run_fixtures import write_run
from .test_caption import (  # noqa: F401
    BROKEN,
    FAILED,
    WORDS,
    _jpeg,
    make_run,
    one_torch_thread,
    read_captions,
    tiny_llava,
)

STYLES = [Style(0, "the [person] is wearing a [colour] [upper] .", ("The man is wearing a red shirt.",), 5),
          Style(1, "[person] , [colour] [upper] , walking .", ("Woman, blue top, walking.",), 3),
          Style(2, "this [person] has a [colour] [upper] on .", ("This girl has a black coat on.",), 2)]


@pytest.fixture()
def style_file(tmp_path):
    return write_styles(STYLES, tmp_path / "styles.json")


def _good(rows):
    return [(i, r) for i, r in enumerate(rows) if i not in (FAILED, BROKEN)]


def test_prompt_captioner_follows_drawn_styles(tmp_path, style_file):
    plan = make_run(tmp_path / "run")
    run_caption(tmp_path / "run", CaptionConfig(styles=str(style_file)), progress=False, echo=None)
    rows = read_captions(tmp_path / "run").to_pylist()
    for i, row in _good(rows):
        (entry,) = row["captions"]
        style = draw_style(STYLES, plan.sample_seed(i))
        template = draw_template(style_templates(style), plan.sample_seed(i))
        assert entry["style"] == style.id and entry["captioner"] == "prompt" and entry["instruction"] == template
        colour = ["red", "blue"][i % 2]
        assert row["caption"] == entry["text"] and f"{colour} shirt" in entry["text"]
    assert len({r["caption"].split()[0] for _, r in _good(rows)}) > 1       # not one sentence shape
    assert rows[FAILED]["captions"] == [] and rows[FAILED]["caption"] == ""


def test_several_captions_per_image_keep_their_provenance(tmp_path, style_file, tiny_llava):  # noqa: F811
    plan = make_run(tmp_path / "run", backend="diffusers")
    cfg = CaptionConfig(captioners=("prompt", f"vlm={tiny_llava}"), captions_per_image=3, styles=str(style_file),
                        batch_size=3, max_new_tokens=4)
    run_caption(tmp_path / "run", cfg, progress=False, echo=None)
    rows = read_captions(tmp_path / "run").to_pylist()
    for i, row in _good(rows):
        entries = row["captions"]
        assert [e["captioner"] for e in entries if e["text"]] == [c for c in ["prompt", f"vlm:{tiny_llava}", "prompt"]
                                                                  if c == "prompt" or len(entries) == 3]
        seeds = [caption_seed(plan.sample_seed(i), j) for j in range(3)]
        assert [e["style"] for e in entries if e["captioner"] == "prompt"] == [
            draw_style(STYLES, seeds[0]).id, draw_style(STYLES, seeds[2]).id]
        vlm = [e for e in entries if e["captioner"].startswith("vlm:")]
        assert all(e["instruction"] and STYLES[e["style"]].template in e["instruction"] for e in vlm)
    settings = json.loads(rows[0]["caption_settings"])
    assert settings["captions_per_image"] == 3 and settings["styles"] == 3
    assert caption_entries(rows[0]) == rows[0]["captions"]


def test_rewrite_captioner_restyles_the_first_caption(tmp_path, style_file):
    model = save_tiny_causal_lm(tmp_path / "lm", WORDS)
    make_run(tmp_path / "run")
    cfg = CaptionConfig(captioners=("prompt", f"rewrite={model}"), captions_per_image=2, styles=str(style_file),
                        max_new_tokens=5, batch_size=4)
    run_caption(tmp_path / "run", cfg, progress=False, echo=None)
    rows = read_captions(tmp_path / "run").to_pylist()
    for _, row in _good(rows):
        first, *rest = row["captions"]
        assert first["captioner"] == "prompt"
        assert all(e["captioner"] == f"rewrite:{model}" and e["style"] in (0, 1, 2) for e in rest)
    assert any(len(r["captions"]) == 2 for _, r in _good(rows))   # random weights may emit only special tokens


def test_rewrite_request_names_the_style_and_the_source(tmp_path, style_file, monkeypatch):
    from mals_gen.caption import rewrite

    seen = []
    monkeypatch.setattr(rewrite.RewriteCaptioner, "_prompts", lambda self, reqs: seen.extend(reqs) or reqs)
    model = save_tiny_causal_lm(tmp_path / "lm", WORDS, chat=False)
    captioner = rewrite.RewriteCaptioner(str(model), {"num_beams": 1, "max_new_tokens": 2, "min_new_tokens": 0,
                                                      "repetition_penalty": 1.0, "length_penalty": 1.0,
                                                      "no_repeat_ngram_size": 0, "do_sample": False},
                                         ["be brief"], device="cpu", dtype="float32", styles=STYLES)
    from mals_gen.caption.captioners import CaptionItem
    captioner.caption([CaptionItem("k", "a man in a red shirt", 5, source="a man wearing red")])
    assert "a man wearing red" in seen[0] and draw_style(STYLES, 5).template in seen[0]


def test_styles_need_a_captioner_that_follows_them(tmp_path, style_file):
    make_run(tmp_path / "run", backend="diffusers")
    with pytest.raises(UserError, match="BLIP cannot"):
        run_caption(tmp_path / "run", CaptionConfig(captioner="blip", styles=str(style_file)), progress=False, echo=None)
    with pytest.raises(UserError, match="captions_per_image"):
        run_caption(tmp_path / "run", CaptionConfig(captions_per_image=0), progress=False, echo=None)


def test_old_caption_rows_still_read():
    assert caption_entries({"caption": "a man", "captioner": "blip:x"}) == [
        {"text": "a man", "captioner": "blip:x", "style": -1, "instruction": None}]
    assert caption_entries({"caption": "", "captions": None}) == []


def test_cli_styles_and_captions_per_image(tmp_path, style_file):
    from typer.testing import CliRunner

    from mals_gen.cli import app

    make_run(tmp_path / "run")
    res = CliRunner().invoke(app, ["caption", str(tmp_path / "run"), "--styles", str(style_file),
                                   "--captions-per-image", "2", "--no-progress"])
    assert res.exit_code == 0, res.output
    table = pq.read_table(tmp_path / "run" / "caption" / "part-00000.parquet").to_pylist()
    assert [len(r["captions"]) for r in table] == [2, 2, 0, 2]      # sample 2 has no image


def test_attrs_combine_every_caption_and_shards_carry_them_all(tmp_path, style_file):
    """caption (2 per image) -> attrs (mined per caption, combined, agreement) -> shard (both captions)."""
    import pandas as pd

    from mals_gen.attrs.stage import AttrsConfig, run_attrs
    from mals_gen.shard.select import ShardConfig, run_shard

    run = tmp_path / "run"
    make_run(run, n=5)                                   # samples 0-4: no broken image to shard
    run_caption(run, CaptionConfig(styles=str(style_file), captions_per_image=2), progress=False, echo=None)
    run_attrs(run, AttrsConfig(), progress=False, echo=None)
    attrs = pd.concat([pd.read_parquet(p) for p in sorted((run / "attrs").glob("part-*.parquet"))])
    with_captions = attrs[attrs["attr_source"] == "rules-v1:captions"]
    assert len(with_captions) == 4                      # every sample but the one without an image
    assert with_captions["caption_agreement"].between(0.99, 1.0).all()    # same prompt, two styles
    run_shard(run, tmp_path / "shards", ShardConfig(samples_per_shard=20, workers=1, height=64),
              progress=False, echo=None)
    manifest = pd.read_parquet(tmp_path / "shards" / "manifest.parquet")
    assert manifest["captions"].map(len).eq(2).all() and len(manifest) >= 1
    first = manifest.iloc[0]
    assert first["captions"][0] == first["caption"] and first["captions"][0] != first["captions"][1]


def test_styled_prompt_captions_mine_as_the_plain_ones(tmp_path, style_file, capsys):
    """scripts/attrs_agreement.py over one run captioned without and with styles: same labels."""
    from mals_gen.attrs.stage import AttrsConfig, run_attrs

    prompts = ["A man in a red shirt and blue jeans. He carries a black backpack on his back.",
               "a woman walking on the street, long white dress with short sleeves, long hair, CCTV footage",
               "The young woman has short hair and is wearing a gray hoodie and black shorts.",
               "A boy wearing a yellow t-shirt, green pants and white sneakers. He has a blue cap on his head."]
    write_run(tmp_path / "plain", [{"prompt": p, "image": _jpeg(i)} for i, p in enumerate(prompts)], seed=7,
              size=(64, 32), stages=("plan", "generate"))
    shutil.copytree(tmp_path / "plain", tmp_path / "styled")
    for name, styles in (("plain", ""), ("styled", str(style_file))):
        run_caption(tmp_path / name, CaptionConfig(styles=styles), progress=False, echo=None)
        run_attrs(tmp_path / name, AttrsConfig(), progress=False, echo=None)
    spec = importlib.util.spec_from_file_location(
        "attrs_agreement", Path(__file__).resolve().parents[1] / "scripts" / "attrs_agreement.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main([str(tmp_path / "plain"), str(tmp_path / "styled")]) == 0
    out = capsys.readouterr().out
    assert "images 4; identical labels 1.0000" in out and "decided by both but different: 0 slots" in out
    styled = [r["caption"] for r in read_captions(tmp_path / "styled").to_pylist()]
    assert styled != prompts and all("red shirt" in c for c in styled[:1])
