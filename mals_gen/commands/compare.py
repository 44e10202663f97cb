"""`mals compare RUN_A RUN_B [--out compare.html]`: two runs' caption diversity side by side."""
from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RunArg = Annotated[Path, typer.Argument(help="run folder with finished caption parts")]
OutOpt = Annotated[Path | None, typer.Option("--out", "-o", help="also write the table as an HTML page")]
NoEmbOpt = Annotated[bool, typer.Option("--no-embeddings", help="skip the MiniLM mean pairwise cosine (faster)")]


def register(app: typer.Typer) -> None:
    @app.command("compare")
    def compare(run_a: RunArg, run_b: RunArg, out: OutOpt = None, no_embeddings: NoEmbOpt = False) -> None:
        """distinct-n, vocabulary, lengths, styles, embedding cosine and attribute coverage of two runs."""
        from ..diversity.compare import compare_runs, text_table, write_html

        rows = compare_runs(run_a, run_b, None if no_embeddings else "bundled")
        typer.echo(text_table(rows))
        if out is not None:
            typer.echo(f"compare: {write_html(rows, out)}")
