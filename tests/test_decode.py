"""The training stream's image decode (aptm_train/data/skips.py `decode_pixels`): the same pixels as
PIL, a truncated or broken image is a BadImage naming the damage, formats torchvision lacks go
through PIL."""
from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from aptm_train.data.skips import BadImage, decode_image, decode_pixels


def encoded(fmt: str, mode: str = "RGB") -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (24, 8, 3)).astype(np.uint8).repeat(4, 0).repeat(4, 1)
    buf = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(buf, format=fmt)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,mode", [("JPEG", "RGB"), ("JPEG", "L"), ("PNG", "RGBA"), ("BMP", "RGB")])
def test_pixels_equal_pils(fmt, mode):
    data = encoded(fmt, mode)
    out = decode_pixels(data)
    want = torch.from_numpy(np.array(decode_image(data))).permute(2, 0, 1)
    assert out.dtype == torch.uint8 and out.shape == (3, 96, 32) and torch.equal(out, want)


@pytest.mark.parametrize("cut", [0.5, 0.9])
def test_a_truncated_jpeg_is_a_bad_image(cut, capfd):
    data = encoded("JPEG")
    with pytest.raises(BadImage, match="unreadable image"):
        decode_pixels(data[:int(len(data) * cut)])
    assert "Corrupt JPEG" not in capfd.readouterr().err         # PIL words it: our one line only


def test_bytes_that_are_no_image_are_a_bad_image():
    for data in (b"", b"not an image at all", b"\xff\xd8" + b"\x00" * 50 + b"\xff\xd9"):
        with pytest.raises(BadImage):
            decode_pixels(data)
