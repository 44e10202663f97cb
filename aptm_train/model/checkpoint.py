"""Checkpoint folders: `config.json` (the APTMConfig) + `model.safetensors`; a folder rebuilds its model.

safetensors refuses tensors that share memory, so the two aliases of the tied MLM head
(`decoder.weight` = word embeddings, `decoder.bias` = `cls.predictions.bias`) are dropped on save
and re-tied by construction on load.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from mals_gen.config import from_mapping, to_dict
from mals_gen.errors import UserError

from .aptm import APTM
from .config import APTMConfig

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "aptm-train/1"
#: Names that alias another tensor of the state dict; never stored.
TIED_ALIASES = ("text_encoder.cls.predictions.decoder.weight", "text_encoder.cls.predictions.decoder.bias")


def config_dict(cfg: APTMConfig) -> dict:
    return {"format": FORMAT, "model": to_dict(cfg)}


def config_from_dict(data: dict, where: str) -> APTMConfig:
    if data.get("format") != FORMAT or not isinstance(data.get("model"), dict):
        raise UserError(f"{where}: not an aptm-train model config (expected format {FORMAT!r}); "
                        "convert released checkpoints with `aptm-train convert`")
    return from_mapping(APTMConfig, data["model"], where)


def storable_state(model: APTM) -> dict[str, torch.Tensor]:
    """State dict without tied aliases, contiguous, on CPU."""
    sd = model.state_dict()
    return {k: v.detach().to("cpu").contiguous() for k, v in sd.items() if k not in TIED_ALIASES}


def save_model(model: APTM, folder: str | Path, extra_config: dict | None = None) -> Path:
    """Write `config.json` + `model.safetensors` into `folder` (atomically renamed into place)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    model = getattr(model, "module", model)     # unwrap DDP / accelerate wrappers
    # Temporary names + rename: a reader never sees a half-written file.
    tmp = folder / f".{WEIGHTS_NAME}.tmp-{os.getpid()}"
    save_file(storable_state(model), str(tmp), metadata={"format": FORMAT})
    os.replace(tmp, folder / WEIGHTS_NAME)
    data = config_dict(model.config) | (extra_config or {})
    tmp = folder / f".{CONFIG_NAME}.tmp-{os.getpid()}"
    tmp.write_text(json.dumps(data, indent=2) + "\n")
    os.replace(tmp, folder / CONFIG_NAME)
    return folder


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
