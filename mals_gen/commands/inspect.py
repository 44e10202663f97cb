"""`mals inspect RUN`: counts per stage and part, first manifest rows, a contact sheet PNG."""
from __future__ import annotations

import typer


def inspect(
    run: str = typer.Argument(..., help="Run folder."),
    rows: int = typer.Option(5, "--rows", help="Manifest rows to print."),
    samples: int = typer.Option(32, "--samples", help="Samples on the contact sheet."),
) -> None:
    """Show what a run holds: counts per stage and part, manifest rows, a contact sheet."""
    from ..inspect_run import inspect_run

    inspect_run(run, rows=rows, sheet_samples=samples)


def register(app: typer.Typer) -> None:
    app.command("inspect")(inspect)
