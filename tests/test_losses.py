"""Each loss against a naive (loop) reference on random inputs, and the properties the method needs."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from aptm_train.losses import (
    choose_images,
    iac_loss,
    iam_loss,
    itc_loss,
    itm_loss,
    mam_loss,
    mlm_loss,
    sample_negatives,
)


def _feats(n, d=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (F.normalize(torch.randn(n, d, generator=g), dim=-1),
            F.normalize(torch.randn(n, d, generator=g), dim=-1))


def _naive_itc(img, txt, scale, ids):
    n, total = len(ids), 0.0
    for direction in ("i2t", "t2i"):
        for i in range(n):
            a = img[i] if direction == "i2t" else txt[i]
            others = txt if direction == "i2t" else img
            logits = [scale * float(a @ others[j]) for j in range(n)]
            lse = math.log(sum(math.exp(v) for v in logits))
            pos = [j for j in range(n) if ids[j] == ids[i]]
            total += sum(-(logits[j] - lse) / len(pos) for j in pos) / n
    return total / 2


def test_itc_against_naive_with_shared_ids():
    img, txt = _feats(6)
    ids = torch.tensor([0, 1, 0, 2, 1, 3])
    got = itc_loss(img, txt, torch.tensor(1 / 0.07), ids)
    assert got.item() == pytest.approx(_naive_itc(img, txt, 1 / 0.07, ids.tolist()), rel=1e-5)


def test_identity_aware_itc_equals_clip_when_ids_unique():
    img, txt = _feats(5, seed=1)
    scale = torch.tensor(14.0)
    logits = scale * img @ txt.T
    labels = torch.arange(5)
    clip = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.T, labels)) / 2
    torch.testing.assert_close(itc_loss(img, txt, scale, torch.tensor([7, 3, 9, 1, 0])), clip)
    torch.testing.assert_close(itc_loss(img, txt, scale, None), clip)


class FakeFusion(torch.nn.Module):
    """Stands in for APTM in loss tests: a deterministic, differentiable fusion + heads."""

    def __init__(self, dt=6, dv=5, vocab=50):
        super().__init__()
        g = torch.Generator().manual_seed(0)
        self.w = torch.nn.Parameter(torch.randn(dv, dt, generator=g))
        self.itm = torch.nn.Linear(dt, 2)
        self.emb = torch.nn.Embedding(vocab, dt)
        self.head = torch.nn.Linear(dt, vocab)
        self.temp = torch.nn.Parameter(torch.tensor(0.07))

    def logit_scale(self):
        return 1 / self.temp

    def fuse(self, text, mask, image):
        return text * mask[..., None] + (image.mean(1) @ self.w)[:, None]

    def itm_logits(self, text, mask, image):
        return self.itm(self.fuse(text, mask, image)[:, 0])

    def mlm_hidden(self, ids, mask, image):
        return self.fuse(self.emb(ids), mask, image)

    def mlm_head(self, h):
        return self.head(h)


def test_itm_negatives_never_share_the_id():
    g = torch.Generator().manual_seed(0)
    ids = torch.tensor([0, 0, 1, 1, 2, 2, 2, 3])
    sim = torch.randn(8, 8)
    for _ in range(200):
        neg, ok = sample_negatives(sim, ids, g)
        assert ok.all() and (ids[neg] != ids).all()
    # a batch with a single identity has no negative: marked invalid, not an error
    _, ok = sample_negatives(torch.randn(3, 3), torch.tensor([5, 5, 5]), g)
    assert not ok.any()


def test_itm_hardness_ramps_from_uniform_to_its_value():
    from aptm_train.losses.recipes import task_config
    from aptm_train.losses.task import Task
    from mals_gen.errors import UserError

    task = Task(task_config("mals-pretrain", {"itm_hardness": 0.8, "itm_hardness_ramp": [100, 300]}))
    seen = []
    for step in (0, 100, 200, 300, 1000):
        task.step = step
        seen.append(task.itm_hardness())
    assert seen == pytest.approx([0.0, 0.0, 0.4, 0.8, 0.8])
    task = Task(task_config("mals-pretrain", {"itm_hardness": 0.5}))
    assert task.itm_hardness() == 0.5              # no ramp: the value throughout
    for bad in ([300, 100], [5], [-1, 10]):
        with pytest.raises(UserError, match="itm_hardness_ramp"):
            task_config("mals-pretrain", {"itm_hardness_ramp": bad})


def test_itm_hardness_zero_draws_negatives_uniformly():
    # one column is far more similar than the rest: hardness 1 draws it nearly always, hardness 0
    # draws every other identity about equally often (the CPU demo's fusion encoder learns on these)
    sim = torch.zeros(4, 4)
    sim[:, 3] = 20.0
    ids = torch.arange(4)
    g = torch.Generator().manual_seed(0)
    image_feat = torch.nn.functional.normalize(torch.eye(4), dim=-1)

    def counts(hardness: float) -> torch.Tensor:
        drawn = torch.zeros(4)
        for _ in range(300):
            neg, _ = sample_negatives(hardness * sim, ids, g)
            drawn += torch.bincount(neg[:3], minlength=4)     # anchors 0-2; anchor 3 cannot draw itself
        return drawn

    hard, uniform = counts(1.0), counts(0.0)
    assert hard[3] / hard.sum() > 0.99
    assert (uniform[:3] / uniform.sum()).min() > 0.15 and uniform[3] / uniform.sum() < 0.45
    # the loss scales the similarity it draws from by `hardness`
    model = FakeFusion()
    itok, ttok = torch.randn(4, 4, 5), torch.randn(4, 3, 6)
    mask = torch.ones(4, 3, dtype=torch.long)
    a = itm_loss(model, itok, ttok, mask, image_feat, image_feat, ids, generator=torch.Generator().manual_seed(1),
                 hardness=0.0)
    b = itm_loss(model, itok, ttok, mask, image_feat, image_feat, ids, generator=torch.Generator().manual_seed(1),
                 logit_scale=torch.tensor(0.0))
    torch.testing.assert_close(a, b)


def test_itm_against_naive():
    torch.manual_seed(0)
    model = FakeFusion()
    b = 5
    itok, ttok = torch.randn(b, 4, 5), torch.randn(b, 3, 6)
    mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 0, 0], [1, 1, 1], [1, 1, 0]])
    ifeat, tfeat = _feats(b, seed=2)
    ids = torch.tensor([0, 1, 1, 2, 3])
    got = itm_loss(model, itok, ttok, mask, ifeat, tfeat, ids, generator=torch.Generator().manual_seed(4))
    # reference: the same draws, then one pair at a time
    g = torch.Generator().manual_seed(4)
    sim = model.logit_scale() * ifeat @ tfeat.T
    neg_img, _ = sample_negatives(sim.T, ids, g)
    neg_txt, _ = sample_negatives(sim, ids, g)
    terms = []
    for j in range(b):
        pairs = [(j, j, 1), (j, int(neg_img[j]), 0), (int(neg_txt[j]), j, 0)]   # (text, image, label)
        for t, i, y in pairs:
            logit = model.itm_logits(ttok[t:t + 1], mask[t:t + 1], itok[i:i + 1])[0]
            terms.append(-torch.log_softmax(logit, 0)[y])
    torch.testing.assert_close(got, torch.stack(terms).mean())


def test_mlm_loss_against_full_logits():
    torch.manual_seed(0)
    model = FakeFusion()
    ids = torch.randint(1, 50, (3, 7))
    mask = torch.ones_like(ids)
    labels = torch.full_like(ids, -100)
    labels[0, 2], labels[1, 5], labels[2, 1] = 7, 9, 11
    itok = torch.randn(3, 4, 5)
    got = mlm_loss(model, ids, mask, itok, labels)
    logits = model.mlm_head(model.mlm_hidden(ids, mask, itok))            # (B, L, V)
    ref = (-(torch.log_softmax(logits[0, 2], 0)[7] + torch.log_softmax(logits[1, 5], 0)[9]
             + torch.log_softmax(logits[2, 1], 0)[11]) / 3)
    torch.testing.assert_close(got, ref)
    assert mlm_loss(model, ids, mask, itok, torch.full_like(ids, -100)).item() == 0.0


def _smooth_ce(logits, y, eps):
    logp = torch.log_softmax(logits, 0)
    return -((1 - eps) * logp[y] + eps * logp.mean())


def test_iac_against_naive_with_unknown_labels():
    img, _ = _feats(4, seed=3)
    prompts = F.normalize(torch.randn(6, 8), dim=-1)                      # 3 attributes
    attrs = torch.tensor([[0, 1, -1], [1, -1, -1], [-1, -1, -1], [0, 0, 1]])
    scale = torch.tensor(10.0)
    got = iac_loss(img, prompts, scale, attrs, label_smoothing=0.4)
    terms: dict[int, list] = {}
    for b in range(4):
        for a in range(3):
            if attrs[b, a] >= 0:
                logits = torch.stack([scale * img[b] @ prompts[2 * a], scale * img[b] @ prompts[2 * a + 1]])
                terms.setdefault(a, []).append(_smooth_ce(logits, int(attrs[b, a]), 0.4))
    torch.testing.assert_close(got, torch.stack([t for ts in terms.values() for t in ts]).mean())
    # the original's: each attribute's mean over its known images, then the mean over attributes
    per_attr = iac_loss(img, prompts, scale, attrs, label_smoothing=0.4, reduction="per-attribute")
    torch.testing.assert_close(per_attr, torch.stack([torch.stack(ts).mean() for ts in terms.values()]).mean())
    assert abs(per_attr.item() - got.item()) > 1e-4                      # the two reductions differ here
    for reduction in ("pairs", "per-attribute"):
        assert iac_loss(img, prompts, scale, torch.full_like(attrs, -1), reduction=reduction).item() == 0.0


def test_iam_against_naive():
    torch.manual_seed(0)
    model = FakeFusion()
    itok = torch.randn(3, 4, 5)
    ptok, pmask = torch.randn(6, 3, 6), torch.tensor([[1, 1, 1], [1, 1, 0]] * 3)
    attrs = torch.tensor([[0, 1, -1], [1, 1, 0], [-1, 0, 1]])
    chosen = torch.tensor([5, 0, 3])
    got = iam_loss(model, itok, ptok, pmask, attrs, chosen, label_smoothing=0.4)
    terms: dict[int, list] = {}
    for p in chosen.tolist():
        for b in range(3):
            label = int(attrs[b, p // 2])
            if label < 0:
                continue
            logit = model.itm_logits(ptok[p:p + 1], pmask[p:p + 1], itok[b:b + 1])[0]
            terms.setdefault(p, []).append(_smooth_ce(logit, int(label == p % 2), 0.4))
    torch.testing.assert_close(got, torch.stack([t for ts in terms.values() for t in ts]).mean())
    per_prompt = iam_loss(model, itok, ptok, pmask, attrs, chosen, label_smoothing=0.4, reduction="per-attribute")
    torch.testing.assert_close(per_prompt, torch.stack([torch.stack(ts).mean() for ts in terms.values()]).mean())
    assert abs(per_prompt.item() - got.item()) > 1e-5


def test_mam_pairs_each_prompt_with_an_image_where_it_is_true():
    g = torch.Generator().manual_seed(0)
    attrs = torch.tensor([[0, 1, -1], [1, 1, -1], [0, -1, -1]])
    for _ in range(50):
        image, has = choose_images(attrs, g)
        assert has.tolist() == [True, True, False, True, False, False]
        for p in range(6):
            if has[p]:
                assert attrs[image[p], p // 2] == p % 2
    torch.manual_seed(0)
    model = FakeFusion()
    ids = torch.randint(1, 50, (6, 4))
    mask = torch.ones_like(ids)
    labels = torch.full_like(ids, -100)
    labels[:, 1] = ids[:, 1]
    itok = torch.randn(3, 4, 5)
    image, has = choose_images(attrs, g)
    got = mam_loss(model, itok, ids, mask, labels, image, has)
    terms = []
    for p in range(6):
        if has[p]:
            logits = model.mlm_head(model.mlm_hidden(ids[p:p + 1], mask[p:p + 1], itok[image[p]:image[p] + 1]))
            terms.append(-torch.log_softmax(logits[0, 1], 0)[ids[p, 1]])
    torch.testing.assert_close(got, torch.stack(terms).mean())
