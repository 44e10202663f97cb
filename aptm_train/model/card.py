"""The model card (`README.md`) of a checkpoint folder, in the Hugging Face model-card layout.

YAML front matter (tags, library), then: what the model is, what it was trained on (shard folder
and its split counts), recipe and steps, a metrics table, and how to load the folder. The
metrics table sits between two HTML comments so `aptm-train eval` can replace its rows without
touching the rest; rows are keyed by (data, split): a new eval of the same split replaces its row.
"""
from __future__ import annotations

from pathlib import Path

from mals_gen.fsutil import atomic_path

CARD_NAME = "README.md"
START, END = "<!-- metrics:start -->", "<!-- metrics:end -->"
HEADER = ("| data | split | ordering | R@1 | R@5 | R@10 | mAP |", "|---|---|---|---|---|---|---|")
METRIC_KEYS = ("R@1", "R@5", "R@10", "mAP")


def metric_row(data: str, split: str, ordering: str, metrics: dict) -> str:
    cells = [f"{metrics[k]:.2f}" if isinstance(metrics.get(k), (int, float)) else "-" for k in METRIC_KEYS]
    return "| " + " | ".join([data, split, ordering, *cells]) + " |"


def render_card(config: dict, rows: list[str]) -> str:
    """The card text from the folder's `config.json` data and metric table rows."""
    model, training = config.get("model", {}), config.get("training", {})
    name = model.get("name", "aptm")
    lines = ["---", "library_name: aptm-train",
             "tags: [text-based-person-retrieval, image-text-retrieval, aptm]", "---", "",
             f"# {name}", "",
             ("APTM (attribute prompts for text-based person retrieval): a Swin image encoder, a BERT text "
              "encoder and a fusion encoder, scored by ITC (cosine of projected features) and re-ranked by ITM."),
             "", "## Training", ""]
    lines += _training_lines(training)
    table = [*HEADER, *rows] if rows else ["No evaluation recorded yet."]
    lines += ["", "## Metrics", "", START, *table, END, "",
              "## How to load", "", "```python",
              "folder = 'path/to/this/folder'",
              "from aptm_train.model.checkpoint import from_pretrained, load_tokenizer",
              "model = from_pretrained(folder)          # config.json + model.safetensors, eval mode",
              "tokenizer = load_tokenizer(folder)       # the tokenizer files beside the weights",
              "", "# without our code: the raw tensors (the tied MLM decoder weight / bias are not stored)",
              "from safetensors.torch import load_file",
              "state = load_file(f'{folder}/model.safetensors')", "```", "",
              ("Command line: `aptm-train eval --checkpoint FOLDER --shards shards/NAME -o OUT` (adds its "
               "retrieval metrics to this card) and `aptm-train search --checkpoint FOLDER --gallery IMAGES "
               "\"a woman in a red coat\" --html hits.html`."), ""]
    return "\n".join(lines)


def _training_lines(training: dict) -> list[str]:
    if not training:
        return ["Not recorded (converted or saved outside `aptm-train pretrain` / `finetune`)."]
    lines = [f"- recipe: `{training.get('recipe', '-')}`", f"- optimiser steps: {training.get('step', '-')}"]
    if training.get("init"):
        lines.append(f"- started from: `{training['init']}`")
    if training.get("shards"):
        lines.append(f"- shards: `{training['shards']}`")
    for split, c in (training.get("counts") or {}).items():
        lines.append(f"  - {split}: {c['samples']:,} images, {c['pairs']:,} image-text pairs")
    return lines


def write_card(folder: str | Path, config: dict, rows: list[str] | None = None) -> Path:
    path = Path(folder) / CARD_NAME
    with atomic_path(path) as tmp:
        Path(tmp).write_text(render_card(config, rows or []), encoding="utf-8")
    return path


def card_rows(folder: str | Path) -> list[str]:
    """The metric rows of the folder's card (none if it has no card or no table)."""
    path = Path(folder) / CARD_NAME
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    if START not in text or END not in text:
        return []
    body = text.split(START, 1)[1].split(END, 1)[0]
    return [ln for ln in body.strip().splitlines() if ln.startswith("| ") and ln not in HEADER]


def merge_rows(old: list[str], new: list[str]) -> list[str]:
    """`old` without the rows of the (data, split) pairs that `new` brings, then `new`."""
    def key(row: str) -> tuple[str, str]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        return cells[0], cells[1]

    replaced = {key(r) for r in new}
    return [r for r in old if key(r) not in replaced] + new
