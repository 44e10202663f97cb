"""`mals report RUN`: RUN/report/report.html with figures of whatever stages are finished."""
from __future__ import annotations

import typer


def report(run: str = typer.Argument(..., help="Run folder.")) -> None:
    """Attribute prevalence, reject reasons, score histograms and contact sheets as one HTML page."""
    from ..report import build_report

    build_report(run, echo=typer.echo)


def register(app: typer.Typer) -> None:
    app.command("report")(report)
