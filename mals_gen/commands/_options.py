"""Options and helpers shared by the `mals` commands (so every command spells them the same way)."""
from __future__ import annotations

from typing import Any

import typer

RANK = typer.Option(None, "--rank", help="This process's rank (default: from RANK / SLURM_PROCID).")
WORLD_SIZE = typer.Option(None, "--world-size", help="Number of processes (default: from WORLD_SIZE / SLURM_NTASKS).")
SET = typer.Option(None, "--set", help="Override a config key: --set key=value (repeatable).")
CONFIG_FILE = typer.Option(None, "--config", help="A YAML file with this stage's settings, or a pipeline "
                                                  "YAML (its mapping for this stage is used).")
NO_PROGRESS = typer.Option(False, "--no-progress", help="Hide the progress bar.")


def _own_mapping(data: dict, name: str) -> dict:
    """The stage's settings: the mapping itself, or its `<name>:` mapping when laid out as a pipeline."""
    from ..pipeline import is_pipeline_mapping, stage_section

    return stage_section(data, name) if is_pipeline_mapping(data) else data


def stage_config(name: str, config_file: str | None, flags: dict, overrides: list[str] | None) -> Any:
    """The stage's Config from defaults < YAML file < explicit flags < --set; flags left at None are not set.

    The YAML and `--set` may be laid out for the stage (`n: 10`, `--set n=10`) or as a pipeline
    (`generate: {n: 10}`, `--set generate.n=10`)."""
    from ..config import deep_merge, load_yaml, parse_overrides
    from ..stages import get_stage

    settings = _own_mapping(load_yaml(config_file), name) if config_file else {}
    settings = deep_merge(settings, {k: v for k, v in flags.items() if v is not None})
    settings = deep_merge(settings, _own_mapping(parse_overrides(overrides or []), name))
    return get_stage(name).build_config(settings, name)
