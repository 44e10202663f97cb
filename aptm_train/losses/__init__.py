"""APTM's losses, one plain function each, and the `Task` that sums them (see recipes.py)."""
from .attributes import choose_images, choose_prompts, iac_loss, iam_loss, mam_loss
from .itc import gather_with_grad, itc_loss
from .itm import itm_loss, sample_negatives
from .mlm import MaskingConfig, MaskingVocab, mask_tokens, mlm_loss
from .recipes import RECIPES, named_task, task_config
from .task import LossWeights, Task, TaskConfig

__all__ = [
    "RECIPES",
    "LossWeights",
    "MaskingConfig",
    "MaskingVocab",
    "Task",
    "TaskConfig",
    "choose_images",
    "choose_prompts",
    "gather_with_grad",
    "iac_loss",
    "iam_loss",
    "itc_loss",
    "itm_loss",
    "mam_loss",
    "mask_tokens",
    "mlm_loss",
    "named_task",
    "sample_negatives",
    "task_config",
]
