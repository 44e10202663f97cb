"""Importers on tiny files written in each real format, plus a broken file per format."""
from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mals_gen.cli import app
from mals_gen.contract import ShardSample
from mals_gen.errors import UserError
from mals_gen.importers.common import import_dataset
from mals_gen.shard.verify import verify_shards

from ._shard_fixtures import jpeg_bytes, tar_samples


def _image(path: Path, seed: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".png":  # CUHK01 images are PNG
        Image.new("RGB", (40, 100), (seed * 40 % 255, 90, 30)).save(path)
    else:
        path.write_bytes(jpeg_bytes(seed))


def _samples(out: Path) -> dict[str, ShardSample]:
    """Every sample of a shard folder, read back with the contract's reader."""
    return {s.key: s for tar in sorted(out.glob("*.tar")) for s in tar_samples(tar)}


def _run(kind, root, out, **kw):
    return import_dataset(kind, root, out, progress=False, echo=None, **kw)


def write_cuhk(root: Path, name: str = "reid_raw.json", records=None) -> list[dict]:
    records = records or [
        {"split": "train", "captions": ["A woman in a red coat.", "She carries a bag."],
         "file_path": "CUHK01/0363004.png", "processed_tokens": [["a"], ["she"]], "id": 1},
        {"split": "val", "captions": ["A man in jeans.", "He wears a cap.", "Third caption."],
         "file_path": "cam_a/001_45.jpg", "processed_tokens": [], "id": 2},
        {"split": "test", "captions": ["A child running.", "Small kid."],
         "file_path": "Market/0002_c1s1_000451_03.jpg", "processed_tokens": [], "id": 3},
    ]
    for i, r in enumerate(records):
        _image(root / "imgs" / r["file_path"], i)
    (root / name).write_text(json.dumps(records))
    return records


def test_cuhk_pedes(tmp_path):
    write_cuhk(tmp_path / "cuhk")
    summary = _run("cuhk-pedes", tmp_path / "cuhk", tmp_path / "out")
    assert summary.samples == 3 and summary.reencoded == 1  # only the PNG is re-encoded
    assert verify_shards(tmp_path / "out") == []
    samples = _samples(tmp_path / "out")
    s = samples["cuhk-pedes_cam_a_001_45_jpg"]
    assert s.captions == ("A man in jeans.", "He wears a cap.", "Third caption.")
    assert (s.split, s.person_id, s.image_id) == ("val", "cuhk-pedes:2", "cam_a/001_45.jpg")
    assert s.image == (tmp_path / "cuhk/imgs/cam_a/001_45.jpg").read_bytes()
    png = Image.open(io.BytesIO(samples["cuhk-pedes_CUHK01_0363004_png"].image))
    assert png.format == "JPEG" and png.size == (40, 100)
    assert json.loads((tmp_path / "out" / "splits.json").read_text()) == {
        "train": ["000000.tar"], "val": ["000001.tar"], "test": ["000002.tar"]}


def test_cuhk_truncated_json(tmp_path):
    write_cuhk(tmp_path / "c")
    path = tmp_path / "c" / "reid_raw.json"
    path.write_text(path.read_text()[:-40])
    with pytest.raises(UserError, match=r"reid_raw.json: invalid JSON at line 1.*truncated"):
        _run("cuhk-pedes", tmp_path / "c", tmp_path / "out")


def test_icfg_accepts_both_names_and_split_field_rules(tmp_path):
    records = [{"split": "train", "captions": ["A man in black."], "file_path": "test/0001/0001_001.jpg", "id": 7},
               {"split": "test", "captions": ["A woman in white."], "file_path": "train/0002/0002_001.jpg", "id": 8}]
    write_cuhk(tmp_path / "icfg", "ICFG_PEDES.json", records)
    _run("icfg-pedes", tmp_path / "icfg", tmp_path / "out")
    samples = _samples(tmp_path / "out")
    assert samples["icfg-pedes_test_0001_0001_001_jpg"].split == "train"
    assert samples["icfg-pedes_train_0002_0002_001_jpg"].split == "test"
    (tmp_path / "icfg" / "ICFG_PEDES.json").rename(tmp_path / "icfg" / "ICFG-PEDES.json")
    assert _run("icfg-pedes", tmp_path / "icfg", tmp_path / "out2").samples == 2


def test_icfg_misnamed_field(tmp_path):
    records = [{"split": "train", "captions": ["x y"], "file_path": "a.jpg", "id": 1},
               {"split": "train", "caption": ["x y"], "file_path": "b.jpg", "id": 2}]
    write_cuhk(tmp_path / "icfg", "ICFG-PEDES.json", records)
    with pytest.raises(UserError, match=r"ICFG-PEDES.json record 1: missing field 'captions' \(did the file name "
                                        r"it 'caption'"):
        _run("icfg-pedes", tmp_path / "icfg", tmp_path / "out")


def write_rstp(root: Path, n: int = 4) -> list[dict]:
    records = [{"id": i // 2, "img_path": f"{i // 2:04d}_c14_{i:04d}.jpg", "captions": [f"person {i}", "walking"],
                "split": ("train", "train", "val", "test")[i % 4]} for i in range(n)]
    for i, r in enumerate(records):
        _image(root / "imgs" / r["img_path"], i)
    (root / "data_captions.json").write_text(json.dumps(records))
    return records


def test_rstpreid_and_missing_images(tmp_path):
    write_rstp(tmp_path / "r", 8)
    assert _run("rstpreid", tmp_path / "r", tmp_path / "out").samples == 8
    for i in (1, 6):
        next((tmp_path / "r" / "imgs").glob(f"*_{i:04d}.jpg")).unlink()
    with pytest.raises(UserError, match=r"2 image\(s\) missing under .*0000_c14_0001.jpg, 0003_c14_0006.jpg; "
                                        r".*--skip-missing"):
        _run("rstpreid", tmp_path / "r", tmp_path / "out2")
    summary = _run("rstpreid", tmp_path / "r", tmp_path / "out3", skip_missing=True)
    assert summary.samples == 6
    listed = (tmp_path / "out3" / "missing_images.txt").read_text().splitlines()
    assert len(listed) == 2 and listed[0].split("\t")[0].endswith("0000_c14_0001.jpg")
    assert verify_shards(tmp_path / "out3") == []


def test_rstpreid_duplicate_keys(tmp_path):
    records = write_rstp(tmp_path / "r", 3)
    (tmp_path / "r" / "data_captions.json").write_text(json.dumps(records + [records[1]]))
    with pytest.raises(UserError, match=r"1 duplicate key\(s\), e.g. rstpreid_0000_c14_0001_jpg from .*record 1 "
                                        r"and .*record 3"):
        _run("rstpreid", tmp_path / "r", tmp_path / "out")


def write_pa100k(root: Path, labels_shape=(2, 26)) -> None:
    from scipy.io import savemat

    images = root / "data" / "release_data" / "release_data"
    names, mat = {}, {}
    start = 1
    for split, count in (("train", 3), ("val", 2), ("test", 2)):
        names[split] = [f"{i:06d}.jpg" for i in range(start, start + count)]
        start += count
        cell = np.empty((count, 1), dtype=object)
        for j, n in enumerate(names[split]):
            cell[j, 0] = np.array([n])
            _image(images / n, start + j)
        mat[f"{split}_images_name"] = cell
        rng = np.random.default_rng(count)
        mat[f"{split}_label"] = rng.integers(0, 2, (count, 26)).astype(np.uint8)
    attrs = np.empty((26, 1), dtype=object)
    for i in range(26):
        attrs[i, 0] = np.array([f"attr{i}"])
    mat["attributes"] = attrs
    savemat(root / "annotation.mat", mat)


def test_pa100k(tmp_path):
    write_pa100k(tmp_path / "pa")
    summary = _run("pa100k", tmp_path / "pa", tmp_path / "out")
    assert summary.samples == 7 and summary.split_counts == {"train": 3, "val": 2, "test": 2}
    s = _samples(tmp_path / "out")["pa100k_000004_jpg"]
    from scipy.io import loadmat

    mat = loadmat(tmp_path / "pa" / "annotation.mat")
    assert list(s.pa100k_attrs) == mat["val_label"][0].tolist() and s.mals_attrs is None
    assert s.split == "val" and s.captions == () and s.caption == ""
    assert verify_shards(tmp_path / "out") == []


def test_pa100k_broken_files(tmp_path):
    write_pa100k(tmp_path / "pa")
    path = tmp_path / "pa" / "annotation.mat"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=r"annotation.mat: cannot read it as a MATLAB file"):
        _run("pa100k", tmp_path / "pa", tmp_path / "out")
    from scipy.io import loadmat, savemat

    path.write_bytes(data)
    mat = {k: v for k, v in loadmat(path).items() if not k.startswith("__")}
    mat["val_labels"] = mat.pop("val_label")
    savemat(path, mat)
    with pytest.raises(UserError, match=r"missing variable 'val_label'"):
        _run("pa100k", tmp_path / "pa", tmp_path / "out")


