"""Convert a released APTM checkpoint (`checkpoint_best.pth`: {"model": state_dict, "config": yaml dict})
into our checkpoint folder (config.json + model.safetensors).

The sizes are not stored in the released file, so they are read from the tensor shapes (see
docs/checkpoint-keys.md); only the BERT head count (not visible in shapes) and the image size
(stored as training settings, if at all) come from conventions or flags, and the image size is
checked against the stored shifted-window masks. Our parameter names equal the original's, so the
mapping only drops what we recompute (position_ids, relative_position_index, attn_mask — each
verified first) and the two tied aliases (verified equal).

Safety: the file is read with `torch.load(weights_only=True)`. Only with `trust_pickle=True` does a
file that needs arbitrary unpickling get loaded unrestricted (it can run code: trusted files only).
"""
from __future__ import annotations

import json
import pickle
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from mals_gen.errors import UserError

from .aptm import APTM
from .checkpoint import save_model
from .config import APTMConfig, TextConfig, VisionConfig

ALIASES = {  # alias -> the name we keep
    "text_encoder.cls.predictions.decoder.weight": "text_encoder.bert.embeddings.word_embeddings.weight",
    "text_encoder.cls.predictions.decoder.bias": "text_encoder.cls.predictions.bias",
}
RECOMPUTED = ("relative_position_index", "attn_mask")


@dataclass
class ConversionReport:
    source: str
    loaded: int = 0
    missing: list[str] = field(default_factory=list)
    unexpected: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (f"{self.source}: {self.loaded} tensors loaded, {len(self.missing)} missing, "
                f"{len(self.unexpected)} unexpected, {len(self.dropped)} recomputed/aliased dropped")


def _checkpoint_format(path: Path) -> str | None:
    """'zip' (torch.save since 1.6), 'pickle' (older torch.save) or None (not a torch file)."""
    with path.open("rb") as f:
        head = f.read(4)
    if head == b"PK\x03\x04":  # by its first bytes: a truncated archive has no directory to check
        return "zip"
    # pickle protocol 2+ starts with PROTO (0x80) and the protocol number
    return "pickle" if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5 else None


def _load_torch_file(path: Path, trust_pickle: bool, echo: Callable[[str], None]):
    """torch.load with weights_only=True; the unrestricted load only behind --trust-pickle.

    --trust-pickle is suggested only for a real torch file that weights_only refused, never for a
    file that is not a checkpoint at all (the flag could not help and only widens the risk).
    """
    kind = _checkpoint_format(path)
    if kind is None:
        raise UserError(f"{path} is not a PyTorch checkpoint (neither a torch zip archive nor a pickle); "
                        "pass the released checkpoint_best.pth")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        refused = str(err).startswith("Weights only load failed")
        if not (refused and trust_pickle):
            hint = "if you trust this file, rerun with --trust-pickle" if refused else "download it again"
            raise UserError(f"{path}: cannot be read with weights_only=True ({str(err).splitlines()[0][:120]}); "
                            f"{hint}") from None
    except (RuntimeError, EOFError, OSError, KeyError) as err:
        raise UserError(f"{path} is truncated or damaged ({type(err).__name__}: {str(err).splitlines()[0][:100]}); "
                        "download it again") from None
    echo(f"warning: loading {path} with unrestricted unpickling (--trust-pickle): it can run code")
    try:
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - a damaged pickle can raise nearly anything
        raise UserError(f"{path} cannot be unpickled ({type(err).__name__}: {str(err).splitlines()[0][:100]}); "
                        "it is damaged or not an APTM checkpoint") from None


