"""`aptm-train convert CKPT --out DIR`: a released APTM checkpoint -> our checkpoint folder."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mals_gen.errors import UserError


def _image_size(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UserError(f"--image-size {text!r}: write HxW, e.g. 384x128") from None
    return h, w


def convert(
    ckpt: Annotated[Path, typer.Argument(help="released checkpoint_best.pth ({'model', 'config'})")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output model folder (config.json, weights, tokenizer, card)")],
    trust_pickle: Annotated[bool, typer.Option(
        "--trust-pickle", help="allow unrestricted unpickling (it runs code: trusted files only)")] = False,
    image_size: Annotated[str | None, typer.Option(
        "--image-size", help="training resolution HxW (default: from the checkpoint config, else 384x128)")] = None,
    text_heads: Annotated[int | None, typer.Option(
        "--text-heads", help="BERT attention heads (default hidden/64: 12 for bert-base)")] = None,
) -> None:
    """Map a released APTM checkpoint onto our model; report missing and unexpected keys."""
    from aptm_train.model.convert import convert_checkpoint

    convert_checkpoint(ckpt, out, trust_pickle=trust_pickle, image_size=_image_size(image_size),
                       text_heads=text_heads, echo=typer.echo)


def register(app: typer.Typer) -> None:
    app.command("convert")(convert)
