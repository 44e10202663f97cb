"""Unreadable inputs met while reading (a broken JPEG, a truncated tar): skipped, warned, counted.

Corrupt data at scale is normal, so readers never stop on one bad image: `decode_image` (PIL) and
`decode_pixels` (the training stream's faster tensor decode) name the failure, `Skips` prints one
warning line per skipped input (file and key), counts and lists them.
Training decides in its loop how many it tolerates (`data.max_bad_fraction`).
"""
from __future__ import annotations

import io
import sys
import warnings
from dataclasses import dataclass, field

import torch
from PIL import Image
from torchvision.io import ImageReadMode
from torchvision.io import decode_image as decode_image_tv
from torchvision.transforms.v2.functional import pil_to_tensor

# What PIL raises on undecodable bytes: not an image, truncated data, a broken header, a bomb.
DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError)


class BadImage(Exception):
    """Image bytes that do not decode; the message says why."""


def decode_image(data: bytes) -> Image.Image:
    """Fully decode image bytes to RGB (so a truncated JPEG fails here, not later); BadImage if not."""
    try:
        with Image.open(io.BytesIO(data)) as im:
            im.load()
            return im.convert("RGB")
    except DECODE_ERRORS as err:
        raise BadImage(f"unreadable image ({type(err).__name__}: {err})") from None


def decode_pixels(data: bytes) -> torch.Tensor:
    """Image bytes -> (3, H, W) uint8 RGB tensor, the training stream's decode; BadImage if unreadable.

    torchvision's decoder (libjpeg-turbo straight into a tensor) takes a third of the time of PIL's
    decode and conversion to a tensor, and gives the same pixels (tests/test_decode.py); a JPEG without
    its end marker (truncated) and any format torchvision lacks (BMP, TIFF) go through PIL, which
    names the damage without libjpeg's extra stderr line."""
    if data[:2] == b"\xff\xd8" and data[-1024:].rstrip(b"\x00")[-2:] == b"\xff\xd9":   # the tail only: no copy
        try:
            with warnings.catch_warnings():
                # torchvision 0.29 (pinned) calls its decoders deprecated for torchcodec's decode_image,
                # the same call, whose wheel links the CUDA runtime a CPU machine may lack: not yet
                warnings.simplefilter("ignore", DeprecationWarning)
                return decode_image_tv(torch.frombuffer(bytearray(data), dtype=torch.uint8), mode=ImageReadMode.RGB)
        except RuntimeError:
            pass                        # PIL decides, and words the error
    return pil_to_tensor(decode_image(data))


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass
class Skips:
    """The inputs a reader skipped: (file, key, reason), one warning line each through `echo`."""
    echo: object = _stderr
    items: list = field(default_factory=list)

    def add(self, file: str, key: str | None, reason: str) -> None:
        self.items.append((str(file), key or "", reason))
        if self.echo is not None:
            self.echo(warning_line(str(file), key, reason))

    def __len__(self) -> int:
        return len(self.items)


def warning_line(file: str, key: str | None, reason: str) -> str:
    return f"warning: skipped {file}{f' [{key}]' if key else ''}: {reason}"
