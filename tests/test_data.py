"""The data side of the trainer: shard folder checks, the streaming pipeline's exact coverage,
seeded augmentation, collate, EDA with WordNet synonyms, optimiser groups and learning-rate
schedules (batching in the workers and resume: tests/test_batching.py)."""
from __future__ import annotations

import random

import pytest
import torch

from aptm_train.data.batching import BatchStream, batches
from aptm_train.data.collate import Collate, clean_caption
from aptm_train.data.pipeline import PairStream, make_loader, make_spec
from aptm_train.data.shards import NORM_STATS, open_shards, require_attrs
from aptm_train.data.transforms import test_transform as eval_transform
from aptm_train.data.transforms import train_transform
from aptm_train.train.config import OptimConfig, ScheduleConfig
from aptm_train.train.optim import lr_factor, param_groups
from mals_gen.eda import eda, random_deletion, random_swap, synonym_replacement
from mals_gen.errors import UserError

from ._train_shards import train_keys, write_shards

SIZE = (96, 32)


@pytest.fixture(scope="module")
def shards(tmp_path_factory):
    return open_shards(write_shards(tmp_path_factory.mktemp("shards"), n=40))


def stream(shards, **kw):
    spec = make_spec(shards, "train", **kw)
    return PairStream(spec, eval_transform(SIZE, "mals"))


def keys_of(ds) -> list[str]:
    return [f"{p['key']}#{p['caption_index']}" for p in make_loader(ds)]


@pytest.mark.parametrize("workers", [0, 2])
def test_two_ranks_cover_every_pair_once(shards, workers):
    seen = [keys_of(stream(shards, rank=r, world=2, num_workers=workers, seed=1)) for r in (0, 1)]
    assert len(seen[0]) == len(seen[1]) == 24                               # 48 train pairs / 2
    union = seen[0] + seen[1]
    assert len(union) == len(set(union)) and set(union) == train_keys(40)


