"""The stage registry: every `mals` stage in order, with its Config, what it reads and its entry point.

`mals run`, the stage commands and `mals inspect` all read `STAGES`; nothing else lists stages.
Adding a stage = one module with a frozen Config and a run function + one `Stage(...)` line here.

Two shapes of entry point:

* per-part stages (`per_part=True`) work on the plan's parts, resumable and split across ranks:
  `run(run_dir, cfg, *, ranks, progress, echo)`;
* whole-run stages (`per_part=False`) run once, on rank 0, after every part is done:
  `run(run_dir, cfg=cfg, *, progress, echo, **inputs)`, where `inputs` are the keywords named in
  `Stage.inputs`, taken from what `mals run` knows (the shard folder, the command line, the config).

Entry points and Configs are named "module:attribute" and imported on first use, so importing the
registry (and `mals --help`) stays cheap: no torch, no pyarrow, no stage module.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from .errors import UserError

Echo = Callable[[str], None] | None


@cache
def resolve_ref(ref: str) -> Any:
    """'package.module:attribute' -> the attribute (imported once)."""
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


@dataclass(frozen=True)
class Stage:
    name: str
    config_ref: str                  # "module:Class" of the stage's frozen Config
    requires: str | None             # the stage whose finished parts this one reads
    run_ref: str                     # "module:function", the entry point (see the module docstring)
    per_part: bool = True
    inputs: tuple[str, ...] = ()     # whole-run stages: keywords they take from `mals run`
    manifest: bool = True            # per-part stages: writes RUN/<name>/part-NNNNN.parquet of samples

    @property
    def config_cls(self) -> type:
        return resolve_ref(self.config_ref)

    @property
    def run(self) -> Callable[..., Any]:
        return resolve_ref(self.run_ref)

    def build_config(self, settings: Mapping | None = None, where: str | None = None) -> Any:
        """The stage's Config from a mapping, validated and resolved before anything is written.

        A Config may define a classmethod `from_mapping(data, where)` (its own key layout) and a
        method `resolved()` (fill defaults that depend on other fields, validate across fields)."""
        from .config import from_mapping

        cls, where = self.config_cls, where or self.name
        build = getattr(cls, "from_mapping", None)
        cfg = build(settings, where) if build is not None else from_mapping(cls, settings, where)
        resolve = getattr(cfg, "resolved", None)
        return resolve() if resolve is not None else cfg

    def call(self, run_dir: str | Path, cfg: Any, *, ranks, progress: bool = True, echo: Echo = print,
             **inputs: Any) -> Any:
        """Run the stage the one way `mals run` does (whole-run stages ignore `ranks`)."""
        if self.per_part:
            return self.run(run_dir, cfg, ranks=ranks, progress=progress, echo=echo)
        return self.run(run_dir, cfg=cfg, progress=progress, echo=echo, **{k: inputs[k] for k in self.inputs})


STAGES: tuple[Stage, ...] = (
    Stage("import", "mals_gen.images_import.stage:ImportConfig", None, "mals_gen.images_import.stage:run_import_stage",
          manifest=False),  # writes plan and generate parts, like generate
    Stage("generate", "mals_gen.generate.config:GenerateConfig", None, "mals_gen.generate.stage:run_generate"),
    Stage("caption", "mals_gen.caption.stage:CaptionConfig", "generate", "mals_gen.caption.stage:run_caption"),
    Stage("attrs", "mals_gen.attrs.stage:AttrsConfig", "caption", "mals_gen.attrs.stage:run_attrs"),
    Stage("filter", "mals_gen.filter.stage:FilterConfig", "attrs", "mals_gen.filter.stage:run_filter"),
    Stage("shard", "mals_gen.shard.select:ShardConfig", "generate", "mals_gen.shard.select:run_shard",
          per_part=False, inputs=("out_dir", "command", "config")),
    Stage("report", "mals_gen.report:ReportConfig", "generate", "mals_gen.report:build_report", per_part=False),
)
BY_NAME: dict[str, Stage] = {s.name: s for s in STAGES}
STAGE_NAMES: tuple[str, ...] = tuple(BY_NAME)
PART_STAGES: tuple[Stage, ...] = tuple(s for s in STAGES if s.per_part)
RUN_STAGES: tuple[Stage, ...] = tuple(s for s in STAGES if not s.per_part)
#: Manifest folders in join order: the plan (written by generate) and every per-part stage.
MANIFEST_STAGES: tuple[str, ...] = ("plan", *(s.name for s in PART_STAGES if s.manifest))


def get_stage(name: str) -> Stage:
    try:
        return BY_NAME[name]
    except KeyError:
        raise UserError(f"unknown stage {name!r}; stages: {', '.join(STAGE_NAMES)}") from None
