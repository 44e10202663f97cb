"""Checkpoint folders in the Hugging Face layout; a folder rebuilds its model by itself.

    config.json          model_type "aptm", architectures ["APTM"], a few flat sizes, and our
                         nested APTMConfig under "model" (older folders without the flat keys load too)
    model.safetensors    the weights (readable by `safetensors.torch.load_file` alone)
    tokenizer files      vocab.txt, tokenizer.json, ... (so the folder needs no bundled vocab package)
    README.md            the model card (`card.py`): training data, recipe, steps, metrics, loading

safetensors refuses tensors that share memory, so the two aliases of the tied MLM head
(`decoder.weight` = word embeddings, `decoder.bias` = `cls.predictions.bias`) are dropped on save
and re-tied by construction on load.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import torch

from mals_gen.config import from_mapping, to_dict
from mals_gen.errors import UserError

from .aptm import APTM
from .card import write_card
from .config import APTMConfig

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "aptm-train/1"
MODEL_TYPE = "aptm"
#: Files `save_pretrained` of a BERT tokenizer writes; any one of them marks a folder's own tokenizer.
TOKENIZER_FILES = ("tokenizer.json", "vocab.txt")
#: Names that alias another tensor of the state dict; never stored.
TIED_ALIASES = ("text_encoder.cls.predictions.decoder.weight", "text_encoder.cls.predictions.decoder.bias")


def config_dict(cfg: APTMConfig) -> dict:
    """HF-style flat keys (for tools that read config.json) + our nested config (what rebuilds the model)."""
    flat = {"model_type": MODEL_TYPE, "architectures": ["APTM"], "hidden_size": cfg.text.hidden_size,
            "vocab_size": cfg.text.vocab_size, "vision_width": cfg.vision.width,
            "projection_dim": cfg.embed_dim, "image_size": list(cfg.vision.img_size),
            "max_length": cfg.text.max_len, "torch_dtype": "float32"}
    return flat | {"format": FORMAT, "model": to_dict(cfg)}


def config_from_dict(data: dict, where: str) -> APTMConfig:
    if data.get("format") != FORMAT or not isinstance(data.get("model"), dict):
        raise UserError(f"{where}: not an aptm-train model config (expected format {FORMAT!r}); "
                        "convert released checkpoints with `aptm-train convert`")
    return from_mapping(APTMConfig, data["model"], where)


def storable_state(model: APTM) -> dict[str, torch.Tensor]:
    """State dict without tied aliases, contiguous, on CPU."""
    sd = model.state_dict()
    return {k: v.detach().to("cpu").contiguous() for k, v in sd.items() if k not in TIED_ALIASES}


def save_model(model: APTM, folder: str | Path, extra_config: dict | None = None,
               card_rows: list[str] | None = None) -> Path:
    """Write config.json, model.safetensors, the tokenizer files and the model card into `folder`.

    Weights and config are written under temporary names and renamed, so a reader never sees a
    half-written file. Files get the usual 0644 (less the umask): a checkpoint is shared with the group.
    """
    from safetensors.torch import save_file

    from ..text import build_tokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)     # unwrap DDP / accelerate wrappers
    tmp = folder / f".{WEIGHTS_NAME}.tmp-{os.getpid()}"
    save_file(storable_state(model), str(tmp), metadata={"format": FORMAT})
    _publish(tmp, folder / WEIGHTS_NAME)
    build_tokenizer(model.config).save_pretrained(str(folder))
    data = config_dict(model.config) | (extra_config or {})
    tmp = folder / f".{CONFIG_NAME}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    _publish(tmp, folder / CONFIG_NAME)
    write_card(folder, data, card_rows)
    return folder


def _publish(tmp: Path, final: Path) -> None:
    umask = os.umask(0)     # reading the umask means setting it; put it straight back
    os.umask(umask)
    os.chmod(tmp, 0o644 & ~umask)
    os.replace(tmp, final)


def load_config(folder: str | Path) -> APTMConfig:
    path = Path(folder) / CONFIG_NAME
    if not path.is_file():
        raise UserError(f"{folder}: no {CONFIG_NAME}; pass a folder written by aptm-train "
                        "(or convert a released checkpoint with `aptm-train convert`)")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise UserError(f"{path}: malformed JSON at line {err.lineno}; rewrite the file") from None
    return config_from_dict(data, str(path))


def load_tokenizer(folder: str | Path, cfg: APTMConfig | None = None):
    """The folder's own tokenizer files if it has them (older folders: the one its config names)."""
    from ..text import build_tokenizer

    cfg = cfg or load_config(folder)
    if any((Path(folder) / name).is_file() for name in TOKENIZER_FILES):
        cfg = dataclasses.replace(cfg, text=dataclasses.replace(cfg.text, tokenizer=str(Path(folder).resolve())))
    return build_tokenizer(cfg)


def from_pretrained(folder: str | Path, device: str | torch.device = "cpu") -> APTM:
    """The model of a checkpoint folder, in eval mode (the Hugging Face-style entry point)."""
    return load_model(folder, map_location=device).eval()


def load_model(folder: str | Path, map_location: str | torch.device = "cpu") -> APTM:
    """Rebuild the model from `folder/config.json` and load `folder/model.safetensors` strictly."""
    from safetensors.torch import load_file

    cfg = load_config(folder)
    weights = Path(folder) / WEIGHTS_NAME
    if not weights.is_file():
        raise UserError(f"{folder}: no {WEIGHTS_NAME}; the checkpoint folder is incomplete")
    model = APTM.from_config(cfg)
    sd = load_file(str(weights), device=str(map_location))
    expected = set(storable_state(model))
    missing, unexpected = sorted(expected - set(sd)), sorted(set(sd) - expected)
    if missing or unexpected:
        raise UserError(f"{weights}: does not match its config ({len(missing)} missing, e.g. "
                        f"{(missing or ['-'])[0]}; {len(unexpected)} unexpected, e.g. {(unexpected or ['-'])[0]})")
    model.load_state_dict(sd, strict=False)     # strict=False only for the two tied aliases
    return model.to(map_location)