def read_released(path: str | Path, trust_pickle: bool = False,
                  echo: Callable[[str], None] = print) -> tuple[dict[str, torch.Tensor], dict]:
    """(state_dict, training config dict) of a released checkpoint, loaded safely."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; pass the path to checkpoint_best.pth")
    obj = _load_torch_file(path, trust_pickle, echo)
    if isinstance(obj, dict) and isinstance(obj.get("model"), dict):
        state, cfg = obj["model"], obj.get("config") or {}
    elif isinstance(obj, dict) and all(isinstance(v, torch.Tensor) for v in obj.values()):
        state, cfg = obj, {}
    else:
        raise UserError(f"{path}: expected a dict with 'model' (a state dict) and 'config'; not an APTM checkpoint")
    state = {k.removeprefix("module."): v for k, v in state.items() if isinstance(v, torch.Tensor)}
    return state, cfg if isinstance(cfg, dict) else {}


def _indices(state: dict, pattern: str) -> list[int]:
    rx = re.compile(pattern)
    return sorted({int(m.group(1)) for k in state if (m := rx.match(k))})


def infer_config(state: dict[str, torch.Tensor], image_size: tuple[int, int] = (384, 128),
                 text_heads: int | None = None, name: str = "aptm-converted") -> APTMConfig:
    """Every size from the shapes (docs/checkpoint-keys.md, "How to infer every size from the shapes")."""
    try:
        pe = state["vision_encoder.patch_embed.proj.weight"]                   # (C0, in, p, p)
        stages = _indices(state, r"vision_encoder\.layers\.(\d+)\.")
        depths = tuple(len(_indices(state, rf"vision_encoder\.layers\.{s}\.blocks\.(\d+)\.")) for s in stages)
        heads = tuple(state[f"vision_encoder.layers.{s}.blocks.0.attn.relative_position_bias_table"].shape[1]
                      for s in stages)
        rows = state["vision_encoder.layers.0.blocks.0.attn.relative_position_bias_table"].shape[0]
        c0 = pe.shape[0]
        mlp_ratio = state["vision_encoder.layers.0.blocks.0.mlp.fc1.weight"].shape[0] / c0
        words = state["text_encoder.bert.embeddings.word_embeddings.weight"]   # (V, D)
        layers = _indices(state, r"text_encoder\.bert\.encoder\.layer\.(\d+)\.")
        fusion = _indices(state, r"text_encoder\.bert\.encoder\.layer\.(\d+)\.crossattention\.")
        hidden = words.shape[1]
        text = TextConfig(
            vocab_size=words.shape[0], hidden_size=hidden, num_layers=len(layers), fusion_layer=fusion[0],
            num_heads=text_heads or hidden // 64,  # not visible in shapes; BERT's head size is 64
            intermediate_size=state["text_encoder.bert.encoder.layer.0.intermediate.dense.weight"].shape[0],
            max_position_embeddings=state["text_encoder.bert.embeddings.position_embeddings.weight"].shape[0],
            type_vocab_size=state["text_encoder.bert.embeddings.token_type_embeddings.weight"].shape[0])
        vision = VisionConfig(img_size=tuple(image_size), patch_size=pe.shape[2], in_chans=pe.shape[1],
                              embed_dim=c0, depths=depths, num_heads=heads,
                              window_size=(round(rows ** 0.5) + 1) // 2, mlp_ratio=mlp_ratio)
        return APTMConfig(name=name, vision=vision, text=text, embed_dim=state["vision_proj.weight"].shape[0])
    except (KeyError, IndexError) as err:
        raise UserError(f"checkpoint lacks the APTM key {err}; it is not an APTM_Retrieval checkpoint") from None


def image_size_from_config(cfg: dict) -> tuple[int, int]:
    """The training resolution if the YAML holds it (`h`/`w` or `image_res`), else APTM's 384x128."""
    if isinstance(cfg.get("h"), int) and isinstance(cfg.get("w"), int):
        return cfg["h"], cfg["w"]
    return 384, 128


def map_state(state: dict[str, torch.Tensor], model: APTM, report: ConversionReport) -> dict[str, torch.Tensor]:
    """Their names -> ours; verifies recomputed buffers and aliases instead of loading them."""
    ours = model.state_dict()
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key == "text_encoder.bert.embeddings.position_ids":
            report.dropped.append(key)
        elif key.endswith(RECOMPUTED):
            if key not in ours or ours[key].shape != value.shape or not torch.equal(ours[key].to(value), value):
                raise UserError(f"{report.source}: buffer {key} {tuple(value.shape)} differs from the geometry "
                                f"we rebuild; pass the training image size with --image-size HxW")
            report.dropped.append(key)
        elif key in ALIASES:
            twin = state.get(ALIASES[key])
            if twin is not None and not torch.equal(twin, value):
                raise UserError(f"{report.source}: {key} should equal {ALIASES[key]} (tied) but differs")
            if twin is None:
                out[ALIASES[key]] = value
            report.dropped.append(key)
        elif key in ours and ours[key].shape == value.shape:
            out[key] = value
        else:
            report.unexpected.append(key)
    skip = set(ALIASES) | {k for k in ours if k.endswith(RECOMPUTED)}
    report.missing = [k for k in ours if k not in out and k not in skip]
    report.loaded = len(out)
    return out


def convert_checkpoint(ckpt: str | Path, out_dir: str | Path, *, trust_pickle: bool = False,
                       image_size: tuple[int, int] | None = None, text_heads: int | None = None,
                       echo: Callable[[str], None] = print) -> ConversionReport:
    """Read, infer the config, map, load into a fresh APTM, write `out_dir` + conversion.json."""
    state, train_cfg = read_released(ckpt, trust_pickle, echo)
    cfg = infer_config(state, image_size or image_size_from_config(train_cfg), text_heads,
                       name=f"converted:{Path(ckpt).name}")
    model = APTM.from_config(cfg)
    report = ConversionReport(str(ckpt))
    mapped = map_state(state, model, report)
    model.load_state_dict(mapped, strict=False)
    save_model(model, out_dir)
    info = {"source": str(ckpt), "loaded": report.loaded, "missing": report.missing,
            "unexpected": report.unexpected, "dropped": report.dropped, "train_config": train_cfg}
    (Path(out_dir) / "conversion.json").write_text(json.dumps(info, indent=2, default=str) + "\n")
    echo(report.summary())
    for kind, keys in (("missing (kept fresh init)", report.missing), ("unexpected (ignored)", report.unexpected)):
        if keys:
            echo(f"  {kind}: {len(keys)}, e.g. {', '.join(keys[:5])}")
    return report
