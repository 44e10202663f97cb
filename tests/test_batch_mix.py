"""Batch composition: on shards stored person by person, the training stream's batches hold an image's
twin caption or another image of the same person no more often than a full shuffle of all pairs,
whatever the worker count (each worker's batches draw from the whole pass, pipeline.epoch_units)."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from aptm_train.data.shards import open_shards

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "bench_batch_mix.py"
BATCH = 16


def _bench():
    spec = importlib.util.spec_from_file_location("bench_batch_mix", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    bench = _bench()
    shards = open_shards(bench.person_sorted_shards(tmp_path_factory.mktemp("sorted"), persons=200, per_tar=100))
    pairs = [k for k, c in zip(shards.manifest["key"], shards.manifest["captions"]) for _ in c]
    return bench, shards, bench.full_shuffle(pairs, BATCH, epochs=20)


def _mean(shares: list[tuple[float, float]]) -> tuple[float, float]:
    return tuple(sum(s[i] for s in shares) / len(shares) for i in (0, 1))


@pytest.mark.parametrize("workers", [0, 2, 3])
def test_batches_mix_like_a_full_shuffle(setup, workers):
    bench, shards, (full_twin, full_person) = setup
    ours = _mean([bench.mix_shares(bench.stream_epoch(shards, BATCH, workers, epoch=e, seed=1)) for e in range(3)])
    print(f"\nshare of samples with in the batch: twin caption {100 * ours[0]:.2f}% (full shuffle "
          f"{100 * full_twin:.2f}%), same person {100 * ours[1]:.2f}% (full shuffle {100 * full_person:.2f}%)")
    assert full_twin > 0.004 and full_person > 0.02        # the expectation is not trivially zero
    assert ours[0] <= full_twin + 0.002                      # captions of one image are a pass apart
    assert ours[1] <= 1.5 * full_person + 0.01


def test_the_measure_sees_clustered_batches(setup):
    """The two measures fail a stream with back-to-back captions or a tiny buffer on sorted data."""
    bench, shards, (full_twin, full_person) = setup
    old_twin, _ = bench.mix_shares(bench.old_stream_epoch(shards, BATCH))
    assert old_twin > 0.9 > 10 * full_twin
    _, tiny_buffer_person = bench.mix_shares(bench.stream_epoch(shards, BATCH, shuffle_buffer=4))
    assert tiny_buffer_person > 3 * full_person
