"""`mals caption`: prompt, tiny random BLIP and tiny random LLaVA captioners on a small fixture run."""
from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mals_gen.caption import captioners
from mals_gen.caption.stage import CaptionConfig, run_caption
from mals_gen.errors import UserError
from mals_gen.plan import RunPlan

from ._run_fixtures import write_run

REPO = Path(__file__).resolve().parents[1]
WORDS = ["a", "picture", "of", "the", "person", "woman", "man", "with", "red", "blue", "black", "white",
         "shirt", "pants", "bag", "backpack", "hat", "short", "long", "hair", "wearing", "and", "in",
         "describe", "jacket", "shoes"]
FAILED = 2      # generate status "failed": no image
BROKEN = 6      # status "ok" but the tar member is not an image


# ---------------------------------------------------------------------------------------------
# Fixture run: plan.json and finished plan and generate parts (tar of KEY.jpg).

def _jpeg(index: int) -> bytes:
    rng = np.random.default_rng(index)
    pixels = rng.integers(0, 256, size=(64, 32, 3), dtype=np.uint8)  # (H, W, 3)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG")
    return buf.getvalue()


def make_run(root: Path, backend: str = "sketch", n: int = 10, part_size: int = 4) -> RunPlan:
    samples = [{"prompt": f"a person number {i} in a {['red', 'blue'][i % 2]} shirt",
                "image": None if i == FAILED else b"not a jpeg" if i == BROKEN else _jpeg(i)} for i in range(n)]
    return write_run(root, samples, part_size=part_size, seed=7, backend=backend, size=(64, 32),
                     stages=("plan", "generate"))


def read_captions(run: Path) -> pa.Table:
    files = sorted((run / "caption").glob("part-*.parquet"))
    return pa.concat_tables([pq.read_table(f) for f in files])


# ---------------------------------------------------------------------------------------------
# Tiny random models saved to a local folder.

@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models spend their time in thread hand-offs; on shared cores one thread is ~20x faster."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def tiny_blip(tmp_path_factory) -> Path:
    import torch
    from transformers import (
        BertTokenizer,
        BlipConfig,
        BlipForConditionalGeneration,
        BlipImageProcessor,
        BlipProcessor,
    )

    folder = tmp_path_factory.mktemp("tiny-blip")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "[DEC]", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n")
    tokenizer = BertTokenizer(str(folder / "vocab.txt"), bos_token="[DEC]")
    processor = BlipProcessor(BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer)
    text = {"vocab_size": len(vocab), "hidden_size": 32, "encoder_hidden_size": 32, "intermediate_size": 37,
                "num_hidden_layers": 1, "num_attention_heads": 2, "max_position_embeddings": 96,
                "bos_token_id": vocab.index("[DEC]"), "sep_token_id": 3, "eos_token_id": 3, "pad_token_id": 0}
    vision = {"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 2,
                  "image_size": 32, "patch_size": 16, "projection_dim": 32, "initializer_range": 0.5}
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(BlipConfig(text_config=text, vision_config=vision,
                                                    projection_dim=32, image_text_hidden_size=32))
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory) -> Path:
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    folder = tmp_path_factory.mktemp("tiny-llava")
    vocab = {w: i for i, w in enumerate(["<pad>", "<unk>", "<s>", "</s>", "<image>", "USER:",
                                         "ASSISTANT:", *WORDS])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", unk_token="<unk>",
                                        bos_token="<s>", eos_token="</s>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<image>"]})
    template = ("{% for m in messages %}USER: {% for c in m['content'] %}{% if c['type'] == 'image' %}"
                "<image> {% else %}{{ c['text'] }} {% endif %}{% endfor %}{% endfor %}"
                "{% if add_generation_prompt %}ASSISTANT:{% endif %}")
    processor = LlavaProcessor(CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
                               tokenizer, patch_size=16, vision_feature_select_strategy="default",
                               chat_template=template, num_additional_image_tokens=1)
    config = LlavaConfig(
        vision_config={"model_type": "clip_vision_model", "hidden_size": 32, "intermediate_size": 37,
                           "num_hidden_layers": 1, "num_attention_heads": 2, "image_size": 32, "patch_size": 16,
                           "projection_dim": 32},
        text_config={"model_type": "llama", "vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37,
                         "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 2,
                         "max_position_embeddings": 256, "bos_token_id": 2, "eos_token_id": 3, "pad_token_id": 0},
        image_token_id=vocab["<image>"], vision_feature_select_strategy="default", vision_feature_layer=-1)
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


