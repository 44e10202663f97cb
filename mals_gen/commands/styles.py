"""`mals styles --from CAPTIONS --out STYLES.json [--k 1000]`: mine caption styles from human descriptions.

    mals styles --from shards/cuhk --out styles/cuhk.json            # an imported shard folder's train captions
    mals styles --from descriptions.jsonl --out styles.json --k 200  # any JSONL / parquet / CSV table
"""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

FromOpt = Annotated[Path, typer.Option("--from", help="descriptions: .jsonl/.parquet/.csv table or a shard folder")]
OutOpt = Annotated[Path, typer.Option("--out", "-o", help="style file to write (JSON)")]
KOpt = Annotated[int, typer.Option("--k", help="number of style clusters (k-means)")]
ColumnOpt = Annotated[str | None, typer.Option("--column", help="text column of a table (default caption, else text)")]
EncoderOpt = Annotated[str, typer.Option("--encoder", help="sentence encoder: bundled (all-MiniLM-L6-v2), "
                                                           "a hub id or a folder")]
SeedOpt = Annotated[int, typer.Option("--seed", help="k-means seed (same seed, same styles)")]


def register(app: typer.Typer) -> None:
    @app.command("styles")
    def styles(from_path: FromOpt, out: OutOpt, k: KOpt = 1000, column: ColumnOpt = None,
               encoder: EncoderOpt = "bundled", seed: SeedOpt = 0, device: str = "cpu",
               no_progress: bool = typer.Option(False, "--no-progress", help="Hide the progress bar.")) -> None:
        """Blank attribute words, embed, k-means: a style file for `mals caption --styles`."""
        from ..errors import UserError
        from ..styles.corpus import read_descriptions
        from ..styles.mine import mine_styles, write_styles
        from ..text_encoder import SentenceEncoder

        if k < 1:
            raise UserError(f"--k must be at least 1, got {k}")
        texts = read_descriptions(from_path, column)
        found = mine_styles(texts, k, seed, SentenceEncoder(encoder, device), progress=not no_progress)
        write_styles(found, out, {"from": str(from_path), "descriptions": len(texts), "k": k, "seed": seed,
                                  "encoder": encoder})
        typer.echo(f"styles: {len(found)} styles from {len(texts)} descriptions -> {out}")