def write_mals(root: Path, files: int = 2, per_file: int = 3) -> None:
    for f in range(files):
        records = []
        for i in range(per_file):
            image = f"gene_crop/c_g_a_{f}/{i}.jpg"
            _image(root / image, f * 10 + i)
            records.append({"image": image, "caption": f"a person {f} {i} in a blue shirt",
                            "image_id": f"c_g_a_{f}_{i}", "label": [(i + j) % 3 - 1 for j in range(27)]})
        (root / f"g_c_g_a_{f}_attrs.json").write_text(json.dumps(records))


def test_mals_json_folder_and_single_file(tmp_path):
    write_mals(tmp_path / "m")
    assert _run("mals-json", tmp_path / "m", tmp_path / "out").samples == 6
    s = _samples(tmp_path / "out")["mals_gene_crop_c_g_a_1_2_jpg"]
    assert list(s.mals_attrs) == [(2 + j) % 3 - 1 for j in range(27)] and s.attr_source == "dataset"
    assert s.person_id == "mals:c_g_a_1_2" and s.split == "train"
    assert _run("mals-json", tmp_path / "m" / "g_c_g_a_0_attrs.json", tmp_path / "out1").samples == 3


def test_mals_json_bad_label(tmp_path):
    write_mals(tmp_path / "m", files=1)
    path = tmp_path / "m" / "g_c_g_a_0_attrs.json"
    records = json.loads(path.read_text())
    records[2]["label"] = records[2]["label"][:26]
    path.write_text(json.dumps(records))
    with pytest.raises(UserError, match=r"g_c_g_a_0_attrs.json record 2: field 'label' must be 27 labels"):
        _run("mals-json", tmp_path / "m", tmp_path / "out")


