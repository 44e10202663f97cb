"""`mals fid`: FID / KID plumbing with a tiny random feature network (its numbers are not FID), clear errors."""
from __future__ import annotations

import dataclasses
import io

import pytest
from PIL import Image, ImageOps

from mals_gen.contract import ShardSample
from mals_gen.errors import UserError
from mals_gen.testing import build_tiny_feature_network
from mals_gen.tune.fid import fid_kid

from ._train_shards import sample, write_samples, write_shards
from .conftest import run_cli


@pytest.fixture(scope="module")
def shard_sets(tmp_path_factory):
    root = tmp_path_factory.mktemp("fid")
    same = write_shards(root / "a", n=30, per_tar=10)
    copy = write_shards(root / "b", n=30, per_tar=10)
    other = write_samples(root / "c", [_inverted(sample(i)[1]) for i in range(30)], per_tar=10)
    return same, copy, other


def _inverted(s: ShardSample) -> ShardSample:
    """The sample with its colours inverted: a clearly different image distribution."""
    image = ImageOps.invert(Image.open(io.BytesIO(s.image)).convert("RGB"))
    buf = io.BytesIO()
    image.save(buf, format="JPEG", quality=90)
    return dataclasses.replace(s, image=buf.getvalue())


def test_fid_and_kid_are_zero_for_the_same_images_and_positive_otherwise(shard_sets):
    same, copy, other = shard_sets
    net = build_tiny_feature_network()
    equal = fid_kid(same, copy, extractor=net, kid_subset=10)
    differ = fid_kid(same, other, extractor=net, kid_subset=10)
    assert equal["images"] == equal["reference_images"] == 30 and equal["skipped"] == 0
    assert abs(equal["fid"]) < 1e-3  # KID is unbiased: near 0, either sign, for equal sets
    assert differ["fid"] > 0.01 and differ["kid_mean"] > equal["kid_mean"] + 0.005
    assert "not FID" in differ["feature_network"]
    assert fid_kid(same, other, extractor=net, limit=12, kid_subset=10)["images"] == 12


def test_missing_inception_weights_and_imageless_folders_are_one_line(tmp_path, shard_sets):
    result = run_cli("fid", str(shard_sets[0]), "--reference", str(shard_sets[1]), "--inception",
                     "nobody/no-inception", "--device", "cpu", env={"HF_HUB_OFFLINE": "1"})
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--inception FILE" in lines[0] and "weights-inception" in lines[0]
    with pytest.raises(UserError, match="holds no images"):
        fid_kid(tmp_path, shard_sets[0], extractor=build_tiny_feature_network())
