"""The dataset card `README.md` written beside the shards.

It states what is in the folder (samples, persons, captions per split, sources), the prevalence
of each attribute label, how to read the shards, and the exact command and resolved config that
built it, so a folder found months later explains itself. Its YAML front matter is a Hugging
Face dataset card: `datasets.load_dataset("shards/NAME")` loads each split on its own, with the
features of the tar members declared (see shards/README.md).
"""
from __future__ import annotations

import shlex
import sys
from collections import Counter
from pathlib import Path

import yaml

from ..contract import (
    MALS_ATTRIBUTE_NAMES,
    MALS_LABEL_WORDS,
    NUM_MALS_ATTRIBUTES,
    PA100K_ATTRIBUTE_NAMES,
    SPLITS,
)
from ..fsutil import atomic_path


def command_line() -> str:
    """The command as the user typed it (program name shortened to `mals`)."""
    argv = list(sys.argv)
    if argv and Path(argv[0]).name in ("mals", "__main__.py", "-m"):
        argv[0] = "mals"
    return shlex.join(argv)


# KEY.json as `datasets` features: dicts whose keys vary (scores, provenance) are JSON values.
_META_FEATURES = [
    {"name": "key", "dtype": "string"}, {"name": "captions", "list": "string"},
    {"name": "mals_attrs", "list": "int8"}, {"name": "attr_source", "dtype": "string"},
    {"name": "prompt", "dtype": "string"}, {"name": "person_id", "dtype": "string"},
    {"name": "image_id", "dtype": "string"}, {"name": "split", "dtype": "string"},
    {"name": "source", "dtype": "string"}, {"name": "scores", "dtype": "json"},
    {"name": "provenance", "dtype": "json"}, {"name": "pa100k_attrs", "list": "int8"},
]
_FEATURES = [{"name": "__key__", "dtype": "string"}, {"name": "__url__", "dtype": "string"},
             {"name": "jpg", "dtype": "image"}, {"name": "txt", "dtype": "string"},
             {"name": "json", "struct": _META_FEATURES}]
