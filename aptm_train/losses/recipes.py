"""The paper's loss recipes as configs (`named_task(name)`), overridable like any config.

- `mals-pretrain`: ITC + ITM + MLM + 0.8 * (IAC + IAM + MAM) / 3, label smoothing 0.4 on IAC/IAM.
- `finetune`: ITC + ITM + MLM + 0.8 * (ITC_eda + ITM_eda); attribute stream off (CUHK/ICFG/RSTP).
- `pa100k`: IAC + IAM + MAM over PA-100K's 26 attributes / 52 prompts, no smoothing.
"""
from __future__ import annotations

from mals_gen.errors import UserError

from .task import LossWeights, TaskConfig

RECIPES: dict[str, TaskConfig] = {
    "mals-pretrain": TaskConfig(
        name="mals-pretrain",
        weights=LossWeights(itc=1.0, itm=1.0, mlm=1.0, iac=0.8 / 3, iam=0.8 / 3, mam=0.8 / 3),
        attributes="mals", label_smoothing=0.4),
    "finetune": TaskConfig(
        name="finetune",
        weights=LossWeights(itc=1.0, itm=1.0, mlm=1.0, itc_eda=0.8, itm_eda=0.8)),
    "pa100k": TaskConfig(
        name="pa100k",
        weights=LossWeights(iac=1.0, iam=1.0, mam=1.0), attributes="pa100k", label_smoothing=0.0),
}


def named_task(name: str) -> TaskConfig:
    if name not in RECIPES:
        raise UserError(f"unknown loss recipe {name!r}; choose one of {', '.join(RECIPES)}")
    return RECIPES[name]
