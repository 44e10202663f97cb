"""Batches made whole in the loader's workers (aptm_train/data/batching.py): each one worker's pairs
collated at once, in rounds, whatever the worker count; each worker's pair count is dealt the same on
every rank and known before reading; a resumed epoch continues the batches exactly, mid-round too;
MLM masking is per caption; placeholders are dropped; a truncated tar all workers read stays exact."""
from __future__ import annotations

import functools
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from aptm_train.data.batching import BatchStream, batches, epoch_batches
from aptm_train.data.collate import Collate
from aptm_train.data.pipeline import PairStream, epoch_units, make_loader, make_spec, worker_pairs
from aptm_train.data.shards import open_shards
from aptm_train.data.transforms import train_transform
from mals_gen.errors import UserError

from ._train_shards import train_keys, write_shards

SIZE = (96, 32)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return open_shards(write_shards(tmp_path_factory.mktemp("shards"), n=40))   # 4 train tars, 48 pairs


@pytest.fixture(scope="module")
def collate():
    from aptm_train.losses.mlm import MaskingVocab, mask_tokens
    from aptm_train.model.config import named_config
    from aptm_train.text import build_tokenizer, tokenize

    tok = build_tokenizer(named_config("aptm-tiny"))
    return Collate(tok, tokenize, functools.partial(mask_tokens, vocab=MaskingVocab.from_tokenizer(tok)))


def pairs(shards, **kw) -> PairStream:
    return PairStream(make_spec(shards, "train", **kw), train_transform(SIZE, "mals"))


def same(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k]
                                        for k in a)


def expected_batches(stream: PairStream, size: int, collate) -> list[dict]:
    """Each worker's own pairs cut into batches and collated at once, in the epoch's order."""
    own = [list(stream.pairs(w)) for w in range(stream.spec.workers)]
    return [collate(own[w][j * size:j * size + n]) for w, j, n in
            epoch_batches(stream.spec.pairs_per_rank, stream.spec.workers, size)]


@pytest.mark.filterwarnings("ignore:This DataLoader will create")     # 3 workers on a 2-core machine
@pytest.mark.parametrize("workers", [0, 2, 3])
def test_each_batch_is_one_workers_pairs_collated_at_once(shards, collate, workers):
    """3 workers: 8 pairs each, so every worker ends the epoch with a short batch."""
    kw = {"num_workers": workers, "seed": 4, "epoch": 1, "rank": 1, "world": 2}
    ours = list(batches(iter(make_loader(BatchStream(pairs(shards, **kw), 5, collate)))))
    want = expected_batches(pairs(shards, **kw), 5, collate)
    order = epoch_batches(24, max(1, workers), 5)
    assert len(ours) == len(want) == len(order) and sum(n for *_, n in order) == 24
    for batch, expected, (w, _, n) in zip(ours, want, order):
        assert batch.pop("workers") == [w] * n and batch.pop("skipped") == []
        assert same(batch, expected)
    assert sorted(k for b in ours for k in b["keys"]) == sorted(p["key"] + f"#{p['caption_index']}"
                                                               for p in make_loader(pairs(shards, **kw)))


def test_the_epochs_batches_come_in_rounds_of_one_batch_per_worker():
    assert epoch_batches(11, 3, 2) == [(0, 0, 2), (1, 0, 2), (2, 0, 2), (0, 1, 2), (1, 1, 2), (2, 1, 1)]
    assert epoch_batches(3, 4, 5) == [(0, 0, 1), (1, 0, 1), (2, 0, 1)]        # a worker without pairs
    assert epoch_batches(0, 2, 5) == []


def uneven_shards(folder: Path) -> Path:
    """Half the samples with 3 captions, half with 1: two passes, and 2 pairs of a sample in pass 0."""
    from ._train_shards import sample, write_samples

    out = []
    for i in range(40):
        s = sample(i)[1]
        out.append(replace(s, split="train", captions=[s.captions[0]] * (3 if i % 2 else 1)))
    return write_samples(folder, out, per_tar=7)


