"""The paper's loss recipes as configs (`named_task(name)`), overridable like any config.

- `mals-pretrain`: ITC + ITM + MLM + 0.8 * (IAC + IAM + MAM) / 3, label smoothing 0.4 on IAC/IAM.
- `finetune`: ITC + ITM + MLM + 0.8 * (ITC_eda + ITM_eda); attribute stream off (CUHK/ICFG/RSTP).
- `pa100k`: IAC + IAM + MAM over PA-100K's 26 attributes / 52 prompts, no smoothing.

Every recipe is the paper's, so each selects the original code's behaviour where ours differs
(`itc_gradient="local"`, `attr_reduction="per-attribute"`; no temperature clamp). MLM masks stay
counted our way (`masking.count="caption"`). To train our way instead, override the task through
the training config's `loss` section, e.g. `--set loss.itc_gradient=global --set
loss.attr_reduction=pairs` (docs/differences-from-original.md lists every difference).
Noise-aware masking for machine captions (LUPerson-MLLM's NAM, `losses/nam.py`) is off in every
recipe (their captions are human or prompt-exact); turn it on with `--set loss.noise_aware_masking=true`.
"""
from __future__ import annotations

import dataclasses

from mals_gen.config import deep_merge, from_mapping, to_dict
from mals_gen.errors import UserError

from ..prompts import LABEL_FIELDS
from .attributes import REDUCTIONS
from .itc import ITC_GRADIENTS
from .mlm import MASK_COUNTS
from .task import LossWeights, TaskConfig

_ORIGINAL = {"itc_gradient": "local", "attr_reduction": "per-attribute", "temp_clamp": False}

RECIPES: dict[str, TaskConfig] = {
    "mals-pretrain": TaskConfig(
        name="mals-pretrain",
        weights=LossWeights(itc=1.0, itm=1.0, mlm=1.0, iac=0.8 / 3, iam=0.8 / 3, mam=0.8 / 3),
        attributes="mals", label_smoothing=0.4, **_ORIGINAL),
    "finetune": TaskConfig(
        name="finetune",
        weights=LossWeights(itc=1.0, itm=1.0, mlm=1.0, itc_eda=0.8, itm_eda=0.8), **_ORIGINAL),
    "pa100k": TaskConfig(
        name="pa100k",
        weights=LossWeights(iac=1.0, iam=1.0, mam=1.0), attributes="pa100k", label_smoothing=0.0,
        **_ORIGINAL),
}


def named_task(name: str) -> TaskConfig:
    if name not in RECIPES:
        raise UserError(f"unknown loss recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]


def task_config(name: str, overrides: dict | None = None, seed: int = 0) -> TaskConfig:
    """Recipe `name` with the training config's `loss` overrides applied, checked; one-line errors."""
    base = to_dict(named_task(name))
    cfg = from_mapping(TaskConfig, deep_merge(base, overrides or {}), where="loss")
    cfg = dataclasses.replace(cfg, seed=seed)
    choices = [("itc_gradient", cfg.itc_gradient, ITC_GRADIENTS),
               ("attr_reduction", cfg.attr_reduction, REDUCTIONS),
               ("masking.count", cfg.masking.count, MASK_COUNTS)]
    if cfg.itm_hardness < 0:
        raise UserError(f"loss.itm_hardness must be 0 (uniform negatives) or more, got {cfg.itm_hardness}")
    ramp = tuple(cfg.itm_hardness_ramp)
    if len(ramp) != 2 or not 0 <= ramp[0] <= ramp[1]:
        raise UserError(f"loss.itm_hardness_ramp must be [start, end] steps with 0 <= start <= end, got {list(ramp)}")
    if cfg.itm_start < 0:
        raise UserError(f"loss.itm_start must be a step >= 0, got {cfg.itm_start}")
    if cfg.nam_temperature <= 0:
        raise UserError(f"loss.nam_temperature must be positive, got {cfg.nam_temperature}")
    for key, value, allowed in choices:
        if value not in allowed:
            raise UserError(f"loss.{key} {value!r} is unknown; choose {' or '.join(allowed)}")
    if not cfg.weights.enabled():
        raise UserError(f"loss.weights: every weight of recipe {name!r} is 0; enable at least one")
    if cfg.attributes not in LABEL_FIELDS:
        raise UserError(f"loss.attributes {cfg.attributes!r} is unknown; choose {' or '.join(LABEL_FIELDS)}")
    return cfg
