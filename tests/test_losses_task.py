"""Task: the recipes' weighted sums, gradients reaching every trainable parameter, -1 labels ignored."""
from __future__ import annotations

import dataclasses

import pytest
import torch

from aptm_train.losses import LossWeights, MaskingVocab, Task, TaskConfig, mask_tokens, named_task
from aptm_train.model.aptm import APTM
from aptm_train.model.config import named_config
from aptm_train.text import build_tokenizer, tokenize
from mals_gen.errors import UserError

CAPTIONS = ["a woman in a red shirt and blue jeans", "a man with a black backpack",
            "a girl wearing a pink skirt", "a person in a grey hoodie walking"]


@pytest.fixture(scope="module")
def model():
    # aptm-tiny at 128x64 (still a shifted stage) keeps these tests fast on shared CPUs.
    torch.manual_seed(0)
    cfg = named_config("aptm-tiny")
    return APTM.from_config(dataclasses.replace(cfg, vision=dataclasses.replace(cfg.vision, img_size=(128, 64))))


@pytest.fixture(scope="module")
def batch(model):
    tok = build_tokenizer(model.config)
    ids, mask = tokenize(tok, CAPTIONS)
    g = torch.Generator().manual_seed(0)
    mlm_ids, mlm_labels = mask_tokens(ids, mask, MaskingVocab.from_tokenizer(tok), g)
    eda_ids, eda_mask = tokenize(tok, [c.replace("a ", "", 1) for c in CAPTIONS])
    attrs = torch.randint(0, 2, (4, 27), generator=g)
    attrs[0, :5] = -1
    return {"pixels": torch.randn(4, 3, 128, 64, generator=g), "input_ids": ids, "attention_mask": mask,
            "person_ids": torch.tensor([0, 0, 1, 2]), "attrs": attrs, "mlm_input_ids": mlm_ids,
            "mlm_labels": mlm_labels, "eda_input_ids": eda_ids, "eda_attention_mask": eda_mask}


def test_recipes():
    pre = named_task("mals-pretrain")
    assert pre.weights.enabled() == pytest.approx(
        {"itc": 1, "itm": 1, "mlm": 1, "iac": 0.8 / 3, "iam": 0.8 / 3, "mam": 0.8 / 3})
    assert pre.label_smoothing == 0.4 and pre.iam_prompts == 5
    assert named_task("finetune").weights.enabled() == {"itc": 1, "itm": 1, "mlm": 1, "itc_eda": 0.8,
                                                         "itm_eda": 0.8}
    pa = named_task("pa100k")
    assert pa.weights.enabled() == {"iac": 1, "iam": 1, "mam": 1} and pa.label_smoothing == 0
    with pytest.raises(UserError):
        named_task("nope")


def test_pretrain_gradients_reach_every_parameter(model, batch):
    model.zero_grad(set_to_none=True)
    out = Task(named_task("mals-pretrain"))(model, batch)
    expected = sum(w * out[f"{k}_loss"] for k, w in named_task("mals-pretrain").weights.enabled().items())
    torch.testing.assert_close(out["loss"], expected)
    assert set(out) == {"loss", "itc_loss", "itm_loss", "mlm_loss", "iac_loss", "iam_loss", "mam_loss"}
    out["loss"].backward()
    dead = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert dead == []


def test_finetune_and_pa100k_tasks(model, batch):
    out = Task(named_task("finetune"))(model, batch)
    assert set(out) == {"loss", "itc_loss", "itm_loss", "mlm_loss", "itc_eda_loss", "itm_eda_loss"}
    pa_batch = dict(batch, attrs=torch.randint(0, 2, (4, 26)))
    out = Task(named_task("pa100k"))(model, pa_batch)
    assert set(out) == {"loss", "iac_loss", "iam_loss", "mam_loss"} and torch.isfinite(out["loss"])
    with pytest.raises(ValueError, match=r"batch\['attrs'\] of shape \(B, 26\)"):
        Task(named_task("pa100k"))(model, batch)


def test_unknown_attribute_labels_are_ignored(model, batch):
    cfg = TaskConfig(weights=LossWeights(iac=1.0, iam=1.0, mam=1.0))
    out = Task(cfg)(model, dict(batch, attrs=torch.full((4, 27), -1)))
    assert out["iac_loss"].item() == 0.0 and out["iam_loss"].item() == 0.0 and out["mam_loss"].item() == 0.0


