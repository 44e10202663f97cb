"""Options and helpers shared by the `mals` commands (so every command spells them the same way)."""
from __future__ import annotations

import typer

RANK = typer.Option(None, "--rank", help="This process's rank (default: from RANK / SLURM_PROCID).")
WORLD_SIZE = typer.Option(None, "--world-size", help="Number of processes (default: from WORLD_SIZE / SLURM_NTASKS).")
SET = typer.Option(None, "--set", help="Override a config key: --set key=value (repeatable).")
CONFIG_FILE = typer.Option(None, "--config", help="A YAML file with this stage's settings.")
NO_PROGRESS = typer.Option(False, "--no-progress", help="Hide the progress bar.")


def stage_settings(config_file: str | None, flags: dict, overrides: list[str] | None) -> dict:
    """defaults < YAML file < explicit flags < --set; flags left at None are not set."""
    from ..config import deep_merge, load_yaml, parse_overrides

    settings = load_yaml(config_file) if config_file else {}
    settings = deep_merge(settings, {k: v for k, v in flags.items() if v is not None})
    return deep_merge(settings, parse_overrides(overrides or []))