def test_uneven_pair_count_holds_back_fewer_than_world(tmp_path):
    shards = open_shards(write_shards(tmp_path, n=17, per_tar=5))          # 14 train samples
    total = shards.pair_layout("train")[1]
    held = []
    for epoch in (0, 1, 2):
        seen = [keys_of(stream(shards, rank=r, world=3, epoch=epoch)) for r in range(3)]
        assert len({len(s) for s in seen}) == 1                             # equal batches on every rank
        union = [k for s in seen for k in s]
        assert len(union) == len(set(union)) == 3 * (total // 3)
        held.append(train_keys(17) - set(union))
    assert all(len(h) == total % 3 for h in held) and len({frozenset(h) for h in held}) > 1


def test_shuffle_differs_by_epoch_and_resampled_mode_counts(shards):
    a, b = (keys_of(stream(shards, epoch=e, seed=3)) for e in (0, 1))
    assert sorted(a) == sorted(b) and a != b
    resampled = [keys_of(stream(shards, rank=r, world=2, num_workers=2, mode="resampled")) for r in (0, 1)]
    assert [len(r) for r in resampled] == [24, 24]


def test_augmentation_is_seeded_per_pair(shards):
    tf = train_transform(SIZE, "mals")
    spec = make_spec(shards, "train", seed=9)
    a = {p["key"]: p["pixels"] for p in make_loader(PairStream(spec, tf))}
    b = {p["key"]: p["pixels"] for p in make_loader(PairStream(spec, tf))}
    assert all(torch.equal(a[k], b[k]) for k in a)
    x = next(iter(a.values()))
    assert x.shape == (3, *SIZE) and x.dtype == torch.float32


def test_augmentation_keeps_garment_colours():
    """The original's RandAugment ops only: a red shirt stays red (torchvision's Solarize turns it
    cyan, Color greys it)."""
    from PIL import Image

    from aptm_train.data.transforms import CAPTION_SAFE_OPS, _CaptionSafeOp

    assert set(_CaptionSafeOp._AUGMENTATION_SPACE) == set(CAPTION_SAFE_OPS)
    shirt = Image.new("RGB", (32, 96), (200, 30, 30))
    tf = train_transform(SIZE, "mals", erasing=0.0)
    mean, std = map(torch.tensor, NORM_STATS["mals"])
    torch.manual_seed(0)
    for _ in range(200):
        rgb = tf(shirt) * std[:, None, None] + mean[:, None, None]          # (3, H, W) in [0, 1]
        px = rgb[:, SIZE[0] // 2 - 8:SIZE[0] // 2 + 8, 8:24].reshape(3, -1)
        px = px[:, (px - 128 / 255).abs().amax(0) > 0.01]                 # not the grey a shear uncovers
        if px.shape[1] == 0:
            continue
        r, g, b = px.median(1).values
        assert r > 1.5 * max(g, b) + 0.05, (float(r), float(g), float(b))   # dark red is still red


def test_collate_builds_the_batch_dict(shards):
    from aptm_train.losses.mlm import MaskingVocab, mask_tokens
    from aptm_train.model.config import named_config
    from aptm_train.text import build_tokenizer, tokenize

    tok = build_tokenizer(named_config("aptm-tiny"))
    import functools
    collate = Collate(tok, tokenize, functools.partial(mask_tokens, vocab=MaskingVocab.from_tokenizer(tok)))
    ds = stream(shards)
    batch = next(batches(iter(make_loader(BatchStream(ds, 6, collate)))))
    assert batch["pixels"].shape == (6, 3, *SIZE)
    assert batch["input_ids"].shape == batch["mlm_labels"].shape and batch["input_ids"].shape[1] <= 56
    assert (batch["input_ids"][:, 0] == tok.cls_token_id).all()
    masked = batch["mlm_labels"] != -100
    assert masked.any() and (batch["mlm_labels"][masked] == batch["input_ids"][masked]).all()
    assert batch["attrs"].shape == (6, 27) and batch["person_ids"].shape == (6,)
    long = "word " * 80
    ids, _ = tokenize(tok, [clean_caption(long, "mals")], max_len=56)
    assert ids.shape[1] == 56
    assert clean_caption("A Man, in RED-shirt!", "icfg-pedes") == "a man in red shirt"


def test_shard_folder_errors(tmp_path, shards):
    with pytest.raises(UserError, match="does not exist"):
        open_shards(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError, match="no .tar shards"):
        open_shards(tmp_path / "empty")
    bare = open_shards(write_shards(tmp_path / "bare", n=10, with_attrs=False))
    with pytest.raises(UserError, match="carry no attributes"):
        require_attrs(bare, "mals-pretrain")
    require_attrs(shards, "mals-pretrain")
    (tmp_path / "bare" / "sizes.json").write_text('{"000000.tar": 3}')
    with pytest.raises(UserError, match="mixes two builds"):
        open_shards(tmp_path / "bare")


def test_eda_operations():
    table = {"red": ("crimson",), "shirt": ("top",), "woman": ("lady",)}
    def syn(word):
        return table.get(word, ())

    words = ["a", "woman", "in", "a", "red", "shirt"]
    rng = random.Random(0)
    replaced = synonym_replacement(words, 2, syn, rng)
    assert len(replaced) == len(words) and sum(a != b for a, b in zip(words, replaced)) == 2
    assert sorted(random_swap(words, 1, rng)) == sorted(words)
    assert random_deletion(["one"], 0.9, rng) == ["one"]
    outs = {eda("A woman in a red shirt.", syn, random.Random(s)) for s in range(20)}
    assert len(outs) > 3 and all(o for o in outs)


def test_wordnet_synonyms_from_the_installed_database():
    from mals_gen.wordnet import WordNet, find_wordnet_dir

    wn = WordNet(find_wordnet_dir())
    assert "top" in wn.synonyms("shirts") or "garment" not in wn.synonyms("shirts")
    assert "trouser" in " ".join(wn.synonyms("pants"))
    assert "woman" not in wn.synonyms("woman") and wn.synonyms("woman")
    with pytest.raises(UserError, match="wordnet-base"):
        find_wordnet_dir("/nonexistent")


def test_param_groups_and_schedules():
    from aptm_train.model.aptm import APTM
    from aptm_train.model.config import named_config

    model = APTM.from_config(named_config("aptm-tiny"))
    names = {id(p): n for n, p in model.named_parameters()}
    for which, fast_name in (("pretrain", "crossattention"), ("finetune", "itm_head")):
        groups = param_groups(model, OptimConfig(lr=1e-4, lr_x2=which))
        for g in groups:
            group_names = [names[id(p)] for p in g["params"]]
            if g["weight_decay"] == 0:
                assert all(n.endswith("bias") or "norm" in n.lower() or n == "itm_head.1.weight"  # a LayerNorm
                           for n in group_names)
            if g["lr"] == 2e-4:
                assert all(fast_name in n or which == "finetune" for n in group_names)
        assert sum(len(g["params"]) for g in groups) == len(names)
        assert any(g["lr"] == 2e-4 for g in groups)
    def check_scaled(cfg, scaled, want):
        """Each group is all `scaled` parameters or none, at the lr `want(its first name, scaled)`."""
        groups = param_groups(model, cfg)
        for g in groups:
            group_names = [names[id(p)] for p in g["params"]]
            flags = [scaled(n) for n in group_names]
            assert all(flags) or not any(flags)
            assert g["lr"] == pytest.approx(want(group_names[0], flags[0])), group_names[0]
        assert sum(len(g["params"]) for g in groups) == len(names)

    # cross_lr_scale multiplies the lr of the cross-attention and the ITM head, on top of lr_x2
    check_scaled(OptimConfig(lr=1e-4, lr_x2="pretrain", cross_lr_scale=5.0),
                 lambda n: "crossattention" in n or n.startswith("itm_head"),
                 lambda n, cross: 1e-4 * (10.0 if "crossattention" in n else 5.0 if cross else 1.0))
    # vision_lr_scale multiplies the vision encoder's lr, on top of lr_x2 (which names none of it in pretraining)
    check_scaled(OptimConfig(lr=1e-4, lr_x2="pretrain", vision_lr_scale=3.0),
                 lambda n: n.startswith("vision_encoder."),
                 lambda n, vision: 1e-4 * (3.0 if vision else 2.0 if "crossattention" in n else 1.0))
    lin = ScheduleConfig(kind="linear", warmup_steps=10)
    assert lr_factor(0, 100, lin) == pytest.approx(0.1) and lr_factor(9, 100, lin) == pytest.approx(1.0)
    assert lr_factor(55, 100, lin) == pytest.approx(0.5) and lr_factor(100, 100, lin) == 0
    step = ScheduleConfig(kind="aptm-step", warmup_frac=0.1)                # W = 10 of 100
    assert lr_factor(20, 100, step) == pytest.approx(80 / 90)
    assert lr_factor(50, 100, step) == pytest.approx(0.5 * 50 / 90)
    assert lr_factor(80, 100, step) == pytest.approx(0.2 * 20 / 90)
