"""Build what a run needs from its config: model (fresh, pretrained or from --init), data, task.

Kept apart from the loop so the loop reads top to bottom as "for each batch: forward, backward,
step, log, validate, save". Every user-fixable problem is a one-line `UserError` raised here
before any work starts: missing or empty shards, shards without attributes for an attribute
recipe, a model size that does not match the checkpoint being resumed or fine-tuned.
"""
from __future__ import annotations

import functools
from pathlib import Path

from mals_gen.config import deep_merge, dump_yaml, from_mapping, to_dict
from mals_gen.errors import UserError

from ..data import shards as shard_io
from ..data.collate import Collate
from ..data.transforms import test_transform, train_transform
from .config import TrainConfig


def model_config(cfg: TrainConfig):
    """The APTMConfig of this run: the named size (+ overrides), or the --init folder's own."""
    from ..model.checkpoint import load_config
    from ..model.config import APTMConfig, named_config

    if cfg.init:
        init_cfg = load_config(cfg.init)
        if cfg.model and cfg.model != init_cfg.name:
            raise UserError(f"--init {cfg.init} holds an {init_cfg.name} model but --model-size asks for "
                            f"{cfg.model}; drop --model-size or pick a checkpoint of that size")
        return init_cfg
    base = named_config(cfg.model or "aptm-base")
    if not cfg.model_overrides:
        return base
    return from_mapping(APTMConfig, deep_merge(to_dict(base), cfg.model_overrides), "model_overrides")


def check_resume_compatible(run: Path, model_cfg, checkpoint: Path) -> None:
    """A checkpoint of another model size (or shape) cannot be resumed into this model."""
    from ..model.checkpoint import load_config

    saved = load_config(checkpoint / "model")
    if to_dict(saved) != to_dict(model_cfg):
        what = saved.name if saved.name != model_cfg.name else "a differently shaped " + saved.name
        raise UserError(f"{checkpoint} holds {what} model but this run builds {model_cfg.name}"
                        f"{'' if saved.name != model_cfg.name else ' with other sizes'}; resume with the "
                        f"run's own --model-size ({saved.name}) or start a new --out")


def build_model(cfg: TrainConfig, model_cfg, echo):
    from ..model.aptm import APTM
    from ..model.checkpoint import load_model

    if cfg.init:
        return load_model(cfg.init)
    model = APTM.from_config(model_cfg)
    if cfg.pretrained and (model_cfg.pretrained_vision or model_cfg.pretrained_text):
        from ..model.pretrained import load_pretrained

        for report in load_pretrained(model, vision=model_cfg.pretrained_vision, text=model_cfg.pretrained_text):
            echo(f"pretrained: {report.summary()}")
    return model


def open_data(cfg: TrainConfig, task_cfg):
    """The shard set; a task with the attribute stream on needs shards that carry attributes."""
    shards = shard_io.open_shards(cfg.data.shards)
    shard_io.require_split(shards, "train", "training")
    if task_cfg.uses_attributes:
        shard_io.require_attrs(shards, cfg.recipe)
    return shards


def norm_name(cfg: TrainConfig, shards) -> str:
    if cfg.data.norm != "auto":
        if cfg.data.norm not in shard_io.NORM_STATS:
            raise UserError(f"data.norm {cfg.data.norm!r} is unknown; choose auto or one of "
                            f"{', '.join(shard_io.NORM_STATS)}")
        return cfg.data.norm
    return shard_io.norm_name(shards.dominant_source("train"))


def transforms(cfg: TrainConfig, model_cfg, norm: str):
    size = tuple(model_cfg.vision.img_size)
    train = train_transform(size, norm, randaug_ops=cfg.data.randaug_ops,
                            randaug_magnitude=cfg.data.randaug_magnitude, erasing=cfg.data.random_erasing,
                            magnitudes=cfg.data.randaug_magnitudes)
    return train, test_transform(size, norm)


def eda_fn(cfg: TrainConfig):
    """The EDA text function for the pipeline, or None when the recipe does not use EDA copies."""
    if not cfg.data.eda:
        return None
    from mals_gen.eda import EdaConfig, make_eda
    from mals_gen.wordnet import WordNet, find_wordnet_dir

    wordnet = WordNet(find_wordnet_dir(cfg.data.wordnet_dir))
    return make_eda(EdaConfig(alpha=cfg.data.eda_alpha, style=cfg.data.eda_style), wordnet)


def collate_fn(cfg: TrainConfig, tokenizer, task_cfg, max_len: int) -> Collate:
    """Batches for `task_cfg`: its attribute count, its MLM masking; tokens cut at the model's max_len."""
    from ..losses.mlm import MaskingVocab, mask_tokens
    from ..text import tokenize

    masking = task_cfg.masking
    mask = functools.partial(mask_tokens, vocab=MaskingVocab.from_tokenizer(tokenizer), cfg=masking)
    return Collate(tokenizer, tokenize, mask, max_len=max_len, max_words=cfg.data.max_words,
                   num_attrs=task_cfg.attribute_set.num_attributes, pad_to_max=masking.count == "padded")


def build_task(cfg: TrainConfig):
    """The recipe's loss task with the config's `loss` overrides."""
    from ..losses import Task, task_config

    return Task(task_config(cfg.recipe, cfg.loss, cfg.seed))


def config_text(cfg: TrainConfig, model_cfg, task_cfg) -> str:
    """RUN/config.yaml: the training config, the model config and the resolved loss task."""
    return dump_yaml({"train": to_dict(cfg), "model": to_dict(model_cfg), "task": to_dict(task_cfg)})
