"""Training configuration: frozen dataclasses, filled as defaults < recipe preset < YAML < flags.

`resolve(command, config_file, overrides)` is the single entry point the CLI calls; unknown keys,
wrong types and bad values are one-line `UserError`s naming the key. The resolved config is
written to RUN/config.yaml and into every checkpoint.

The recipe (`recipe`, default per command: pretrain -> mals-pretrain, finetune -> finetune) picks
the preset below and the loss task (aptm_train.losses.recipes); `loss` overrides that task's
fields. The presets are the paper's recipes and select the original code's behaviour where ours
differs; the dataclass defaults are ours (docs/differences-from-original.md).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from mals_gen.config import deep_merge, from_mapping, load_yaml
from mals_gen.eda import STYLES as EDA_STYLES
from mals_gen.errors import UserError

MODES = ("exact", "resampled")
SCHEDULES = ("linear", "aptm-step", "constant")
NO_DECAY_RULES = ("modules", "names")
RANDAUG_MAGNITUDES = ("original", "torchvision")
PRECISIONS = ("no", "bf16", "fp16")


@dataclass(frozen=True)
class DataConfig:
    shards: str = ""               # shard folder (train split; validation reads its val split)
    batch_size: int = 8            # pairs per process per micro-batch
    num_workers: int = 2           # DataLoader workers per process (0 = in the main process)
    shuffle_buffer: int = 0        # samples per worker buffer (raw bytes); 0 = sized from the data
    mode: str = "exact"            # "exact" (each sample once per epoch) | "resampled" (multi-node)
    norm: str = "auto"             # mean/std: auto (the shards' source) | mals | cuhk-pedes | ...
    max_words: int = 56            # caption words kept; tokens are capped by the model's text.max_len
    id_by: str = "image"           # ITC/ITM identity: "image" (pretraining) | "person" (fine-tuning)
    eda: bool = False              # EDA caption copies (fine-tuning)
    eda_alpha: float = 0.1
    eda_style: str = "ours"        # ours | original (the official EDA; see mals_gen/eda.py)
    wordnet_dir: str = ""          # WordNet database folder for EDA synonyms ("" = search)
    randaug_ops: int = 2
    randaug_magnitude: int = 7     # on the original 0-10 scale
    randaug_magnitudes: str = "original"  # "original" (translate 7 px, ...) | "torchvision"
    random_erasing: float = 0.6
    val_max_images: int = 1000     # validation gallery cap (0 = the whole val split)
    log_sample_keys: bool = False  # write RUN/sample_keys/epoch-E-rank-R.txt (coverage checks)
    max_bad_fraction: float = 0.01  # unreadable train pairs tolerated per epoch (skipped), as a fraction


@dataclass(frozen=True)
class OptimConfig:
    lr: float = 1e-4
    weight_decay: float = 0.01     # not on biases and norm weights (see no_decay)
    no_decay: str = "modules"      # "modules": biases + norm-layer weights | "names": the original's name rule
    betas: tuple[float, float] = (0.9, 0.98)
    eps: float = 1e-8
    lr_x2: str = "pretrain"        # which parameters get 2x lr: "pretrain" | "finetune" | "none"
    grad_accum: int = 1            # micro-batches per optimiser step
    clip_grad: float = 0.0         # max gradient norm (0 = off)
    # lr multiplier of the cross-attention layers and the ITM head (on top of lr_x2): they start
    # from random weights while the text layers around them are pretrained
    cross_lr_scale: float = 1.0
    # lr multiplier of the vision encoder (on top of lr_x2): for runs whose Swin starts from random
    # weights beside a pretrained text encoder (docs/differences-from-original.md)
    vision_lr_scale: float = 1.0


@dataclass(frozen=True)
class ScheduleConfig:
    kind: str = "linear"           # "linear" | "aptm-step" | "constant"
    warmup_steps: int = 2600       # used when warmup_frac is 0
    warmup_frac: float = 0.0       # warm-up as a fraction of all optimiser steps (aptm-step: 0.1)


@dataclass(frozen=True)
class TrainConfig:
    recipe: str = "mals-pretrain"  # mals-pretrain | finetune | pa100k (aptm_train.losses.recipes)
    model: str = ""                # named size: aptm-tiny | aptm-mini | aptm-base ("" = aptm-base, or --init's)
    model_overrides: dict = field(default_factory=dict)  # e.g. {"vision": {"img_size": [96, 32]}}
    pretrained: bool = True        # load the size's pretrained vision / text weights (pretraining)
    init: str = ""                 # model folder to start from (fine-tuning)
    out: str = ""
    epochs: int = 32
    max_steps: int = 0             # stop after this many optimiser steps (0 = run all epochs)
    seed: int = 42
    mixed_precision: str = "no"    # "no" | "bf16" | "fp16"
    save_every: int = 1000         # optimiser steps between checkpoints (0 = only at the end)
    keep_last: int = 3
    eval_every: int = 0            # optimiser steps between validations (0 = end of each epoch)
    log_every: int = 10
    loss: dict = field(default_factory=dict)  # overrides of the recipe's loss task, e.g. {"itc_gradient": "global"}
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    schedule: ScheduleConfig = field(default_factory=ScheduleConfig)


# The paper's recipes (docs/method.md "Training recipes of the paper"; 4 GPUs): batch sizes per
# process, and the original code's weight-decay rule and RandAugment magnitudes. Their loss tasks
# (aptm_train.losses.recipes) select the original's ITC gradient and IAC / IAM reduction.
_FINETUNE_LIKE = {"epochs": 30, "pretrained": False, "optim": {"lr_x2": "finetune", "no_decay": "names"},
                  "schedule": {"kind": "aptm-step", "warmup_frac": 0.1}}
PRESETS: dict[str, dict] = {
    "mals-pretrain": {"epochs": 32, "pretrained": True,
                      "data": {"batch_size": 150, "id_by": "image", "eda": False, "randaug_magnitudes": "original"},
                      "optim": {"lr_x2": "pretrain", "no_decay": "names"},
                      "schedule": {"kind": "linear", "warmup_steps": 2600, "warmup_frac": 0.0}},
    "finetune": deep_merge(_FINETUNE_LIKE, {"data": {"batch_size": 120, "id_by": "person", "eda": True,
                                                     "eda_style": "original", "randaug_magnitudes": "original"}}),
    "pa100k": deep_merge(_FINETUNE_LIKE, {"data": {"batch_size": 200, "id_by": "image", "eda": False,
                                                   "randaug_magnitudes": "original"}}),
}
COMMAND_RECIPES = {"pretrain": "mals-pretrain", "finetune": "finetune"}


def resolve(command: str, config_file: str | None, overrides: dict) -> TrainConfig:
    """defaults < preset of the recipe (the command's unless YAML / flags name one) < YAML < flags."""
    given = deep_merge(load_yaml(config_file) if config_file else {}, overrides)
    recipe = given.get("recipe") or COMMAND_RECIPES[command]
    data = deep_merge(deep_merge(PRESETS.get(recipe, {}), {"recipe": recipe}), given)
    cfg = from_mapping(TrainConfig, data, where=config_file or "config")
    validate(cfg)
    return cfg


def validate(cfg: TrainConfig) -> None:
    checks = [
        (cfg.recipe in PRESETS, f"recipe {cfg.recipe!r} is unknown; choose one of {', '.join(PRESETS)}"),
        (cfg.data.mode in MODES, f"data.mode {cfg.data.mode!r} is unknown; choose exact or resampled"),
        (cfg.schedule.kind in SCHEDULES, f"schedule.kind {cfg.schedule.kind!r}; choose {', '.join(SCHEDULES)}"),
        (cfg.mixed_precision in PRECISIONS, f"mixed_precision {cfg.mixed_precision!r}; choose no, bf16 or fp16"),
        (cfg.optim.lr_x2 in ("pretrain", "finetune", "none"), "optim.lr_x2 must be pretrain, finetune or none"),
        (cfg.optim.no_decay in NO_DECAY_RULES, "optim.no_decay must be modules or names"),
        (cfg.data.randaug_magnitudes in RANDAUG_MAGNITUDES, "data.randaug_magnitudes must be original or torchvision"),
        (cfg.data.id_by in ("image", "person"), "data.id_by must be image or person"),
        (cfg.data.eda_style in EDA_STYLES, f"data.eda_style must be one of {', '.join(EDA_STYLES)}"),
        (cfg.data.batch_size >= 1, "data.batch_size must be at least 1"),
        (0 <= cfg.data.max_bad_fraction <= 1, "data.max_bad_fraction must be between 0 and 1"),
        (cfg.optim.cross_lr_scale > 0, "optim.cross_lr_scale must be positive"),
        (cfg.optim.vision_lr_scale > 0, "optim.vision_lr_scale must be positive"),
        (cfg.optim.grad_accum >= 1, "optim.grad_accum must be at least 1"),
        (cfg.epochs >= 1 or cfg.max_steps >= 1, "set epochs or max_steps to at least 1"),
        (cfg.keep_last >= 1, "keep_last must be at least 1"),
        (bool(cfg.data.shards), "no shards given; pass --shards FOLDER"),
        (bool(cfg.out), "no output folder given; pass --out RUN"),
    ]
    for ok, message in checks:
        if not ok:
            raise UserError(message)
    from ..losses import task_config  # the loss overrides, checked before any work starts

    task_config(cfg.recipe, cfg.loss, cfg.seed)
