"""Unreadable inputs met while reading (a broken JPEG, a truncated tar): skipped, warned, counted.

Corrupt data at scale is normal, so readers never stop on one bad image: `decode_image` names the
failure, `Skips` prints one warning line per skipped input (file and key), counts and lists them.
Training decides in its loop how many it tolerates (`data.max_bad_fraction`).
"""
from __future__ import annotations

import io
import sys
from dataclasses import dataclass, field

from PIL import Image

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
