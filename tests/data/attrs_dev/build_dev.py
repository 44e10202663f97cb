"""Turn the hand-written label shorthand (dev_*.txt) into dev.jsonl: {"text", "style", "labels"}.

Each line of dev_<style>.txt is `SHORTHAND | TEXT`. The shorthand lists only what the labeller
decided (LABELLING_RULES.md); every other slot is -1:
  F / M              gender           child / adult   age          hS / hL   hair
  hat / nohat        hat              bp / nobp       backpack     hb / nohb handbag
  bag / nobag        bag              sL / sS         sleeve       lL / lS   lower length
  skirt / pants      lower type
  U=c1,c2 / L=c1,..  the garment group's colours, all stated: c present (0), every other listed
                     colour 1 except those a named non-listed colour could be (NEAR, -1)
  U+c1,c2 / L+c1,..  these colours present, the others undecided
  ?c inside a list     colour c stays -1 (e.g. black tights under a gray skirt: L=gray,?black)
Run: python tests/data/attrs_dev/build_dev.py   (rewrites dev.jsonl beside it)
"""
from __future__ import annotations

import json
from pathlib import Path

from mals_gen.attrs.lexicon import LOWER_RES, LOWER_SLOTS, UPPER_RES, UPPER_SLOTS
from mals_gen.contract import ATTR

HERE = Path(__file__).resolve().parent
FLAGS = {
    "F": ("gender", 0), "M": ("gender", 1), "child": ("age", 0), "adult": ("age", 1),
    "hS": ("hair", 0), "hL": ("hair", 1), "hat": ("hat", 0), "nohat": ("hat", 1),
    "bp": ("backpack", 0), "nobp": ("backpack", 1), "hb": ("handbag", 0), "nohb": ("handbag", 1),
    "bag": ("bag", 0), "nobag": ("bag", 1), "sL": ("sleeve", 0), "sS": ("sleeve", 1),
    "lL": ("lower_length", 0), "lS": ("lower_length", 1), "skirt": ("lower_type", 0),
    "pants": ("lower_type", 1),
}


def labels_from_shorthand(shorthand: str) -> list[int]:
    labels = [-1] * len(ATTR)
    for tok in shorthand.split():
        if tok in FLAGS:
            name, value = FLAGS[tok]
            labels[ATTR[name]] = value
            continue
        group, op, colours = tok[0], tok[1], [c for c in tok[2:].split(",") if c]
        res, slots = (UPPER_RES, UPPER_SLOTS) if group == "U" else (LOWER_RES, LOWER_SLOTS)
        if group not in "UL" or op not in "=+":
            raise ValueError(f"unknown shorthand {tok!r}")
        present, near = set(), set()
        for c in colours:
            if c.startswith("?"):  # a listed colour the text leaves open
                near.add(res[c[1:]][0])
                continue
            slot, close = res[c]
            if slot is None:
                near.update(close)
            else:
                present.add(slot)
        for slot in slots:
            if slot in present:
                labels[slot] = 0
            elif op == "=" and slot not in near:
                labels[slot] = 1
    return labels


def main() -> None:
    rows = []
    for style in ("cuhk", "icfg", "blip"):
        for n, line in enumerate((HERE / f"dev_{style}.txt").read_text().splitlines(), 1):
            if not line.strip():
                continue
            shorthand, text = line.split("|", 1)
            try:
                labels = labels_from_shorthand(shorthand)
            except (ValueError, KeyError, IndexError) as err:
                raise SystemExit(f"dev_{style}.txt line {n}: {err}") from None
            rows.append({"text": text.strip(), "style": style, "labels": labels})
    with open(HERE / "dev.jsonl", "w") as f:
        f.writelines(json.dumps(row) + "\n" for row in rows)
    print(f"wrote {len(rows)} descriptions to {HERE / 'dev.jsonl'}")


if __name__ == "__main__":
    main()