# ---------------------------------------------------------------------------------------------

def test_sketch_run_defaults_to_prompt_captions(tmp_path):
    plan = make_run(tmp_path, backend="sketch")
    summary = run_caption(tmp_path, CaptionConfig(), progress=False, echo=None)
    table = read_captions(tmp_path).to_pylist()
    plan_rows = pq.read_table(tmp_path / "plan" / "part-00000.parquet").to_pylist()
    assert [r["key"] for r in table] == [plan.key(i) for i in range(plan.n)]
    assert table[0]["caption"] == plan_rows[0]["prompt"] and table[0]["captioner"] == "prompt"
    assert table[FAILED]["caption"] == ""
    assert table[BROKEN]["caption"]  # the prompt captioner never opens the image
    assert json.loads(table[0]["caption_settings"]) == {"source": "plan prompt"}
    stats = json.loads((tmp_path / "state" / "caption" / "stats.json").read_text())
    assert stats["dropped"] == {"no_image": 1} and stats["kept"] == plan.n - 1
    assert summary.parts_done_now == 3
    assert run_caption(tmp_path, CaptionConfig(), progress=False, echo=None).parts_skipped == 3


def test_blip_from_local_folder(tmp_path, tiny_blip):
    plan = make_run(tmp_path, backend="diffusers")
    cfg = CaptionConfig(model=str(tiny_blip), batch_size=3, max_new_tokens=8)
    run_caption(tmp_path, cfg, progress=False, echo=None)
    rows = read_captions(tmp_path).to_pylist()
    assert len(rows) == plan.n and {r["captioner"] for r in rows} == {f"blip:{tiny_blip}"}
    good = [r for i, r in enumerate(rows) if i not in (FAILED, BROKEN)]
    assert all(r["caption"] and set(r["caption"].split()) <= set(WORDS) for r in good)
    assert rows[FAILED]["caption"] == "" and rows[BROKEN]["caption"] == ""
    settings = json.loads(rows[0]["caption_settings"])
    assert settings["num_beams"] == 3 and settings["no_repeat_ngram_size"] == 3
    assert settings["max_new_tokens"] == 8 and settings["prefix"] == "a picture of"
    assert settings["device"] == "cpu" and settings["dtype"] == "float32" and settings["model"] == str(tiny_blip)
    stats = json.loads((tmp_path / "state" / "caption" / "stats.json").read_text())
    assert stats["dropped"] == {"no_image": 1, "bad_image": 1}


def test_blip_caption_strips_prefix_and_mals_preset(tmp_path, tiny_blip):
    captioner = captioners.BlipCaptioner(str(tiny_blip), {**_mals_settings(), "max_new_tokens": 32},
                                         device="cpu")
    item = captioners.CaptionItem("k", "", 1, Image.open(io.BytesIO(_jpeg(1))).convert("RGB"))
    text = captioner.caption([item])[0].text
    assert text and not text.startswith("a picture of")
    assert len(text.split()) >= 20  # forced to >= 30 new tokens; a few may be special tokens
    assert captioners.strip_prefix("A picture of  a man in red", "a picture of") == "a man in red"


def _mals_settings() -> dict:
    from mals_gen.caption.presets import preset_settings
    return preset_settings("mals", "blip")


@pytest.mark.parametrize("which", ["prompt", "blip"])
def test_interrupted_run_resumes_to_same_result(tmp_path, tiny_blip, monkeypatch, which):
    cfg = CaptionConfig(captioner=which, model=str(tiny_blip), batch_size=2, max_new_tokens=6)
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    for run in (clean, killed):
        make_run(run, backend="diffusers")
    run_caption(clean, cfg, progress=False, echo=None)

    cls = captioners.PromptCaptioner if which == "prompt" else captioners.BlipCaptioner
    original, calls = cls.caption, []

    def dying(self, items):  # "killed" during the second batch of part 1
        calls.append(len(items))
        if len(calls) == 4:
            raise KeyboardInterrupt
        return original(self, items)

    monkeypatch.setattr(cls, "caption", dying)
    with pytest.raises(KeyboardInterrupt):
        run_caption(killed, cfg, progress=False, echo=None)
    monkeypatch.setattr(cls, "caption", original)
    assert sorted(p.name for p in (killed / "state" / "caption").glob("part-*.done.json")) == ["part-00000.done.json"]
    # A SIGKILL leaves the temporary file of the part in flight; the rerun must clean it up.
    (killed / "caption" / "part-00001.parquet.tmp-99999").write_bytes(b"half a parquet")
    summary = run_caption(killed, cfg, progress=False, echo=None)
    assert summary.parts_skipped == 1 and summary.parts_done_now == 2
    assert read_captions(killed).equals(read_captions(clean))
    assert not list((killed / "caption").glob("*.tmp-*"))


