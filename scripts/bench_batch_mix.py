"""Batch composition of the training stream on person-sorted shards, against a full shuffle.

CUHK-PEDES is stored by person (a few images per person, two captions per image). The original
trains on a full random shuffle of all (image, caption) pairs per epoch, so an image's twin caption
or another image of the same person rarely shares its batch. This prints, for one epoch on one
process, the share of pairs whose batch also holds (a) a twin caption of the same image and (b) another
image of the same person, for three orders of the same pairs:

* full shuffle: random permutations of all pairs (the original; mean over several epochs),
* ours: the real training stream (`PairStream` with the default, data-sized buffer; whole batches
  made by each of --workers loader workers, the pairs dealt to them one by one),
* old (emulated): the former stream's algorithm re-enacted on the keys: tars shuffled, a 1,000-sample
  buffer, then all captions of a sample back to back.

    PYTHONPATH=. .venv/bin/python scripts/bench_batch_mix.py                  # 3,000 persons, batch 120
    PYTHONPATH=. .venv/bin/python scripts/bench_batch_mix.py --persons 500 --batch 32
"""
from __future__ import annotations

import argparse
import io
import random
import tempfile
from collections import Counter
from pathlib import Path

from PIL import Image

from aptm_train.data.batching import BatchStream, batches
from aptm_train.data.pipeline import PairStream, make_loader, make_spec
from aptm_train.data.shards import open_shards
from mals_gen.contract import ShardSample
from mals_gen.shard.dataset import Sample, write_dataset
from mals_gen.shard.images import ImageSpec


def person_sorted_shards(folder: Path, persons: int, images: int = 3, captions: int = 2,
                         per_tar: int = 1000) -> Path:
    """`persons` x `images` train images stored person by person, `captions` captions each."""
    buf = io.BytesIO()
    Image.new("RGB", (8, 16), (90, 40, 40)).save(buf, format="JPEG")   # tiny: decoding costs nothing
    samples = [Sample(ShardSample(key=f"p{p:06d}_{i}", split="train", source="cuhk-pedes",
                                  captions=[f"caption {j} of person {p} image {i}" for j in range(captions)],
                                  person_id=f"cuhk-pedes:{p}", image=buf.getvalue()))
               for p in range(persons) for i in range(images)]
    write_dataset(samples, folder, spec=ImageSpec(crop=False, height=None), samples_per_shard=per_tar,
                  progress=False)
    return folder


def person_of(key: str) -> str:
    return key.split("_", 1)[0]


def mix_shares(epoch: list[list[str]]) -> tuple[float, float]:
    """(share of pairs whose batch holds a twin caption, share whose batch holds another image of
    the same person); `epoch` is a list of batches of image keys, one key per pair."""
    twin = person = total = 0
    for batch in epoch:
        per_image = Counter(batch)
        images_of = Counter(person_of(k) for k in per_image)       # distinct images per person
        twin += sum(n for n in per_image.values() if n > 1)
        person += sum(1 for k in batch if images_of[person_of(k)] > 1)
        total += len(batch)
    return twin / total, person / total


def cut(keys: list[str], size: int) -> list[list[str]]:
    return [keys[i:i + size] for i in range(0, len(keys), size)]


def full_shuffle(pairs: list[str], size: int, epochs: int = 5, seed: int = 0) -> tuple[float, float]:
    rng, shares = random.Random(seed), []
    for _ in range(epochs):
        order = pairs[:]
        rng.shuffle(order)
        shares.append(mix_shares(cut(order, size)))
    return tuple(sum(s[i] for s in shares) / epochs for i in (0, 1))


def stream_epoch(shards, size: int, workers: int = 0, **spec_kw) -> list[list[str]]:
    """One epoch of the real training stream, as batches of image keys."""
    spec = make_spec(shards, "train", num_workers=workers, **spec_kw)
    stream = BatchStream(PairStream(spec, lambda image: 0), size, lambda pairs: {"keys": [p["key"] for p in pairs]})
    return [batch["keys"] for batch in batches(iter(make_loader(stream)))]


def old_stream_epoch(shards, size: int, buffer: int = 1000, seed: int = 0) -> list[list[str]]:
    """The former stream re-enacted on keys: shuffled tars, sample buffer, captions back to back."""
    rng = random.Random(seed)
    man = shards.manifest[shards.manifest["split"] == "train"]
    tars = sorted(set(man["shard"]))
    rng.shuffle(tars)
    samples = [(k, len(c)) for t in tars for k, c in zip(man.loc[man["shard"] == t, "key"],
                                                          man.loc[man["shard"] == t, "captions"])]
    out, buf = [], []
    for s in samples:
        buf.append(s)
        if len(buf) >= buffer:
            out.append(buf.pop(rng.randrange(len(buf))))
    rng.shuffle(buf)
    keys = [k for k, n in out + buf for _ in range(n)]
    return cut(keys, size)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=3000)
    ap.add_argument("--images", type=int, default=3, help="images per person")
    ap.add_argument("--captions", type=int, default=2, help="captions per image")
    ap.add_argument("--batch", type=int, default=120)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        shards = open_shards(person_sorted_shards(Path(tmp), args.persons, args.images, args.captions))
        pairs = [k for k, c in zip(shards.manifest["key"], shards.manifest["captions"]) for _ in c]
        rows = [("full shuffle (original)", full_shuffle(pairs, args.batch)),
                ("ours (PairStream, default)", mix_shares(stream_epoch(shards, args.batch, args.workers))),
                ("old (emulated, buffer 1000)", mix_shares(old_stream_epoch(shards, args.batch)))]
    print(f"{len(pairs):,} pairs, {args.persons:,} persons x {args.images} images x {args.captions} captions, "
          f"stored by person; batch {args.batch}, {args.workers} workers, one process")
    print(f"{'order':30s} {'twin caption in batch':>22s} {'same person in batch':>21s}")
    for name, (twin, person) in rows:
        print(f"{name:30s} {100 * twin:21.2f}% {100 * person:20.2f}%")


if __name__ == "__main__":
    main()