_SIZE_CATEGORIES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
                    (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"))


def size_category(n: int) -> str:
    return next((label for limit, label in _SIZE_CATEGORIES if n < limit), "100M<n<1B")


def front_matter(rows: list[dict], splits: dict, card: dict, tar_bytes: dict | None = None) -> str:
    """The Hugging Face dataset-card YAML: one data_files entry per split (its tars), features,
    split sizes (samples; bytes of its tars), license and task tags."""
    tar_bytes = tar_bytes or {}
    counts = Counter(r["split"] for r in rows)
    present = [s for s in SPLITS if splits.get(s)]
    sources = sorted({r["source"] for r in rows})
    meta = {
        "pretty_name": card.get("name", "dataset"),
        "license": card.get("license", "other"),
        "task_categories": ["text-to-image", "image-to-text"],
        "task_ids": ["image-captioning"],
        "tags": ["person-retrieval", "text-based-person-search", "pedestrian-attributes", "webdataset",
                 *(["synthetic"] if any(s.startswith("mals-") for s in sources) else [])],
        "size_categories": [size_category(len(rows))],
        "configs": [{"config_name": "default", "default": True,
                     "data_files": [{"split": s, "path": list(splits[s])} for s in present]}],
        "dataset_info": {"config_name": "default", "features": _FEATURES,
                         "splits": [{"name": s, "num_bytes": sum(tar_bytes.get(t, 0) for t in splits[s]),
                                     "num_examples": counts[s]} for s in present]},
    }
    return "---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n"


def _counts_table(rows: list[dict], splits: dict) -> list[str]:
    lines = ["| split | samples | persons | captions | shards |", "|---|---:|---:|---:|---:|"]
    for split in (*SPLITS, "all"):
        sub = [r for r in rows if split == "all" or r["split"] == split]
        if not sub and split != "all":
            continue
        n_shards = sum(len(v) for v in splits.values()) if split == "all" else len(splits.get(split, []))
        lines.append(f"| {split} | {len(sub):,} | {len({r['person_id'] for r in sub}):,} | "
                     f"{sum(len(r['captions']) for r in sub):,} | {n_shards} |")
    return lines


def _label_words(name: str) -> tuple[str, str]:
    if name in MALS_LABEL_WORDS:
        return MALS_LABEL_WORDS[name]
    return ("wears", "does not wear")  # colour slots: 0 = present


def _mals_prevalence(rows: list[dict]) -> list[str]:
    labelled = [r["mals_attrs"] for r in rows if r.get("mals_attrs") is not None]
    if not labelled:
        return ["No MALS attribute labels in this dataset."]
    lines = [f"Over {len(labelled):,} labelled samples (label 0 = first prompt, 1 = second, -1 = unknown).", "",
             "| # | attribute | label 0 | label 1 | 0 | 1 | unknown |", "|---:|---|---|---|---:|---:|---:|"]
    n = len(labelled)
    for i in range(NUM_MALS_ATTRIBUTES):
        c = Counter(int(v[i]) for v in labelled)
        name = MALS_ATTRIBUTE_NAMES[i]
        w0, w1 = _label_words(name)
        lines.append(f"| {i} | {name} | {w0} | {w1} | {c[0] / n:.1%} | {c[1] / n:.1%} | {c[-1] / n:.1%} |")
    return lines


def _pa100k_prevalence(rows: list[dict]) -> list[str]:
    labelled = [r["pa100k_attrs"] for r in rows if r.get("pa100k_attrs") is not None]
    if not labelled:
        return []
    lines = ["", "## PA-100K attributes (1 = present)", "", "| # | attribute | present |", "|---:|---|---:|"]
    for i, name in enumerate(PA100K_ATTRIBUTE_NAMES):
        share = sum(int(v[i]) == 1 for v in labelled) / len(labelled)
        lines.append(f"| {i} | {name} | {share:.1%} |")
    return lines


def render_card(rows: list[dict], sizes: dict, splits: dict, card: dict, tar_bytes: dict | None = None) -> str:
    name = card.get("name", "dataset")
    sources = Counter(r["source"] for r in rows)
    ranges = [f"- {s}: {v[0]} .. {v[-1]} ({len(v)} shards)" for s, v in splits.items() if v]
    lines = [
        front_matter(rows, splits, card, tar_bytes),
        f"# {name}", "",
        f"{len(rows):,} samples in {len(sizes)} WebDataset shards; sources: "
        + ", ".join(f"{s} ({n:,})" for s, n in sorted(sources.items())) + ".", "",
        *_counts_table(rows, splits), "",
        "Shards per split (a shard never mixes splits; also in `splits.json`):", *ranges, "",
        "## Files", "",
        ("- `NNNNNN.tar`: per sample `KEY.jpg`, `KEY.txt` (first caption), `KEY.json` (captions, mals_attrs, "
         "prompt, person_id, image_id, split, source, scores, provenance)"),
        "- `sizes.json`: shard name -> sample count; `manifest.parquet`: one row per sample",
        "- `checksums.sha256`: check with `sha256sum -c checksums.sha256`; or `mals verify <this folder>`",
        "",
        "## MALS attribute prevalence", "", *_mals_prevalence(rows), *_pa100k_prevalence(rows), "",
        "## How it was built", "", "```", card.get("command", command_line()), "```", "",
    ]
    if card.get("config"):
        lines += ["Resolved configuration:", "", "```yaml",
                  yaml.safe_dump(card["config"], sort_keys=False).rstrip(), "```", ""]
    for title, text in card.get("sections", {}).items():
        lines += [f"## {title}", "", text.rstrip(), ""]
    return "\n".join(lines)


def write_card(path: Path, rows: list[dict], sizes: dict, splits: dict, card: dict) -> None:
    tar_bytes = {name: (path.parent / name).stat().st_size for name in sizes if (path.parent / name).is_file()}
    with atomic_path(path) as tmp:
        tmp.write_text(render_card(rows, sizes, splits, card, tar_bytes))
