"""`mals filter`: each check rejects what it should with its reason; resume and ranks give the same result."""
from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mals_gen.backends.sketch import render_person
from mals_gen.contract import ATTR, NUM_MALS_ATTRIBUTES
from mals_gen.errors import UserError
from mals_gen.filter import checks as C
from mals_gen.filter import stage as filter_stage
from mals_gen.filter.dedup import PHashIndex, hamming, phash
from mals_gen.filter.detectors import HogDetector, person_box
from mals_gen.filter.stage import FilterConfig, run_filter
from mals_gen.manifest import read_joined_part
from mals_gen.ranks import Ranks

from ._run_fixtures import write_run

H, W = 256, 128
CAPTION = "a young woman with long hair wears a red coat and blue jeans"


def sketch(seed: int) -> np.ndarray:
    return np.asarray(render_person(np.full(NUM_MALS_ATTRIBUTES, -1, np.int8), np.random.default_rng(seed), H, W)[0])


def blank() -> np.ndarray:
    """A nearly flat frame (a faint ramp keeps the JPEG above the tiny-file limit)."""
    ramp = np.linspace(120, 126, W, dtype=np.float32)[None, :, None]
    return np.broadcast_to(ramp + np.random.default_rng(0).normal(0, 1, (H, W, 3)), (H, W, 3)).clip(0, 255).astype(np.uint8)


def texture() -> np.ndarray:
    """Smooth colourful noise: sharp, colourful, and no person in it."""
    noise = np.random.default_rng(0).integers(0, 255, (64, 32, 3), dtype=np.uint8)
    return cv2.resize(noise, (W, H), interpolation=cv2.INTER_CUBIC)


def jpeg(rgb: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "JPEG", quality=92)
    return buf.getvalue()


def make_run(run: Path, samples: list[dict], part_size: int = 4, backend: str = "sketch") -> Path:
    """Write plan.json and finished plan/generate/caption/attrs parts for `samples`.

    Each sample: {"image": (H, W, 3) array or None (generation failed), "caption": str,
    "prompt_attrs": 27 ints, "attrs": 27 ints}."""
    encoded = [{**s, "image": None if s["image"] is None else jpeg(s["image"])} for s in samples]
    write_run(run, encoded, part_size=part_size, backend=backend, size=(H, W),
              stages=("plan", "generate", "caption", "attrs"))
    return run


def attrs_with(**labels) -> list[int]:
    out = [-1] * NUM_MALS_ATTRIBUTES
    for name, value in labels.items():
        out[ATTR[name]] = value
    return out


