"""Score the attribute miner on a labelled JSONL ({"text", "labels": [27 ints], "style"?}).

Prints per attribute: n (slots the labels decide), precision (correct / slots both decide),
recall (correct / slots the labels decide), coverage (slots both decide / slots the labels
decide) and false decisions (slots the miner decides where the labels say -1). Then overall
decided-correct % and false-decision %, also per style.

    .venv/bin/python scripts/eval_attrs.py [tests/data/attrs_dev/dev.jsonl] [--errors]
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from mals_gen.attrs.miner import mine_many
from mals_gen.contract import MALS_ATTRIBUTE_NAMES

DEFAULT = Path(__file__).resolve().parents[1] / "tests" / "data" / "attrs_dev" / "dev.jsonl"


def load(path: Path) -> tuple[list[str], np.ndarray, list[str]]:
    texts, labels, styles = [], [], []
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if line.strip():
            row = json.loads(line)
            if len(row["labels"]) != len(MALS_ATTRIBUTE_NAMES):
                raise SystemExit(f"{path} line {n}: labels must have {len(MALS_ATTRIBUTE_NAMES)} entries")
            texts.append(row["text"])
            labels.append(row["labels"])
            styles.append(row.get("style", "-"))
    return texts, np.asarray(labels, dtype=np.int8), styles


def scores(pred: np.ndarray, gold: np.ndarray) -> dict:
    """Counts and rates over all slots of (N, 27) predictions vs labels."""
    gold_dec, pred_dec = gold >= 0, pred >= 0
    both = gold_dec & pred_dec
    correct = both & (pred == gold)
    false_dec = pred_dec & ~gold_dec
    out = {"gold": int(gold_dec.sum()), "both": int(both.sum()), "correct": int(correct.sum()),
           "false": int(false_dec.sum()), "undecided": int((~gold_dec).sum())}
    out["precision"] = out["correct"] / out["both"] if out["both"] else float("nan")
    out["recall"] = out["correct"] / out["gold"] if out["gold"] else float("nan")
    out["coverage"] = out["both"] / out["gold"] if out["gold"] else float("nan")
    out["false_rate"] = out["false"] / out["undecided"] if out["undecided"] else 0.0
    return out


def evaluate(texts: list[str], gold: np.ndarray) -> tuple[dict, list[dict]]:
    pred = mine_many(texts)
    per_attr = [scores(pred[:, i], gold[:, i]) for i in range(gold.shape[1])]
    return scores(pred, gold), per_attr


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("path", nargs="?", type=Path, default=DEFAULT)
    ap.add_argument("--errors", action="store_true", help="print every wrong or unwarranted slot")
    args = ap.parse_args(argv)
    texts, gold, styles = load(args.path)
    overall, per_attr = evaluate(texts, gold)
    print(f"{args.path}: {len(texts)} descriptions")
    print(f"{'attribute':<14}{'n':>5}{'prec':>8}{'recall':>8}{'cover':>8}{'false':>7}")
    for name, s in zip(MALS_ATTRIBUTE_NAMES, per_attr):
        print(f"{name:<14}{s['gold']:>5}{s['precision']:>8.3f}{s['recall']:>8.3f}"
              f"{s['coverage']:>8.3f}{s['false']:>7}")
    print(f"overall: decided-correct {100 * overall['precision']:.2f}% ({overall['correct']}/{overall['both']}), "
          f"coverage {100 * overall['coverage']:.1f}%, false decisions {100 * overall['false_rate']:.2f}% "
          f"({overall['false']}/{overall['undecided']} undecided slots)")
    for style in sorted(set(styles)):
        idx = [i for i, s in enumerate(styles) if s == style]
        s, _ = evaluate([texts[i] for i in idx], gold[idx])
        print(f"  {style:<6} n={len(idx):<4} decided-correct {100 * s['precision']:.2f}%  "
              f"coverage {100 * s['coverage']:.1f}%  false {100 * s['false_rate']:.2f}%")
    if args.errors:
        pred = mine_many(texts)
        for i, text in enumerate(texts):
            bad = [f"{MALS_ATTRIBUTE_NAMES[j]}: pred {pred[i, j]} gold {gold[i, j]}"
                   for j in range(gold.shape[1]) if pred[i, j] >= 0 and pred[i, j] != gold[i, j]]
            if bad:
                print(f"- {text}\n    " + "; ".join(bad))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
