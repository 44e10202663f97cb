"""`aptm-train search --checkpoint DIR --gallery FOLDER_OR_SHARDS "a woman in a red coat" --top 10`."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mals_gen.errors import UserError

from ..eval import ITC_WEIGHT
from ..train import cli_options as o


def search_command(
    query: Annotated[str, typer.Argument(help="what to look for, in words")],
    checkpoint: Annotated[Path, typer.Option("--checkpoint", help="model folder or training run")],
    gallery: Annotated[Path, typer.Option("--gallery", help="folder of images (recursive) or shard folder")],
    top: Annotated[int, typer.Option("--top", help="results to show")] = 10,
    rerank: Annotated[int, typer.Option("--rerank", help="ITC candidates re-ranked by ITM (0 = ITC only)")] = 32,
    itc_weight: o.ItcWeight = ITC_WEIGHT,
    index: Annotated[Path | None, typer.Option("--index", help="index file (default: a cache file per "
                                               "gallery and checkpoint)")] = None,
    norm: Annotated[str, typer.Option("--norm", help="image mean/std of the model's training data")] = "mals",
    batch_size: Annotated[int, typer.Option("--batch-size", help="images per encoder call")] = 64,
    device: Annotated[str, typer.Option("--device", help="auto | cpu | cuda")] = "auto",
    html: Annotated[Path | None, typer.Option("--html", help="write the results as an HTML page")] = None,
    png: Annotated[Path | None, typer.Option("--png", help="write the results as a PNG grid")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="hide progress bars")] = False,
    threads: o.Threads = None,
) -> None:
    """Rank a gallery by a text query: the gallery is embedded once (index reused while unchanged)."""
    from aptm_train.search.grid import write_html, write_png
    from aptm_train.search.search import format_hits
    from aptm_train.search.session import open_search
    from aptm_train.threads import set_threads

    set_threads(threads)
    if top < 1:
        raise UserError(f"--top must be at least 1, got {top}")
    if itc_weight < 0:
        raise UserError(f"--itc-weight must be 0 or more, got {itc_weight}")
    session = open_search(checkpoint, gallery, device=device, batch_size=batch_size, norm=norm, echo=typer.echo,
                          index_path=index, progress=not no_progress)
    typer.echo(f"{'reused' if session.reused else 'built'} index of {len(session.index.items):,} images")
    hits = session.search(query, top=top, rerank=rerank, itc_weight=itc_weight)
    typer.echo(format_hits(hits, session.gallery))
    if html:
        typer.echo(f"wrote {write_html(html, query, hits, session.gallery)}")
    if png:
        typer.echo(f"wrote {write_png(png, query, hits, session.gallery)}")


def register(app: typer.Typer) -> None:
    app.command("search")(search_command)
