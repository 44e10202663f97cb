"""Benchmark: the streaming WebDataset loader against a map-style loader over loose files + a JSON list.

The baseline is the original APTM's approach: every image a loose JPEG on disk, a JSON list of
{image, caption, person_id}, a map-style Dataset opened per item with PIL, shuffled by a sampler.
Both loaders run the same train transforms (resize 384x128, flip, RandAugment, erasing), the same
collate (tokenise to 56, MLM masking) in their workers, the same batch size and the same number of
workers, over the same images, for one epoch; the table prints samples/s, the main process's CPU
seconds (what a training step would share its process with) and the ratio (streaming / map-style).
What differs is the loaders' own work: tar reading, the shuffle buffer and torchvision's decoder
(the same pixels as PIL's, in a third of its time with the conversion to a tensor) on our side.

    .venv/bin/python scripts/bench_loader.py                      # synthetic 384x128 images
    .venv/bin/python scripts/bench_loader.py --shards shards/quickstart --workers 2
"""
from __future__ import annotations

import argparse
import functools
import io
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from aptm_train.data.batching import BatchStream, batches
from aptm_train.data.collate import Collate
from aptm_train.data.pipeline import PairStream, make_loader, make_spec
from aptm_train.data.shards import iter_split, open_shards
from aptm_train.data.transforms import train_transform


def synth_shards(folder: Path, n: int, per_tar: int = 256) -> Path:
    """Person-sized JPEGs (384x128) with one caption each, written by the shard writer."""
    from mals_gen.contract import ShardSample
    from mals_gen.shard.dataset import Sample, write_dataset
    from mals_gen.shard.images import ImageSpec

    rng = np.random.default_rng(0)
    samples = []
    for i in range(n):
        img = (rng.integers(0, 255, (48, 16, 3))).astype(np.uint8).repeat(8, 0).repeat(8, 1)
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format="JPEG", quality=90)
        samples.append(Sample(ShardSample(key=f"b_{i:09d}", split="train", source="mals-sketch", image=buf.getvalue(),
                                          captions=[f"a person number {i} wearing a blue shirt and black pants"])))
    write_dataset(samples, folder, spec=ImageSpec(crop=False, height=None), samples_per_shard=per_tar, progress=False)
    return folder


class LooseFiles(torch.utils.data.Dataset):
    """The baseline: a JSON list of records, one loose JPEG per record, opened per item."""

    def __init__(self, ann: Path, transform):
        self.records = json.loads(ann.read_text())
        self.root, self.transform = ann.parent, transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, i: int) -> dict:
        r = self.records[i]
        with Image.open(self.root / r["image"]) as img:
            pixels = self.transform(img.convert("RGB"))
        return {"pixels": pixels, "caption": r["caption"], "caption_index": 0, "key": r["key"], "attrs": None,
                "person_id": i, "source": "mals-sketch", "seed": i}


def export_loose(shards, folder: Path) -> Path:
    records = []
    for s in iter_split(shards, "train"):
        path = folder / f"{s.key}.jpg"
        path.write_bytes(s.image)
        for caption in s.captions:
            records.append({"image": path.name, "caption": caption, "key": s.key})
    ann = folder / "train.json"
    ann.write_text(json.dumps(records))
    return ann


def timed(batch_iter) -> tuple[int, float, float]:
    """(pairs, wall seconds, main-process CPU seconds) of one epoch."""
    t0, c0, n = time.perf_counter(), time.process_time(), 0
    for batch in batch_iter:
        n += batch["pixels"].shape[0]
    return n, time.perf_counter() - t0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--shards", help="shard folder (default: synthesise --n images)")
    ap.add_argument("--n", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=32)
    args = ap.parse_args()
    from aptm_train.losses.mlm import MaskingVocab, mask_tokens
    from aptm_train.model.config import named_config
    from aptm_train.text import build_tokenizer, tokenize

    tok = build_tokenizer(named_config("aptm-tiny"))
    collate = Collate(tok, tokenize, functools.partial(mask_tokens, vocab=MaskingVocab.from_tokenizer(tok)))
    transform = train_transform((384, 128), "mals")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.shards:
            folder = Path(args.shards)
        else:
            (tmp / "shards").mkdir()
            folder = synth_shards(tmp / "shards", args.n)
        shards = open_shards(folder)
        (tmp / "loose").mkdir()
        ann = export_loose(shards, tmp / "loose")
        pairs = PairStream(make_spec(shards, "train", num_workers=args.workers), transform)
        n_s, t_s, c_s = timed(batches(iter(make_loader(BatchStream(pairs, args.batch_size, collate)))))
        loader = torch.utils.data.DataLoader(LooseFiles(ann, transform), batch_size=args.batch_size, shuffle=True,
                                             num_workers=args.workers, collate_fn=collate)
        n_m, t_m, c_m = timed(loader)
    rows = [("streaming (WebDataset)", n_s, t_s, c_s), ("map-style (loose files + JSON)", n_m, t_m, c_m)]
    print(f"{'loader':32s} {'pairs':>7s} {'seconds':>8s} {'pairs/s':>9s} {'main CPU s':>11s}")
    for name, n, t, c in rows:
        print(f"{name:32s} {n:7d} {t:8.2f} {n / t:9.1f} {c:11.2f}")
    print(f"ratio streaming / map-style: {(n_s / t_s) / (n_m / t_m):.2f}x  "
          f"(workers={args.workers}, batch={args.batch_size}, same transforms and collate; "
          "decode: torchvision vs PIL)")


if __name__ == "__main__":
    main()
