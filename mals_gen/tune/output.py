"""What tuning leaves behind: the adapter (or full pipeline) folder, its model card, sample grids, logs."""
from __future__ import annotations

import json
import time
from pathlib import Path

from ..config import to_dict
from ..contact_sheet import save_contact_sheet
from ..fsutil import write_json_atomic
from .config import TuneConfig

CARD_FILE = "tune.json"            # machine-readable card; README.md is the readable one
LORA_WEIGHTS = "pytorch_lora_weights.safetensors"


def save_result(pipe, unet, cfg: TuneConfig, out: Path) -> Path:
    """A folder diffusers loads: `pipe.load_lora_weights(out)` (lora) or `from_pretrained(out)` (full)."""
    if cfg.method == "lora":
        from diffusers.utils import convert_state_dict_to_diffusers
        from peft.utils import get_peft_model_state_dict

        layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
        type(pipe).save_lora_weights(out, unet_lora_layers=layers, weight_name=LORA_WEIGHTS,
                                     unet_lora_adapter_metadata=unet.peft_config["default"].to_dict())
    else:
        pipe.unet = unet
        pipe.save_pretrained(out)
    return out


def write_card(out: Path, cfg: TuneConfig, shards: str, summary: dict) -> None:
    """README.md (base model, data, steps, settings, how to use) and tune.json with the same facts."""
    card = {"base": cfg.base, "method": cfg.method, "shards": str(Path(shards).resolve()), "split": cfg.split,
            **summary, "settings": to_dict(cfg)}
    write_json_atomic(out / CARD_FILE, card)
    use = (f"mals generate --model {cfg.base} --lora {out} --n 1000 --out runs/tuned" if cfg.method == "lora"
           else f"mals generate --model {out} --n 1000 --out runs/tuned")
    data = (f"- data: `{card['shards']}`, split `{cfg.split}`, {summary['pairs']:,} captioned images "
            f"({summary['skipped']} unreadable, skipped)")
    steps = (f"- steps: {summary['steps']:,} at batch {cfg.batch_size} x {summary['world_size']} processes, "
             f"lr {cfg.lr:g}, {cfg.height}x{cfg.width} pixels (resized and padded), caption dropout "
             f"{cfg.caption_dropout:g}, precision {cfg.mixed_precision}")
    lines = [f"# {out.name}: {cfg.base} fine-tuned on person data ({cfg.method})", "",
             f"- base model: `{cfg.base}`", data, steps,
             f"- final loss (mean of the last logged steps): {summary['final_loss']:.4f}", "",
             "Use it:", "", "```bash", use, "```", "", "Settings:", "", "```json",
             json.dumps(to_dict(cfg), indent=2), "```", ""]
    (out / "README.md").write_text("\n".join(lines))


def sample_grid(pipe, cfg: TuneConfig, path: Path, step: int) -> Path:
    """The fixed prompts with fixed seeds, one PNG per call: grids of two steps compare like for like."""
    import torch

    generators = [torch.Generator("cpu").manual_seed(cfg.seed + i) for i in range(len(cfg.sample_prompts))]
    with torch.no_grad():
        images = pipe(list(cfg.sample_prompts), num_inference_steps=cfg.sample_steps, guidance_scale=5.0,
                      height=cfg.height, width=cfg.width, generator=generators).images
    items = list(zip(images, cfg.sample_prompts))
    return save_contact_sheet(path, items, columns=len(items), thumb=(cfg.height, cfg.width), text_lines=4,
                              title=f"step {step}")


class TrainLog:
    """One JSON line per logged step (logs/train.jsonl) and the same scalars for TensorBoard (logs/tb)."""

    def __init__(self, out: Path, resume_step: int):
        self.path = out / "logs" / "train.jsonl"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._drop_after(resume_step)  # lines of steps after the checkpoint are redone, not repeated
        from torch.utils.tensorboard import SummaryWriter

        self.tb = SummaryWriter(str(out / "logs" / "tb"), purge_step=resume_step + 1)
        self._file = self.path.open("a")
        self.started = time.time()

    def _drop_after(self, step: int) -> None:
        if self.path.exists():
            kept = [line for line in self.path.read_text().splitlines() if line and json.loads(line)["step"] <= step]
            self.path.write_text("".join(line + "\n" for line in kept))

    def write(self, step: int, scalars: dict) -> None:
        self._file.write(json.dumps({"step": step, **scalars, "seconds": round(time.time() - self.started, 3)}) + "\n")
        self._file.flush()
        for name, value in scalars.items():
            self.tb.add_scalar(f"tune/{name}", value, step)

    def close(self) -> None:
        self._file.close()
        self.tb.close()
