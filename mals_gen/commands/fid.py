"""`mals fid RUN --reference shards/NAME`: FID and KID of a run's images against real person images."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def fid(
    run: str = typer.Argument(..., help="Run folder (its generate/ images) or a shard folder."),
    reference: str = typer.Option(..., "--reference", help="Shard folder of real images (e.g. an imported CUHK-PEDES)."),
    inception: str | None = typer.Option(None, "--inception", help="Inception weights: a local "
                                         "pt_inception-2015-12-05 .pth file or a hub id REPO_ID[:FILE]."),
    limit: int = typer.Option(10_000, "--limit", help="At most this many images of each side."),
    batch_size: int = typer.Option(64, "--batch-size"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda ..."),
    out: str | None = typer.Option(None, "--out", "-o", help="Write the figures as JSON here (default RUN/fid.json)."),
) -> None:
    """FID and KID (torchmetrics, torch-fidelity's Inception-v3) of generated images against a reference."""
    from ..devices import resolve_device
    from ..fsutil import write_json_atomic
    from ..tune.fid import fid_kid

    result = fid_kid(run, reference, weights=inception, limit=limit, batch_size=batch_size,
                     device=resolve_device(device))
    result = {"run": str(run), "reference": str(reference), **result}
    path = Path(out) if out else Path(run) / "fid.json"
    write_json_atomic(path, result)
    typer.echo(f"FID {result['fid']:.2f}, KID {result['kid_mean']:.4f} +- {result['kid_std']:.4f} "
               f"({result['images']:,} images vs {result['reference_images']:,} reference; "
               f"{result['skipped']} unreadable skipped) -> {path}")
    typer.echo(json.dumps(result))


def register(app: typer.Typer) -> None:
    app.command("fid")(fid)