def fixture_samples() -> list[dict]:
    """10 samples over 3 parts of 4: one of each failure, a duplicate within and across parts."""
    person = sketch(1)
    grey = np.repeat(cv2.cvtColor(sketch(2), cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    s = [
        {"image": person, "caption": CAPTION},                                   # 0 kept
        {"image": blank(), "caption": CAPTION},                                  # 1 blank
        {"image": grey, "caption": CAPTION},                                     # 2 greyscale
        {"image": texture(), "caption": CAPTION},                                # 3 no person
        {"image": person.copy(), "caption": CAPTION},                            # 4 duplicate of 0 (next part)
        {"image": sketch(3), "caption": "a person"},                             # 5 caption too short
        {"image": None, "caption": CAPTION},                                     # 6 generation failed
        {"image": sketch(4), "caption": CAPTION,                                 # 7 attribute disagreement
         "prompt_attrs": attrs_with(gender=0, hat=0, backpack=1), "mined_attrs": attrs_with(gender=1, hat=1, backpack=0)},
        {"image": sketch(5), "caption": CAPTION},                                # 8 kept
        {"image": sketch(5), "caption": CAPTION + " standing"},                  # 9 duplicate of 8 (same part)
    ]
    return s


EXPECTED = {0: "ok", 1: "blank", 2: "greyscale", 3: "no_person", 4: "duplicate", 5: "caption_too_short",
            6: "generation_failed", 7: "attr_disagreement", 8: "ok", 9: "duplicate"}


def read_filter(run: Path) -> list[dict]:
    files = sorted((run / "filter").glob("part-*.parquet"))
    return [row for f in files for row in pq.read_table(f).to_pylist()]


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("fixture") / "run", fixture_samples())


def fresh(base_run: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(base_run, run)
    return run


def test_each_check_rejects_with_its_reason(base_run, tmp_path):
    run = fresh(base_run, tmp_path)
    summary = run_filter(run, FilterConfig(), progress=False, echo=None)
    rows = read_filter(run)
    assert [r["reason"] for r in rows] == [EXPECTED[i] for i in range(10)]
    assert [r["keep"] for r in rows] == [EXPECTED[i] == "ok" for i in range(10)]
    assert rows[4]["duplicate_of"] == rows[0]["key"] and rows[9]["duplicate_of"] == rows[8]["key"]
    kept = rows[0]
    assert kept["n_persons"] == 1 and kept["clip_score"] is None      # sketch run: no CLIP by default
    x0, y0, x1, y1 = kept["person_box"]
    assert 0 <= x0 < x1 <= W and 0 <= y0 < y1 <= H
    assert rows[6]["person_box"] is None and rows[6]["phash"] is None
    stats = json.loads((run / "state" / "filter" / "stats.json").read_text())
    assert stats["kept"] == 2 and stats["dropped"]["duplicate"] == 2 and stats["parts_total"] == 3
    assert summary.parts_done_now == 3
    assert json.loads((run / "state" / "filter" / "config.json").read_text())["detector"] == "hog"


def _interrupt_once(monkeypatch, target, name, at_call: int):
    real = getattr(target, name)
    calls = {"n": 0}

    def flaky(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == at_call:
            raise KeyboardInterrupt("killed")
        return real(*args, **kwargs)
    monkeypatch.setattr(target, name, flaky)


@pytest.mark.parametrize("where", ["checks", "dedup"])
def test_kill_and_rerun_equals_uninterrupted(base_run, tmp_path, monkeypatch, where):
    straight = fresh(base_run, tmp_path / "a")
    run_filter(straight, FilterConfig(), progress=False, echo=None)
    run = fresh(base_run, tmp_path / "b")
    if where == "checks":
        _interrupt_once(monkeypatch, filter_stage, "_part_stats", at_call=2)      # dies writing part 1's checks
    else:
        _interrupt_once(monkeypatch, filter_stage._Dedup, "_checked", at_call=3)  # dies inside dedup of part 1
    with pytest.raises(KeyboardInterrupt):
        run_filter(run, FilterConfig(), progress=False, echo=None)
    monkeypatch.undo()
    run_filter(run, FilterConfig(), progress=False, echo=None)
    assert read_filter(run) == read_filter(straight)
    assert not list(run.rglob("*.tmp-*"))


def test_two_ranks_in_any_order_equal_one(base_run, tmp_path):
    one = fresh(base_run, tmp_path / "one")
    run_filter(one, FilterConfig(), progress=False, echo=None)
    run = fresh(base_run, tmp_path / "two")
    cfg = FilterConfig(rank_wait_s=0)
    s1 = run_filter(run, cfg, ranks=Ranks(1, 2), progress=False, echo=None)   # rank 1 first: part 1 must wait
    assert s1.parts_waiting == [1]
    run_filter(run, cfg, ranks=Ranks(0, 2), progress=False, echo=None)
    run_filter(run, cfg, ranks=Ranks(1, 2), progress=False, echo=None)
    assert read_filter(run) == read_filter(one)


def test_rerun_with_other_thresholds_is_refused(base_run, tmp_path):
    run = fresh(base_run, tmp_path)
    run_filter(run, FilterConfig(), progress=False, echo=None)
    with pytest.raises(UserError, match="min_blur|thresholds"):
        run_filter(run, FilterConfig.from_mapping({"min_blur": 99.0}), progress=False, echo=None)


def test_config_accepts_flat_and_nested_thresholds():
    flat = FilterConfig.from_mapping({"min_blur": 5, "detector": "none"})
    nested = FilterConfig.from_mapping({"thresholds": {"min_blur": 5}, "detector": "none"})
    assert flat == nested and flat.thresholds.min_blur == 5.0
    with pytest.raises(UserError, match="unknown key"):
        FilterConfig.from_mapping({"min_bluur": 5})


def test_attrs_stage_is_required(tmp_path):
    run = make_run(tmp_path / "run", fixture_samples()[:2], part_size=2)
    shutil.rmtree(run / "attrs")
    with pytest.raises(UserError, match="mals attrs"):
        run_filter(run, FilterConfig(), progress=False, echo=None)


# ----------------------------------------------------------------------------- pure checks
def test_pure_checks():
    assert C.check_file_size(100, 1024) == (False, "tiny_file")
    assert C.check_blank(C.pixel_std(blank()), 4.0) == (False, "blank")
    assert C.check_blank(C.pixel_std(sketch(1)), 4.0) == (True, "ok")
    grey = np.repeat(cv2.cvtColor(sketch(2), cv2.COLOR_RGB2GRAY)[..., None], 3, axis=2)
    assert C.colourfulness(grey) == 0.0 and C.colourfulness(sketch(2)) > 3.0
    soft = cv2.GaussianBlur(sketch(1), (0, 0), 6)
    assert C.blur(soft) < 10.0 < C.blur(sketch(1))
    assert C.check_blur(C.blur(soft), 10.0) == (False, "blurry")
    assert C.check_caption("a man in a black shirt and a black shirt and a black shirt and a black shirt", 5, 2) \
        == (False, "caption_repetitive")
    assert C.check_caption("", 5, 2) == (False, "no_caption")
    assert C.attr_disagreement([0, 1, -1], [0, 0, 1]) == 0.5
    assert C.attr_disagreement([-1, -1], [0, 1]) is None
    assert C.check_persons([], 0.5, 0.25) == (False, "no_person")
    assert C.check_persons([0.9, 0.6], 0.5, 0.25) == (False, "several_persons")
    assert C.check_persons([0.9, 0.1], 0.5, 0.25) == (True, "ok")       # a small background figure is ignored
    assert C.check_persons([0.4], 0.5, 0.25) == (False, "person_too_small")


def test_person_box_has_margin_and_aspect():
    box = person_box((40, 40, 80, 200), (256, 128), margin=0.1, aspect=2.0)
    x0, y0, x1, y1 = box
    assert all(isinstance(v, int) for v in box)
    assert y0 < 40 and y1 > 200 and x0 < 40 and x1 > 80
    assert abs((y1 - y0) / (x1 - x0) - 2.0) < 0.05


def test_default_person_box_has_the_trainers_aspect():
    """The stored crop is as tall for its width as the trainer's input, so resizing squeezes no one."""
    from aptm_train.model.config import VisionConfig

    height, width = VisionConfig().img_size
    assert FilterConfig().person_aspect == height / width
    box = person_box((40, 60, 80, 200), (256, 128), margin=0.1, aspect=FilterConfig().person_aspect)
    assert abs((box[3] - box[1]) / (box[2] - box[0]) - height / width) < 0.05


def test_phash_index_finds_earliest_near_duplicate():
    a, b = sketch(1), sketch(2)
    ha, hb = phash(a), phash(b)
    noisy = (a.astype(int) + np.random.default_rng(1).integers(-3, 4, a.shape)).clip(0, 255).astype(np.uint8)
    assert hamming(ha, phash(noisy)) <= 4 < hamming(ha, hb)
    index = PHashIndex(max_distance=4)
    index.add(ha, 7, "k7")
    index.add(ha, 3, "k3")
    index.add(hb, 1, "k1")
    assert index.earliest_match(phash(noisy)) == (3, "k3")
    assert PHashIndex(0).earliest_match(ha) is None


def test_hog_finds_a_real_pedestrian():
    """A real photo: the man in the street scene that ultralytics ships (read from the installed package)."""
    import importlib.util
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("ultralytics (install with --no-deps; only its bus.jpg asset is read) is not installed")
    bus = Path(next(iter(spec.submodule_search_locations))) / "assets" / "bus.jpg"
    crop = np.asarray(Image.open(bus).convert("RGB").crop((20, 380, 280, 920)))   # one man, head to feet
    dets = [d for d in HogDetector().detect(crop) if d[1] >= 1.0]
    assert len(dets) == 1
    (_, y0, _, y1), _ = dets[0]
    assert (y1 - y0) / crop.shape[0] > 0.6
    assert all(score < 1.0 for _, score in HogDetector().detect(texture()))


# ----------------------------------------------------------------------------- CLIP score
def tiny_clip(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny random open_clip model: its config JSON and its weights file."""
    import open_clip
    import torch

    cfg = {"embed_dim": 16,
           "vision_cfg": {"image_size": 32, "layers": 1, "width": 32, "patch_size": 8, "head_width": 16},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 1}}
    config = tmp_path / "tiny-test-clip.json"
    config.write_text(json.dumps(cfg))
    torch.manual_seed(0)
    model = open_clip.model.CLIP(embed_dim=16, vision_cfg=cfg["vision_cfg"], text_cfg=cfg["text_cfg"])
    weights = tmp_path / "tiny-clip.pt"
    torch.save(model.state_dict(), weights)
    return config, weights


def test_clip_score_tiny_model_batched_equals_unbatched(tmp_path):
    from mals_gen.filter.clip_score import ClipScorer

    config, weights = tiny_clip(tmp_path)
    images = [sketch(i) for i in range(3)]
    captions = [CAPTION, "a man in a black jacket", "a child with a yellow backpack"]
    one = ClipScorer(str(config), str(weights), batch_size=1).score(images, captions)
    many = ClipScorer(str(config), str(weights), batch_size=3).score(images, captions)
    assert one.shape == (3,) and np.isfinite(one).all() and np.abs(one).max() <= 100.0
    np.testing.assert_allclose(one, many, atol=1e-3)
    assert len(set(np.round(one, 4))) == 3


def test_clip_score_in_the_stage(base_run, tmp_path):
    config, weights = tiny_clip(tmp_path)
    run = fresh(base_run, tmp_path)
    cfg = FilterConfig.from_mapping({"clip_model": str(config), "clip_pretrained": str(weights),
                                     "min_clip_score": -100.0})
    run_filter(run, cfg, progress=False, echo=None)
    rows = read_filter(run)
    assert [r["reason"] for r in rows] == [EXPECTED[i] for i in range(10)]
    assert rows[0]["clip_score"] is not None and np.isfinite(rows[0]["clip_score"])
    assert rows[1]["clip_score"] is None                       # CLIP runs only on samples still kept


def test_missing_clip_weights_is_one_line_naming_the_flag(tmp_path):
    run = make_run(tmp_path / "run", fixture_samples()[:2], part_size=2, backend="diffusers")
    with pytest.raises(UserError, match="--clip-model none") as err:
        run_filter(run, FilterConfig(), progress=False, echo=None)   # default ViT-B-32 'openai': no hub here
    assert "\n" not in str(err.value)


def test_read_joined_part_keeps_plan_order_and_fills_missing_keys_with_none(tmp_path):
    samples = [{"image": None if i == 1 else b"jpeg", "caption": f"caption {i}"} for i in range(6)]
    write_run(tmp_path, samples, part_size=3, stages=("plan", "generate", "caption"))
    # Drop the middle sample from part 1's captions: it must still appear, with caption None.
    path = tmp_path / "caption" / "part-00001.parquet"
    table = pq.read_table(path)
    pq.write_table(table.take([2, 0]), path)
    rows = read_joined_part(tmp_path, 1, {"plan": ["index"], "generate": ["status"], "caption": ["caption"]})
    assert [r["index"] for r in rows] == [3, 4, 5]
    assert [r["caption"] for r in rows] == ["caption 3", None, "caption 5"]
    assert [r["status"] for r in rows] == ["ok"] * 3
    assert read_joined_part(tmp_path, 0, {"plan": [], "generate": ["status"]})[1] == {
        "key": "t_000000001", "status": "failed"}
    with pytest.raises(ValueError, match="two stages"):
        read_joined_part(tmp_path, 0, {"plan": ["prompt"], "caption": ["key", "prompt"]})
    with pytest.raises(UserError, match="run `mals attrs`"):
        read_joined_part(tmp_path, 0, {"plan": ["index"], "attrs": ["mined_attrs"]})