@pytest.mark.parametrize("data", ["shards", "uneven"])
def test_worker_pair_counts_are_dealt_round_robin_on_every_rank(shards, data, tmp_path):
    """Every rank's worker w makes the same count (so ranks agree on every batch's size), also where
    a sample has two pairs in a pass."""
    folder = open_shards(uneven_shards(tmp_path / "uneven")) if data == "uneven" else shards
    for kw in ({"num_workers": 3, "world": 3, "epoch": 5}, {"num_workers": 2, "world": 2, "epoch": 1},
               {"num_workers": 2, "mode": "resampled"}):
        seen = set()
        for rank in range(kw.get("world", 1)):
            stream = PairStream(make_spec(folder, "train", rank=rank, **kw), lambda image: 0)
            made = [[f"{p['key']}#{p['caption_index']}" for p in stream.pairs(w)] for w in range(stream.spec.workers)]
            dealt = [stream.spec.worker_share(w) for w in range(stream.spec.workers)]
            assert [len(m) for m in made] == worker_pairs(stream.spec) == dealt
            assert max(dealt) - min(dealt) <= 1
            if kw.get("mode") != "resampled":       # exact: each pair once, on one rank and worker
                keys = [k for m in made for k in m]
                assert len(set(keys)) == len(keys) and not seen & set(keys)
                seen |= set(keys)
    if data == "uneven":                # pairs are dealt one by one: a sample's pairs go to several workers
        stream = PairStream(make_spec(folder, "train", num_workers=3), lambda image: 0)
        workers_of: dict[str, set] = {}
        for w in range(3):
            for p in stream.pairs(w):
                workers_of.setdefault(p["key"], set()).add(w)
        assert stream.spec.passes == 2 and any(len(ws) > 1 for ws in workers_of.values())


def test_a_resumed_epoch_continues_the_same_batches(shards, collate):
    stream = functools.partial(pairs, shards, num_workers=2, seed=5)
    full = list(batches(iter(make_loader(BatchStream(stream(), 5, collate)))))
    for done in (2, 3):                 # a round's end, and its middle (worker 1's turn)
        start = sum(len(b["workers"]) for b in full[:done])
        rest = list(batches(iter(make_loader(BatchStream(stream(), 5, collate, start=start)))))
        assert len(rest) == len(full) - done and all(same(a, b) for a, b in zip(rest, full[done:]))
    assert list(BatchStream(stream(), 5, collate, start=len(stream()))) == []      # saved at the epoch's end
    with pytest.raises(ValueError, match="batch boundary"):
        BatchStream(stream(), 5, collate, start=6)


def test_masking_is_per_caption(collate):
    def pair(i, caption):
        return {"caption": caption, "source": "mals-sketch", "pixels": torch.zeros(3, 4, 2), "person_id": i,
                "attrs": None, "key": f"k{i}", "caption_index": 0, "seed": 100 + i}

    a = pair(0, "a woman in a long red coat carrying a black leather bag and white shoes")
    b = pair(1, "a man")
    alone, together = collate([a]), collate([b, a])
    n = alone["input_ids"].shape[1]
    assert together["input_ids"].shape[1] == n
    for key in ("mlm_input_ids", "mlm_labels"):
        assert torch.equal(alone[key][0], together[key][1])           # batch-mates and padding change nothing
    assert (together["mlm_labels"][0, 3:] == -100).all()            # "a man": nothing masked in its padding


