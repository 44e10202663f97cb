"""`mals run pipelines/PRESET.yaml [--set key=value ...]`: every stage in order from one YAML.

The YAML has `out` (the run folder), `shard_out` (the shard folder) and one mapping per stage of
the registry: import (real photos; idle unless `import.source` is set), generate, caption, attrs,
filter, shard, report. A stage's mapping is its Config's fields plus
`enabled` (default true), so `filter: {enabled: false}` skips it. Every enabled stage's config is
built and validated before anything runs (a typo fails in a second, not after hours of
generation); the resolved config is written to RUN/pipeline.yaml; each stage resumes from its
done markers, so rerunning the same command continues where it stopped.

Stages come from the registry (`mals_gen/stages.py`), in its order. With several ranks (accelerate
launch, torchrun, Slurm) every rank runs the per-part stages on its own parts; rank 0 then waits
for all parts of the last per-part stage and runs the whole-run stages (shard, report).
"""
from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import deep_merge, dump_yaml, load_yaml, parse_overrides, to_dict
from .errors import UserError
from .fsutil import ensure_writable_dir, write_bytes_atomic
from .manifest import done_part_files
from .ranks import Ranks, resolve_ranks
from .stages import PART_STAGES, RUN_STAGES, STAGE_NAMES, STAGES

TOP_KEYS = ("out", "shard_out", *STAGE_NAMES)


def resolve(preset: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Preset YAML with the `--set` overrides applied; unknown top-level keys are errors."""
    data = deep_merge(load_yaml(preset), parse_overrides(list(overrides)))
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise UserError(f"{preset}: unknown key {unknown[0]!r}; known keys: {', '.join(TOP_KEYS)}")
    if not data.get("out"):
        raise UserError(f"{preset}: set `out:` to the run folder (or pass --set out=runs/NAME)")
    for name in STAGE_NAMES:
        section = data.get(name)
        if section is not None and not isinstance(section, dict):
            raise UserError(f"{preset}: `{name}:` must be a mapping of settings, got {section!r}")
    return data


def _enabled(data: dict, name: str) -> bool:
    value = (data.get(name) or {}).get("enabled", True)
    if not isinstance(value, bool):
        raise UserError(f"{name}.enabled must be true or false, got {value!r}")
    return value


def is_pipeline_mapping(data: dict) -> bool:
    """Whether a mapping is laid out as a pipeline YAML (`out:`, `shard_out:`, one mapping per stage)."""
    return any(key in data for key in TOP_KEYS)


def stage_section(data: dict, name: str) -> dict:
    """A stage's settings in a pipeline mapping, without the pipeline's own `enabled` switch."""
    return {k: v for k, v in (data.get(name) or {}).items() if k != "enabled"}


def build_configs(data: dict) -> dict[str, Any]:
    """Stage name -> its resolved Config for every enabled stage, before anything is written."""
    return {stage.name: stage.build_config(stage_section(data, stage.name), stage.name)
            for stage in STAGES if _enabled(data, stage.name)}


def resolved_document(data: dict, configs: dict[str, Any], run_dir: Path, shard_dir: Path) -> dict:
    doc: dict[str, Any] = {"out": str(run_dir), "shard_out": str(shard_dir)}
    for name in STAGE_NAMES:
        doc[name] = {"enabled": name in configs, **(to_dict(configs[name]) if name in configs else {})}
    return doc


def wait_for_parts(run_dir: Path, stage: str, n_parts: int, timeout_s: float = 7 * 24 * 3600,
                   poll_s: float = 10.0, echo: Callable[[str], None] | None = print) -> None:
    """Rank 0's barrier before sharding: every part of `stage` done (other ranks write them)."""
    deadline = time.monotonic() + timeout_s
    announced = False
    while len(done_part_files(run_dir, stage)) < n_parts:
        if time.monotonic() > deadline:
            raise UserError(f"{run_dir / stage}: other ranks did not finish; rerun `mals run` to resume")
        if echo and not announced:
            echo(f"run: waiting for the other ranks to finish {stage} before sharding")
            announced = True
        time.sleep(poll_s)


def run_pipeline(preset: str | Path, overrides: list[str] | tuple[str, ...] = (), *, progress: bool = True,
                 echo: Callable[[str], None] | None = print, ranks: Ranks | None = None) -> dict:
    """Run every enabled stage of the preset in order; returns {stage: summary or report path}."""
    from .shard.card import command_line

    data = resolve(preset, overrides)
    configs = build_configs(data)
    run_dir = ensure_writable_dir(data["out"])
    shard_dir = Path(data.get("shard_out") or Path("shards") / run_dir.name)
    ranks = ranks or resolve_ranks()
    document = resolved_document(data, configs, run_dir, shard_dir)
    if ranks.rank == 0:
        write_bytes_atomic(run_dir / "pipeline.yaml", dump_yaml(document).encode())
    results: dict[str, Any] = {}
    for stage in PART_STAGES:
        if stage.name in configs:
            results[stage.name] = stage.call(run_dir, configs[stage.name], ranks=ranks, progress=progress, echo=echo)
    wanted = [stage for stage in RUN_STAGES if stage.name in configs]
    if ranks.rank != 0 or not wanted:
        return results
    done = [stage.name for stage in PART_STAGES if stage.name in configs]
    if ranks.world_size > 1 and done:
        from .plan import load_plan

        wait_for_parts(run_dir, done[-1], len(load_plan(run_dir).parts), echo=echo)
    inputs = {"out_dir": shard_dir, "command": command_line(), "config": document}
    for stage in wanted:
        results[stage.name] = stage.call(run_dir, configs[stage.name], ranks=ranks, progress=progress,
                                         echo=echo, **inputs)
    return results
