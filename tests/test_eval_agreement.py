"""Attribute agreement of the top k (aptm_train/eval/agreement.py) against a pair-by-pair loop."""
from __future__ import annotations

import math

import numpy as np
import pytest

from aptm_train.eval.agreement import GROUPS, agreement_table, chance_agreement, top_agreement
from mals_gen.contract import ATTR, NUM_MALS_ATTRIBUTES


def _naive(attrs, pairs, slots) -> float:
    compared = agreed = 0
    for q, g in pairs:
        known = [s for s in slots if attrs[q][s] >= 0]
        if not known:
            continue
        compared += 1
        agreed += all(attrs[q][s] == attrs[g][s] for s in known)
    return 100.0 * agreed / compared if compared else math.nan


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    attrs = rng.integers(-1, 2, (30, NUM_MALS_ATTRIBUTES)).astype(np.int8)    # a third unknown
    attrs[:, ATTR["hat"]] = -1                                                # a group nobody knows
    query_image = rng.integers(0, 30, 45)
    top = np.stack([rng.permutation(30)[:10] for _ in range(45)])
    return attrs, query_image, top


def test_top_and_chance_agreement_equal_a_pair_by_pair_loop(data):
    attrs, query_image, top = data
    got = top_agreement(attrs, query_image, top, k=5)
    chance = chance_agreement(attrs, query_image)
    for name, slots in GROUPS.items():
        pairs_top = [(q_img, g) for q_img, row in zip(query_image, top) for g in row[:5]]
        pairs_all = [(q_img, g) for q_img in query_image for g in range(30)]
        for value, pairs in ((got[name], pairs_top), (chance[name], pairs_all)):
            expected = _naive(attrs, pairs, slots)
            assert (math.isnan(value) and math.isnan(expected)) or value == pytest.approx(expected), name
    assert math.isnan(chance["hat"])


def test_an_unknown_label_in_the_gallery_disagrees():
    # a hat is mined only when mentioned: the query with a hat agrees with the one image that has
    # one, not with the images whose captions say nothing (else every hat pair would agree)
    attrs = np.full((4, NUM_MALS_ATTRIBUTES), -1, dtype=np.int8)
    attrs[0, ATTR["hat"]] = attrs[1, ATTR["hat"]] = 0
    got = top_agreement(attrs, np.array([0]), np.array([[1, 2, 3, 0, 1]]), k=4)
    assert got["hat"] == pytest.approx(50.0)                    # images 1 and 0 of 1, 2, 3, 0
    assert chance_agreement(attrs, np.array([0]))["hat"] == pytest.approx(50.0)
    assert math.isnan(got["gender"])                            # the query knows no gender


def test_a_ranking_by_the_attributes_beats_chance_and_the_table_skips_unknown_groups(data):
    attrs, query_image, _ = data
    attrs = attrs.copy()
    attrs[attrs < 0] = 0                                   # everything known, hat included
    attrs[:, ATTR["hat"]] = -1
    same = (attrs[query_image][:, None, :] == attrs[None, :, :]).sum(-1)      # (Q, N) slots in common
    top = np.argsort(-same, axis=1, kind="stable")[:, :10]
    got, chance = top_agreement(attrs, query_image, top), chance_agreement(attrs, query_image)
    assert all(got[n] > chance[n] for n in GROUPS if n != "hat")
    table = agreement_table({"itc": got}, chance)
    assert "upper colour" in table and "gender" in table and "hat" not in table
