"""Batches made in the loader's workers (aptm_train/data/batching.py): the same batches as the pair
stream cut into pieces and collated at once, whatever the worker count; a resumed epoch continues
them exactly; MLM masking is per caption; each worker's pair count is known before reading; the
joining thread passes errors on and ends with its consumer; a tar two workers share stays exact."""
from __future__ import annotations

import functools
import threading
from pathlib import Path

import pytest
import torch

from aptm_train.data.batching import BatchStream, batches, epoch_positions
from aptm_train.data.collate import Collate
from aptm_train.data.pipeline import PairStream, make_loader, make_spec, pass_units, worker_pairs
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


@pytest.mark.filterwarnings("ignore:This DataLoader will create")     # 3 workers on a 2-core machine
@pytest.mark.parametrize("workers", [0, 2, 3])
def test_worker_batches_equal_the_pair_stream_collated_at_once(shards, collate, workers):
    """3 workers: their pair counts differ by a sample's pairs, so one worker ends the epoch alone."""
    kw = {"num_workers": workers, "seed": 4, "epoch": 1, "rank": 1, "world": 2}
    single = [p for p in make_loader(pairs(shards, **kw))]          # the DataLoader deals single pairs
    ours = list(batches(iter(make_loader(BatchStream(pairs(shards, **kw), 5, collate)))))
    assert len(ours) == -(-len(single) // 5) == -(-24 // 5)
    for i, batch in enumerate(ours):
        chunk = single[5 * i:5 * i + 5]
        assert batch.pop("workers") == [p["worker"] for p in chunk] and batch.pop("skipped") == []
        assert same(batch, collate(chunk))


def test_worker_pair_counts_come_from_the_layout_and_are_even(shards):
    for kw in ({"num_workers": 3, "world": 3, "rank": 2, "epoch": 5}, {"num_workers": 2, "mode": "resampled"}):
        stream = pairs(shards, **kw)
        made = [sum(1 for _ in stream.pairs(w)) for w in range(stream.spec.workers)]
        assert worker_pairs(stream.spec) == made and sum(made) == stream.spec.pairs_per_rank
        assert max(made) - min(made) <= stream.spec.passes                  # even, to a sample a pass
    counts = [3, 1, 2]                                               # round-robin, a worker drops out
    assert [epoch_positions(counts, w).tolist() for w in range(3)] == [[0, 3, 5], [1], [2, 4]]


def test_a_resumed_epoch_continues_the_same_batches(shards, collate):
    stream = functools.partial(pairs, shards, num_workers=2, seed=5)
    full = list(batches(iter(make_loader(BatchStream(stream(), 4, collate)))))
    rest = list(batches(iter(make_loader(BatchStream(stream(), 4, collate, start=3 * 4)))))
    assert len(rest) == len(full) - 3 and all(same(a, b) for a, b in zip(rest, full[3:]))
    assert list(BatchStream(stream(), 4, collate, start=len(stream()))) == []      # saved at the epoch's end
    with pytest.raises(ValueError, match="batch boundary"):
        BatchStream(stream(), 4, collate, start=6)


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


def test_the_joining_thread_hands_over_errors_and_ends_with_the_consumer():
    def parts(n: int, unreadable: int = -1):
        for b in range(n):
            if b == unreadable:
                yield {"batch": b, "worker": 0, "positions": [0], "good": [], "data": None,
                       "skipped": [(0, ("0.tar", "k", "unreadable image"))]}
            else:
                yield {"batch": b, "worker": 0, "positions": [0], "good": [0], "data": {"x": torch.tensor([b])},
                       "skipped": []}

    assert [b["x"].item() for b in batches(parts(4))] == [b["x"].item() for b in batches(parts(4), ahead=0)]
    with pytest.raises(UserError, match="all 1 pairs of a training batch are unreadable"):
        list(batches(parts(5, unreadable=3)))
    stream = batches(parts(100))
    next(stream)
    stream.close()                                                  # a run that stops mid-epoch
    assert not any(t.name == "join-batches" for t in threading.enumerate())


def test_a_tar_cut_between_two_workers_then_truncated_keeps_the_epoch(tmp_path):
    """Each worker keeps its own samples of a tar both read, and counts its own lost pairs once."""
    from tests.test_reliability_train import lost_keys, pairs_of, truncate_tar

    folder = write_shards(tmp_path / "shards", n=40)
    spec = make_spec(open_shards(folder), "train", num_workers=2, seed=3)
    shared = next(u for u in pass_units(spec, 0)[1] if u["first"] > 0)      # worker 0 reads its head
    keep = shared["first"] - 1                                              # both workers lose samples
    truncate_tar(Path(shared["url"]), keep_samples=keep)
    spec = make_spec(open_shards(folder), "train", num_workers=2, seed=3)
    items = list(make_loader(PairStream(spec, train_transform(SIZE, "mals"))))
    good = [f"{p['key']}#{p['caption_index']}" for p in items if "bad" not in p]
    lost = lost_keys(folder, shared["url"], keep)
    assert len(items) == spec.pairs_per_rank and len(good) == len(set(good))
    assert set(good) == {k for k in train_keys(40) if k.split("#")[0] not in lost}
    assert len(items) - len(good) == pairs_of(folder, lost)