def test_vlm_draws_one_style_instruction_per_sample(tmp_path, tiny_llava):
    plan = make_run(tmp_path, backend="diffusers")
    styles = ["describe the person", "describe the shirt and pants", "describe the hair", "describe shoes"]
    path = tmp_path / "styles.txt"
    path.write_text("# a comment\n" + "\n".join(styles) + "\n\n")
    cfg = CaptionConfig(captioner="vlm", model=str(tiny_llava), instructions_file=str(path), batch_size=3,
                        max_new_tokens=6)
    run_caption(tmp_path, cfg, progress=False, echo=None)
    rows = read_captions(tmp_path).to_pylist()
    good = [(i, r) for i, r in enumerate(rows) if i not in (FAILED, BROKEN)]
    assert {r["captioner"] for _, r in good} == {f"vlm:{tiny_llava}"}
    assert all(r["caption"] and "ASSISTANT:" not in r["caption"].split()[:1] for _, r in good)
    drawn = [json.loads(r["caption_settings"])["instruction"] for _, r in good]
    assert drawn == [captioners.draw_instruction(styles, plan.sample_seed(i)) for i, _ in good]
    assert len(set(drawn)) > 1


def test_device_and_dtype_resolution():
    import torch

    from mals_gen.devices import resolve_device, resolve_dtype

    if torch.cuda.is_available():
        assert resolve_device("cuda").startswith("cuda:")
    else:
        with pytest.raises(UserError, match="pass --device cpu"):
            resolve_device("cuda")
    assert resolve_dtype("auto", "cpu") == torch.float32 and resolve_dtype("bf16", "cpu") == torch.bfloat16
    with pytest.raises(UserError, match="unknown dtype"):
        resolve_dtype("fp8", "cpu")


def test_shipped_style_file_is_readable():
    styles = captioners.read_instructions(REPO / "pipelines" / "caption_styles.txt")
    assert len(styles) >= 40 and len(set(styles)) == len(styles)


def test_unloadable_model_is_one_line_naming_the_flag(tmp_path):
    make_run(tmp_path, backend="diffusers")
    with pytest.raises(UserError, match=r"cannot load captioner model '.*missing' \(no hub access and no "
                                        r"such local folder\): pass --model FOLDER or --captioner prompt"):
        run_caption(tmp_path, CaptionConfig(model=str(tmp_path / "missing")), progress=False, echo=None)
    assert not list((tmp_path / "caption").glob("part-*"))


def test_cli_default_hub_model_offline_fails_in_one_line(tmp_path, monkeypatch, capsys):
    import huggingface_hub.constants

    from mals_gen.cli import main
    make_run(tmp_path, backend="diffusers")
    # What HF_HUB_OFFLINE=1 does, set in-process (the env var is read once at import).
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.delenv("MALS_DEBUG", raising=False)
    monkeypatch.setattr(sys, "argv", ["mals", "caption", str(tmp_path), "--no-progress"])
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.strip() == (
        "mals: error: cannot load captioner model 'Salesforce/blip-image-captioning-large' (no hub access "
        "and no such local folder): pass --model FOLDER or --captioner prompt")


def test_cli_runs_prompt_captioner_and_rejects_bad_settings(tmp_path):
    from typer.testing import CliRunner

    from mals_gen.cli import app
    make_run(tmp_path, backend="sketch")
    runner = CliRunner()
    result = runner.invoke(app, ["caption", str(tmp_path), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "caption: 3 part(s) done now" in result.output
    assert read_captions(tmp_path).column("captioner").to_pylist() == ["prompt"] * 10
    bad = runner.invoke(app, ["caption", str(tmp_path), "--set", "beams=3"])
    assert isinstance(bad.exception, UserError) and "unknown key 'beams'" in str(bad.exception)
    bad = runner.invoke(app, ["caption", str(tmp_path), "--captioner", "vlm", "--preset", "mals"])
    assert isinstance(bad.exception, UserError) and "--preset default" in str(bad.exception)
