"""`aptm-train embed --checkpoint DIR --images FOLDER_OR_SHARDS [--texts FILE] -o DIR [--format parquet|npy]`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mals_gen.errors import UserError

FORMATS = ("parquet", "npy")


def embed_command(
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="model folder or training run")],
    out: Annotated[Path, typer.Option("--out", "-o", help="output folder")],
    images: Annotated[Path | None, typer.Option("--images", help="folder of images or shard folder")] = None,
    texts: Annotated[Path | None, typer.Option("--texts", help="text file, one query per line")] = None,
    fmt: Annotated[str, typer.Option("--format", help="parquet (id + embedding columns) | npy (+ ids .txt)")]
    = "parquet",
    norm: Annotated[str, typer.Option("--norm", help="image mean/std of the model's training data")] = "mals",
    batch_size: Annotated[int, typer.Option("--batch-size", help="items per encoder call")] = 64,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    no_progress: Annotated[bool, typer.Option("--no-progress", help="hide progress bars")] = False,
) -> None:
    """Export L2-normalised ITC embeddings of images and / or texts for other tools."""
    from aptm_train.eval.run import build_encoder, checkpoint_folder
    from aptm_train.search.embed import embed_images, embed_texts, write_embeddings

    if fmt not in FORMATS:
        raise UserError(f"--format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if images is None and texts is None:
        raise UserError("nothing to embed: pass --images FOLDER and / or --texts FILE")
    enc = build_encoder(checkpoint_folder(checkpoint), device=device, batch_size=batch_size, norm=norm,
                        progress=not no_progress)
    if images is not None:
        ids, vecs = embed_images(enc, images)
        typer.echo(f"wrote {write_embeddings(out, 'images', ids, vecs, fmt)}")
    if texts is not None:
        ids, vecs = embed_texts(enc, texts)
        typer.echo(f"wrote {write_embeddings(out, 'texts', ids, vecs, fmt)}")


def register(app: typer.Typer) -> None:
    app.command("embed")(embed_command)