def test_task_masks_when_collate_did_not_and_resumes_generator(model, batch):
    model.eval()
    cfg = TaskConfig(weights=LossWeights(itm=1.0, mlm=1.0, mam=1.0))
    plain = {k: v for k, v in batch.items() if not k.startswith("mlm_")}
    task = Task(cfg)
    task(model, plain)
    state = task.state_dict()
    a = task(model, plain)
    task.load_state_dict(state)
    b = task(model, plain)
    for k in a:
        torch.testing.assert_close(a[k], b[k])
    model.train()
    with pytest.raises(ValueError, match="every loss weight is 0"):
        Task(dataclasses.replace(cfg, weights=LossWeights()))


def test_recipes_select_the_original_and_the_loss_section_overrides_them():
    from aptm_train.losses import task_config

    for name in ("mals-pretrain", "finetune", "pa100k"):
        t = named_task(name)
        assert (t.itc_gradient, t.attr_reduction, t.temp_clamp, t.masking.count) == (
            "local", "per-attribute", False, "caption")
    ours = task_config("mals-pretrain", {"itc_gradient": "global", "attr_reduction": "pairs",
                                         "masking": {"count": "padded"}}, seed=5)
    assert (ours.itc_gradient, ours.attr_reduction, ours.masking.count, ours.seed) == ("global", "pairs", "padded", 5)
    assert ours.weights == named_task("mals-pretrain").weights and ours.masking.max_masks == 10
    with pytest.raises(UserError, match="loss.itc_gradient"):
        task_config("finetune", {"itc_gradient": "nope"})
    with pytest.raises(UserError, match="unknown key 'itc_gradien'"):
        task_config("finetune", {"itc_gradien": "local"})
    with pytest.raises(UserError, match="loss.attributes"):
        task_config("finetune", {"attributes": "market"})


def test_the_task_names_its_attribute_set():
    pa, mals = named_task("pa100k").attribute_set, named_task("mals-pretrain").attribute_set
    assert (pa.num_attributes, pa.label_field, len(pa.prompts)) == (26, "pa100k_attrs", 52)
    assert (mals.num_attributes, mals.label_field, len(mals.prompts)) == (27, "mals_attrs", 54)
    assert named_task("pa100k").uses_attributes and not named_task("finetune").uses_attributes


def test_temperature_clamp_is_an_option_off_by_default(model, batch):
    from aptm_train.model.aptm import TEMP_RANGE

    itc_only = dataclasses.replace(named_task("finetune"), weights=LossWeights(itc=1.0))
    saved, training = model.temp.detach().clone(), model.training
    model.eval()                                                       # no dropout: repeatable losses
    try:
        with torch.no_grad():
            model.temp.fill_(0.8)                                      # above the clamp's 0.5
        assert model.logit_scale().item() == pytest.approx(1 / 0.8)
        assert model.logit_scale(TEMP_RANGE).item() == pytest.approx(2.0)
        free = Task(itc_only)(model, batch)["itc_loss"]
        clamped = Task(dataclasses.replace(itc_only, temp_clamp=True))(model, batch)["itc_loss"]
        expected = Task(itc_only)(model, batch)["itc_loss"]
        assert free.item() == pytest.approx(expected.item()) and abs(free.item() - clamped.item()) > 1e-4
    finally:
        model.train(training)
        with torch.no_grad():
            model.temp.copy_(saved)


def test_itm_joins_at_itm_start(model, batch):
    from aptm_train.losses import task_config
    task = Task(task_config("finetune", {"itm_start": 3}))
    task.step = 2                                  # before: ITC alone, ITM not even computed
    out = task(model, batch)
    assert set(out) == {"loss", "itc_loss", "mlm_loss", "itc_eda_loss"}
    torch.testing.assert_close(out["loss"], out["itc_loss"] + out["mlm_loss"] + 0.8 * out["itc_eda_loss"])
    task.step = 3                                  # from itm_start on: the whole recipe
    assert set(task(model, batch)) == {"loss", "itc_loss", "itm_loss", "mlm_loss", "itc_eda_loss", "itm_eda_loss"}
    with pytest.raises(UserError, match="itm_start"):
        task_config("finetune", {"itm_start": -1})


def test_which_recipes_leave_parameters_unused():
    from aptm_train.losses import task_config
    assert not Task(task_config("mals-pretrain")).may_leave_parameters_unused     # every head trains
    assert not Task(task_config("finetune")).may_leave_parameters_unused
    assert Task(task_config("mals-pretrain", {"itm_start": 5})).may_leave_parameters_unused
    itc_itm = {"weights": {"mlm": 0, "iac": 0, "iam": 0, "mam": 0}}             # the CPU demo's losses
    assert Task(task_config("mals-pretrain", itc_itm)).may_leave_parameters_unused
