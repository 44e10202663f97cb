"""`mals report RUN`: RUN/report/report.html with figures of whatever stages are finished."""
from __future__ import annotations

import typer


def report(
    run: str = typer.Argument(..., help="Run folder."),
    shards: str = typer.Option(None, "--shards", help="Shard folder to count (default: the pipeline's "
                                                      "shard_out, when the run was sharded by `mals run`)."),
) -> None:
    """Stage counts, shard counts, attribute prevalence, reject reasons, score histograms and contact
    sheets as one self-contained HTML page."""
    from ..report import build_report

    build_report(run, echo=typer.echo, shards=shards)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