def test_aptm_processed_files_merge_captions(tmp_path):
    root = tmp_path / "a"
    for i in range(3):
        _image(root / "imgs" / f"{i}.jpg", i)
    train = [{"image": "imgs/0.jpg", "caption": "first", "image_id": 0},
             {"image": "imgs/0.jpg", "caption": "second", "image_id": 0},
             {"image": "imgs/1.jpg", "caption": "third", "image_id": 1}]
    (root / "cuhk_train.json").write_text(json.dumps(train))
    (root / "cuhk_test.json").write_text(json.dumps([{"image": "imgs/2.jpg", "caption": ["x", "y"], "image_id": 5}]))
    summary = _run("aptm-json", root, tmp_path / "out")
    assert summary.split_counts == {"train": 2, "val": 0, "test": 1}
    s = _samples(tmp_path / "out")["aptm-cuhk_imgs_0_jpg"]
    assert s.captions == ("first", "second") and s.person_id == "aptm-cuhk:0"
    (root / "cuhk_test.json").write_text('[{"image": "imgs/2.jpg", "caption": ["x"')
    with pytest.raises(UserError, match="cuhk_test.json: invalid JSON"):
        _run("aptm-json", root, tmp_path / "out2")


def test_cli_import_errors_are_one_line(tmp_path, mals):
    write_rstp(tmp_path / "r", 4)
    (tmp_path / "r" / "data_captions.json").write_text(
        json.dumps([{"id": 1, "file_path": "x.jpg", "captions": ["a"], "split": "train"}]))
    proc = mals("import", "rstpreid", str(tmp_path / "r"), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "record 0: missing field 'img_path'" in lines[0], proc.stderr


def test_cli_import_ok(tmp_path):
    write_cuhk(tmp_path / "cuhk")
    result = CliRunner().invoke(app, ["import", "cuhk-pedes", str(tmp_path / "cuhk"), "--out", str(tmp_path / "o"),
                                      "--samples-per-shard", "2", "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "3 samples" in result.output
    assert json.loads((tmp_path / "o" / "sizes.json").read_text()) == {
        "000000.tar": 1, "000001.tar": 1, "000002.tar": 1}
