"""`mals run pipelines/PRESET.yaml [--set key=value ...]`: every stage in order from one YAML.

The YAML has `out` (the run folder), `shard_out` (the shard folder) and one mapping per stage:
generate, caption, attrs, filter, shard, report. A stage's mapping is its Config's fields plus
`enabled` (default true), so `filter: {enabled: false}` skips it. Every enabled stage's config is
built and validated before anything runs (a typo fails in a second, not after hours of
generation); the resolved config is written to RUN/pipeline.yaml; each stage resumes from its
done markers, so rerunning the same command continues where it stopped.

Stages are imported lazily by the entry-point names in BRIEF.md. With several ranks (accelerate
launch, torchrun, Slurm) every rank runs the per-part stages on its own parts; rank 0 then waits
for all parts of the last per-part stage and writes the shards and the report.
"""
from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import deep_merge, dump_yaml, from_mapping, load_yaml, parse_overrides, to_dict
from .errors import UserError
from .fsutil import ensure_writable_dir, write_bytes_atomic
from .manifest import done_part_files
from .ranks import Ranks, resolve_ranks

PART_STAGES = ("generate", "caption", "attrs", "filter")
STAGES = (*PART_STAGES, "shard", "report")
TOP_KEYS = ("out", "shard_out", *STAGES)
# Stage name -> (module, Config class, entry point) as fixed in BRIEF.md.
ENTRY_POINTS = {
    "generate": ("mals_gen.generate.stage", "GenerateConfig", "run_generate"),
    "caption": ("mals_gen.caption.stage", "CaptionConfig", "run_caption"),
    "attrs": ("mals_gen.attrs.stage", "AttrsConfig", "run_attrs"),
    "filter": ("mals_gen.filter.stage", "FilterConfig", "run_filter"),
    "shard": ("mals_gen.shard.writer", "ShardConfig", "run_shard"),
}


def resolve(preset: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Preset YAML with the `--set` overrides applied; unknown top-level keys are errors."""
    data = deep_merge(load_yaml(preset), parse_overrides(list(overrides)))
    unknown = sorted(set(data) - set(TOP_KEYS))
    if unknown:
        raise UserError(f"{preset}: unknown key {unknown[0]!r}; known keys: {', '.join(TOP_KEYS)}")
    if not data.get("out"):
        raise UserError(f"{preset}: set `out:` to the run folder (or pass --set out=runs/NAME)")
    for name in STAGES:
        section = data.get(name)
        if section is not None and not isinstance(section, dict):
            raise UserError(f"{preset}: `{name}:` must be a mapping of settings, got {section!r}")
    return data


def _enabled(data: dict, name: str) -> bool:
    value = (data.get(name) or {}).get("enabled", True)
    if not isinstance(value, bool):
        raise UserError(f"{name}.enabled must be true or false, got {value!r}")
    return value


def _load(name: str, what: int):
    module_name, *names = ENTRY_POINTS[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        raise UserError(f"stage {name!r} is not available ({err}); disable it with "
                        f"--set {name}.enabled=false") from None
    return getattr(module, names[what])


def build_configs(data: dict) -> dict[str, Any]:
    """Stage name -> its Config for every enabled stage (report has none: {})."""
    configs: dict[str, Any] = {}
    for name in STAGES:
        if not _enabled(data, name):
            continue
        section = {k: v for k, v in (data.get(name) or {}).items() if k != "enabled"}
        if name == "report":
            if section:
                raise UserError(f"report: takes only `enabled`, got {sorted(section)}")
            configs[name] = {}
            continue
        cfg = from_mapping(_load(name, 0), section, name)
        configs[name] = cfg.resolved() if name == "generate" else cfg
    return configs


def resolved_document(data: dict, configs: dict[str, Any], run_dir: Path, shard_dir: Path) -> dict:
    doc: dict[str, Any] = {"out": str(run_dir), "shard_out": str(shard_dir)}
    for name in STAGES:
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


def _run_part_stage(name: str, cfg, run_dir: Path, ranks: Ranks, progress: bool, echo):
    entry = _load(name, 1)
    if name == "generate":
        return entry(cfg, run_dir, ranks=ranks, progress=progress, echo=echo)
    return entry(run_dir, cfg, ranks=ranks, progress=progress)


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
    for name in PART_STAGES:
        if name in configs:
            results[name] = _run_part_stage(name, configs[name], run_dir, ranks, progress, echo)
    if ranks.rank != 0:
        return results
    if ranks.world_size > 1 and ("shard" in configs or "report" in configs):
        from .plan import load_plan

        last = [n for n in PART_STAGES if n in configs][-1]
        wait_for_parts(run_dir, last, len(load_plan(run_dir).parts), echo=echo)
    if "shard" in configs:
        results["shard"] = _load("shard", 1)(run_dir, shard_dir, configs["shard"], progress=progress, echo=echo,
                                             command=command_line(), config=document)
    if "report" in configs:
        try:
            from .report import build_report
        except ImportError as err:
            raise UserError(f"the report is not available ({err}); disable it with --set report.enabled=false") from None
        results["report"] = build_report(run_dir)
        if echo:
            echo(f"report: {results['report']}")
    return results