def test_placeholders_are_dropped_and_an_all_unreadable_batch_is_one_error():
    def items(n: int, unreadable: int = -1):
        for b in range(n):
            yield {"batch": None}
            if b == unreadable:
                yield {"batch": b, "worker": 0, "pairs": 1, "data": None, "skipped": [("0.tar", "k", "unreadable image")]}
            else:
                yield {"batch": b, "worker": 0, "pairs": 1, "data": {"x": np.array([b])}, "skipped": []}

    out = list(batches(items(4)))
    assert [b["x"].tolist() for b in out] == [[0], [1], [2], [3]] and isinstance(out[0]["x"], torch.Tensor)
    with pytest.raises(UserError, match="all 1 pairs of a training batch are unreadable"):
        list(batches(items(5, unreadable=3)))


def test_a_truncated_tar_every_worker_reads_keeps_the_epoch(tmp_path):
    """Every worker reads every tar and keeps its own pairs; each lost pair is counted once, by its worker."""
    from tests.test_reliability_train import lost_keys, pairs_of, truncate_tar

    folder = write_shards(tmp_path / "shards", n=40)
    spec = make_spec(open_shards(folder), "train", num_workers=2, seed=3)
    shared = max(epoch_units(spec)[0][0], key=lambda u: len(u["lo"]))      # a full tar of 10 samples
    assert {u["url"] for u in epoch_units(spec)[0][0]} == {u["url"] for u in epoch_units(spec)[0][1]}
    keep = 3
    truncate_tar(Path(shared["url"]), keep_samples=keep)
    spec = make_spec(open_shards(folder), "train", num_workers=2, seed=3)
    items = list(make_loader(PairStream(spec, train_transform(SIZE, "mals"))))
    assert {p["worker"] for p in items if "bad" in p} == {0, 1}          # both workers lost pairs
    good = [f"{p['key']}#{p['caption_index']}" for p in items if "bad" not in p]
    lost = lost_keys(folder, shared["url"], keep)
    assert len(items) == spec.pairs_per_rank and len(good) == len(set(good))
    assert set(good) == {k for k in train_keys(40) if k.split("#")[0] not in lost}
    assert len(items) - len(good) == pairs_of(folder, lost)


def test_workers_parse_only_their_own_samples_of_split_pure_tars(shards, monkeypatch):
    """In a tar of one split the manifest's layout tells another worker's (or rank's) sample without
    parsing its JSON; the pairs made are those of parsing every sample."""
    import aptm_train.data.pipeline as pipeline_module
    from aptm_train.data.pipeline import selected

    parsed = []
    real = pipeline_module.to_sample
    monkeypatch.setattr(pipeline_module, "to_sample", lambda files: parsed.append(files["__key__"]) or real(files))

    def made(spec) -> list[list[tuple[str, int, int]]]:
        return [[(i["sample"].key, i["caption_index"], i["round"]) for i in selected(spec, w)]
                for w in range(spec.workers)]

    for kw in ({"num_workers": 3}, {"num_workers": 2, "world": 2, "rank": 1, "epoch": 3}):
        spec = make_spec(shards, "train", **kw)
        assert spec.pure == frozenset(shards.split_tars("train"))
        parsed.clear()
        ours = made(spec)
        owned = sum(len({(k, p) for k, _, p in m}) for m in ours)    # samples a worker owns in a pass
        assert len(parsed) == owned < spec.passes * 32
        parsed.clear()
        assert made(replace(spec, pure=frozenset())) == ours        # parse-all: the same pairs
        assert len(parsed) > 2 * owned                              # every sample of every tar a worker reads


def test_pure_tars_are_those_holding_one_split_only(shards):
    import pandas as pd

    from aptm_train.data.shards import ShardSet

    tars = ("/x/a.tar", "/x/b.tar")
    manifest = pd.DataFrame({"shard": ["a.tar", "a.tar", "b.tar", "b.tar"], "split": ["train", "train", "train", "val"]})
    mixed = ShardSet(Path("/x"), tars, manifest, {"train": tars, "val": ("/x/b.tar",), "test": ()})
    assert mixed.pure_tars("train") == {"/x/a.tar"} and mixed.pure_tars("val") == frozenset()
    assert shards.pure_tars("val") == frozenset(shards.split_tars("val"))
