"""`mals import images`: mixed folders, resume and append, SIGKILL, person crops, then the usual stages."""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image, ImageDraw

from mals_gen import layout
from mals_gen.contract import LABEL_UNKNOWN, is_valid_key
from mals_gen.errors import UserError
from mals_gen.images_import.crops import CropGate
from mals_gen.images_import.sources import list_source
from mals_gen.images_import.stage import ImportConfig, run_import
from mals_gen.manifest import load_manifest

from ._shard_fixtures import tar_samples
from .conftest import REPO
from .test_caption import tiny_llava  # noqa: F401  (the tiny random VLM fixture)


def asset(name: str) -> Path:
    """A real photo that ships with ultralytics (read from the installed package, never copied into the repo)."""
    spec = importlib.util.find_spec("ultralytics")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("ultralytics (only its bus.jpg / zidane.jpg assets are read) is not installed")
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / name


def drawn(path: Path, colour=(200, 40, 40), size=(64, 128)) -> Path:
    image = Image.new("RGB", size, (90, 140, 60))
    draw = ImageDraw.Draw(image)
    draw.ellipse((size[0] // 4, 4, 3 * size[0] // 4, size[1] // 4), fill=(230, 190, 160))
    draw.rectangle((size[0] // 5, size[1] // 4, 4 * size[0] // 5, size[1] - 4), fill=colour)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path)
    return path


@pytest.fixture
def mixed(tmp_path) -> Path:
    """Real photos, drawn PNG and JPEG (in a sub-folder), a truncated JPEG and a text file named .jpg."""
    src = tmp_path / "photos"
    (src / "street").mkdir(parents=True)
    shutil.copy(asset("zidane.jpg"), src / "street" / "zidane.jpg")
    drawn(src / "drawn.png")
    drawn(src / "street" / "drawn.jpg", colour=(30, 30, 200))
    data = asset("zidane.jpg").read_bytes()
    (src / "broken.jpg").write_bytes(data[: len(data) // 3])
    (src / "notes.jpg").write_text("not an image\n")
    return src


def imported(run: Path) -> list[dict]:
    return load_manifest(run, ["plan", "generate"]).sort_values("index").to_dict("records")


def test_mixed_folder_imports_with_reasons_then_captions_and_shards(tmp_path, mixed, tiny_llava):  # noqa: F811
    from mals_gen.attrs.stage import AttrsConfig, run_attrs
    from mals_gen.caption.stage import CaptionConfig, run_caption
    from mals_gen.shard.select import ShardConfig, run_shard
    from mals_gen.tario import read_members

    run = tmp_path / "run"
    run_import(mixed, run, ImportConfig(part_size=2), progress=False, echo=None)
    rows = imported(run)
    assert len(rows) == 5 and all(is_valid_key(r["key"]) for r in rows)
    assert all(r["prompt"] == "" and set(r["prompt_attrs"]) == {LABEL_UNKNOWN} for r in rows)
    by_file = {Path(r["source_image"]).name: r for r in rows}
    assert by_file["notes.jpg"]["status"] == "skipped" and by_file["notes.jpg"]["error"].startswith("not_an_image")
    assert by_file["broken.jpg"]["status"] == "skipped" and by_file["broken.jpg"]["error"].startswith("unreadable")
    ok = [r for r in rows if r["status"] == "ok"]
    assert len(ok) == 3
    stats = json.loads((layout.state_dir(run, "generate") / "stats.json").read_text())
    assert stats["dropped"] == {"not_an_image": 1, "unreadable_image": 1}
    # a JPEG is stored as it is; the PNG is re-encoded
    members = read_members(run / ok[0]["image_path"])
    zidane = by_file["zidane.jpg"]
    assert members.get(zidane["image_member"]) == (mixed / "street" / "zidane.jpg").read_bytes() or \
        zidane["image_path"] != ok[0]["image_path"]
    run_caption(run, CaptionConfig(captioner="vlm", model=str(tiny_llava), batch_size=2, max_new_tokens=6),
                progress=False, echo=None)
    run_attrs(run, AttrsConfig(), progress=False, echo=None)
    summary = run_shard(run, tmp_path / "shards", ShardConfig(samples_per_shard=10, height=64), progress=False,
                        echo=None)
    assert summary.totals["kept"] == 3
    # every tar: the split (a hash of the key, and keys hash the absolute path) varies between runs
    samples = [s for tar in sorted((tmp_path / "shards").glob("*.tar")) for s in tar_samples(tar)]
    assert len(samples) == 3 and {s.source for s in samples} == {"mals-import"}
    assert {s.provenance["source_image"] for s in samples} == {r["source_image"] for r in ok}


def test_prompt_captioner_is_refused_on_an_import(tmp_path, mixed, mals):
    run = tmp_path / "run"
    result = mals("import", "images", str(mixed), "--out", str(run), "--part-size", "4", "--no-progress")
    assert result.returncode == 0, result.stderr
    assert (run / "plan.json").is_file() and "2 new part(s)" in result.stdout
    refused = mals("caption", str(run), "--captioner", "prompt", "--no-progress")
    assert refused.returncode != 0
    lines = [ln for ln in refused.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "--captioner vlm" in lines[0], refused.stderr


def _part_files(run: Path) -> list[Path]:
    """The generate stage's part files: manifest parts and image tars."""
    return [*(run / "generate").glob("part-*"), *layout.images_dir(run).glob("part-*")]


def test_rerun_after_adding_files_imports_only_the_new_ones(tmp_path, mixed):
    run = tmp_path / "run"
    run_import(mixed, run, ImportConfig(part_size=2), progress=False, echo=None)
    before = {p.name: p.stat().st_mtime_ns for p in _part_files(run)}
    keys_before = {r["key"] for r in imported(run)}
    summary = run_import(mixed, run, ImportConfig(part_size=2), progress=False, echo=None)
    assert summary.parts_done_now == 0
    drawn(mixed / "new" / "a.png", colour=(10, 200, 10))
    drawn(mixed / "new" / "b.png", colour=(200, 200, 10))
    summary = run_import(mixed, run, ImportConfig(part_size=2), progress=False, echo=None)
    assert summary.parts_done_now == 1 and summary.parts_total == 4
    assert {p.name: p.stat().st_mtime_ns for p in _part_files(run) if p.name in before} == before
    rows = imported(run)
    new = [r for r in rows if r["key"] not in keys_before]
    assert sorted(Path(r["source_image"]).name for r in new) == ["a.png", "b.png"]
    assert {r["part"] for r in new} == {3}
    with pytest.raises(UserError, match="detect_persons"):
        run_import(mixed, run, ImportConfig(part_size=2, detect_persons=True), progress=False, echo=None)


def _table(run: Path, stage: str) -> pa.Table:
    tables = [pq.read_table(p) for p in sorted((run / stage).glob("part-*.parquet"))]
    return pa.concat_tables(tables).sort_by("key")


def test_sigkill_during_import_then_rerun_gives_the_same_result(tmp_path, mixed):
    for i in range(16):   # big enough that the import takes a while to kill into
        drawn(mixed / "many" / f"{i:02d}.png", colour=(15 * i, 100, 255 - 15 * i), size=(600, 1200))
    clean, killed = tmp_path / "clean", tmp_path / "killed"
    run_import(mixed, clean, ImportConfig(part_size=1), progress=False, echo=None)
    args = [sys.executable, "-m", "mals_gen", "import", "images", str(mixed), "--out", str(killed),
            "--part-size", "1", "--no-progress"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    deadline = time.monotonic() + 120
    while proc.poll() is None and time.monotonic() < deadline:
        if len(list(layout.state_dir(killed, "plan").glob("*.done.json"))) >= 3:   # mid-import: some parts planned
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    assert proc.wait() == -signal.SIGKILL, "the import finished before it could be killed"
    assert len(list(layout.state_dir(killed, "generate").glob("*.done.json"))) < 21
    run_import(mixed, killed, ImportConfig(part_size=1), progress=False, echo=None)
    for stage in ("sources", "plan", "generate"):
        assert _table(killed, stage).equals(_table(clean, stage)), stage
    tars = sorted(layout.images_dir(clean).glob("*.tar"))
    assert tars  # the comparison below must not pass by comparing nothing
    for tar in tars:
        assert (layout.images_dir(killed) / tar.name).read_bytes() == tar.read_bytes()


def test_sources_list_file_parquet_and_tar(tmp_path, mixed):
    folder = list_source(mixed)
    listing = tmp_path / "files.txt"
    listing.write_text("".join(f"{e.ref}\n" for e in folder))
    assert list_source(listing) == folder
    table = tmp_path / "files.parquet"
    pq.write_table(pa.table({"image_path": [e.ref for e in folder]}), table)
    assert list_source(table) == folder
    with pytest.raises(UserError, match="--path-column"):
        list_source(table, path_column="nope")
    tar_path = tmp_path / "shard-000.tar"
    with tarfile.open(tar_path, "w") as tf:
        tf.add(mixed / "drawn.png", arcname="x/drawn.png")
        tf.add(mixed / "notes.jpg", arcname="notes.jpg")
    run = tmp_path / "run"
    run_import(tar_path, run, ImportConfig(), progress=False, echo=None)
    rows = imported(run)
    assert [r["status"] for r in sorted(rows, key=lambda r: r["source_image"])] == ["skipped", "ok"]


def test_detect_persons_on_a_street_photo_yields_crops_that_pass_the_gate(tmp_path):
    src = tmp_path / "scene"
    src.mkdir()
    shutil.copy(asset("bus.jpg"), src / "bus.jpg")
    run = tmp_path / "run"
    gate = CropGate()
    run_import(src, run, ImportConfig(detect_persons=True, detect_height=540, gate=gate), progress=False, echo=None)
    crops = [r for r in imported(run) if r["status"] == "ok"]
    assert crops, "HOG found no person crop that passes the WebPerson gate"
    for r in crops:
        x0, y0, x1, y1 = r["source_box"]
        w, h = x1 - x0, y1 - y0
        assert min(w, h) > gate.min_short_side and 2.0 - 0.02 <= h / w <= 4.0 and r["detect_score"] > gate.min_score
        assert (r["width"], r["height"]) == (w, h) and list(r["known_box"]) == [0, 0, w, h]
        assert r["key"].rsplit("-p", 1)[1].isdigit()
    strict = tmp_path / "strict"
    run_import(src, strict, ImportConfig(detect_persons=True, detect_height=540, gate=CropGate(min_score=5.0)),
               progress=False, echo=None)
    (row,) = imported(strict)
    assert row["status"] == "skipped" and "crop_low_score 1" in row["error"]


def test_tiny_vitpose_runs_through_the_filter_and_the_report_draws_the_crops(tmp_path, tiny_llava):  # noqa: F811
    from mals_gen.attrs.stage import AttrsConfig, run_attrs
    from mals_gen.caption.stage import CaptionConfig, run_caption
    from mals_gen.filter.stage import FilterConfig, Thresholds, run_filter
    from mals_gen.report import build_report
    from mals_gen.testing import save_tiny_vitpose

    src = tmp_path / "scene"
    src.mkdir()
    shutil.copy(asset("bus.jpg"), src / "bus.jpg")
    drawn(src / "drawn.png")
    run = tmp_path / "run"
    run_import(src, run, ImportConfig(detect_persons=True, detect_height=540), progress=False, echo=None)
    run_caption(run, CaptionConfig(captioner="vlm", model=str(tiny_llava), max_new_tokens=4), progress=False,
                echo=None)
    run_attrs(run, AttrsConfig(), progress=False, echo=None)
    lenient = Thresholds(min_file_bytes=0, min_pixel_std=0, min_colourfulness=0, min_blur=0, min_caption_words=0,
                         max_phrase_repeats=1000, min_person_height=0.0)
    pose = save_tiny_vitpose(tmp_path / "pose")
    run_filter(run, FilterConfig(detector="hog", clip_model="none", pose_model=str(pose), thresholds=lenient),
               progress=False, echo=None)
    frame = load_manifest(run).set_index("key")
    crops = frame[frame["status"] == "ok"]
    assert len(crops) >= 1
    for _, row in crops.iterrows():
        assert row["n_persons"] == 1                       # the crop's known box, not a new detection
        assert len(row["keypoints"]) == 51 and 0 <= row["pose_visible"] <= 17
        assert row["reason"] == "ok" or row["reason"].startswith("pose_")
    skipped = frame[frame["status"] == "skipped"]
    assert set(skipped["reason"]) == {"import_skipped"}
    html = build_report(run).read_text()
    assert "Person crops" in html and (run / "report" / "crops.png").is_file()


def test_real_images_preset_runs_end_to_end_with_tiny_models(tmp_path, tiny_llava):  # noqa: F811
    from mals_gen.pipeline import run_pipeline
    from mals_gen.testing import save_tiny_vitpose

    src = tmp_path / "photos"
    src.mkdir()
    shutil.copy(asset("bus.jpg"), src / "bus.jpg")
    (src / "notes.jpg").write_text("not an image\n")
    pose = save_tiny_vitpose(tmp_path / "pose")
    overrides = [f"out={tmp_path / 'run'}", f"shard_out={tmp_path / 'shards'}", f"import.source={src}",
                 "import.detect_height=540", f"caption.model={tiny_llava}", "caption.max_new_tokens=4",
                 f"filter.pose_model={pose}", "filter.pose.min_score=0", "filter.pose.check_limbs=false",
                 "filter.clip_model=none", "filter.min_caption_words=0", "filter.max_phrase_repeats=1000"]
    results = run_pipeline(REPO / "pipelines" / "real-images.yaml", overrides, progress=False, echo=None)
    assert results["shard"].totals["kept"] >= 1
    assert results["shard"].totals["dropped"] == {"generate_failed": 1}
    assert (tmp_path / "run" / "report" / "crops.png").is_file()


def test_two_ranks_split_the_parts_rank_0_lists(tmp_path, mixed):
    from mals_gen.ranks import Ranks

    run = tmp_path / "run"
    run_import(mixed, run, ImportConfig(part_size=1), ranks=Ranks(0, 2), progress=False, echo=None)
    assert len(list(layout.state_dir(run, "generate").glob("*.done.json"))) == 3          # parts 0, 2, 4 of 5
    run_import(mixed, run, ImportConfig(part_size=1), ranks=Ranks(1, 2), progress=False, echo=None)
    assert len(list(layout.state_dir(run, "generate").glob("*.done.json"))) == 5
    assert len(imported(run)) == 5
