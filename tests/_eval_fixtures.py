"""Tiny random APTM checkpoints and shard folders for the eval / search tests.

The model is aptm-tiny at 64 x 32 pixels (3 image tokens), so encoding a few dozen images takes
well under a second on one shared core; the shards come from the trainer's test fixture.
"""
from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import torch

from tests._train_shards import write_shards

TEST_SIZE = (64, 32)


def tiny_checkpoint(folder: Path, seed: int = 0) -> Path:
    from aptm_train.model.aptm import APTM
    from aptm_train.model.checkpoint import save_model
    from aptm_train.model.config import named_config

    cfg = named_config("aptm-tiny")
    cfg = dataclasses.replace(cfg, vision=dataclasses.replace(cfg.vision, img_size=TEST_SIZE))
    torch.manual_seed(seed)
    return save_model(APTM.from_config(cfg), folder)


def tiny_shards(folder: Path, n: int = 120) -> Path:
    """n samples, 10% test (one or two captions each), MALS attributes on every sample."""
    return write_shards(folder, n=n, per_tar=40)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models on a shared 2-core machine run fastest single-threaded (no thread contention)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
