"""A task sums the enabled losses with weights from its config; the training loop knows none of them.

`task(model, batch) -> {"loss": weighted sum, "itc_loss": ..., ...}` (only enabled components).
It runs inside `model.forward` (`model(task.compute, batch)`) so DDP / accelerate hooks apply.
The attribute prompts are tokenised once per tokenizer; MAM masks them afresh every step.
Randomness (hard negatives, IAM prompt choice, MAM masks and images) comes from the task's own
generator, seeded by `seed + rank`; `state_dict()` saves it for exact resume.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, fields

import torch
import torch.distributed as dist

from ..model.aptm import TEMP_RANGE
from ..model.config import APTMConfig
from ..prompts import AttributeSet, attribute_set
from ..text import build_tokenizer, tokenize
from .attributes import choose_images, choose_prompts, iac_loss, iam_loss, mam_loss
from .itc import itc_loss
from .itm import itm_loss
from .mlm import MaskingConfig, MaskingVocab, mask_tokens, mlm_loss
from .nam import noise_aware_mask, token_image_scores

CAPTION_LOSSES = ("itc", "itm", "mlm", "itc_eda", "itm_eda")
ATTRIBUTE_LOSSES = ("iac", "iam", "mam")
ITM_LOSSES = ("itm", "itm_eda")     # off before TaskConfig.itm_start


@dataclass(frozen=True)
class LossWeights:
    """Weight of each loss in the sum; 0 turns a loss off (it is not even computed)."""
    itc: float = 0.0
    itm: float = 0.0
    mlm: float = 0.0
    iac: float = 0.0
    iam: float = 0.0
    mam: float = 0.0
    itc_eda: float = 0.0
    itm_eda: float = 0.0

    def enabled(self) -> dict[str, float]:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != 0}


@dataclass(frozen=True)
class TaskConfig:
    name: str = "custom"
    weights: LossWeights = field(default_factory=LossWeights)
    attributes: str = "mals"          # prompt set of the attribute stream: "mals" (54) or "pa100k" (52)
    label_smoothing: float = 0.0      # on IAC and IAM (0.4 in MALS pretraining)
    iam_prompts: int = 5              # prompts drawn per step for IAM
    masking: MaskingConfig = field(default_factory=MaskingConfig)   # caption MLM (MAM counts "caption")
    # Faithful-or-ours switches (docs/differences-from-original.md); the defaults are ours.
    itc_gradient: str = "global"      # ITC / ITC_eda gradient across processes: "global" | "local" (original)
    attr_reduction: str = "pairs"     # IAC / IAM mean: "pairs" | "per-attribute" (original)
    temp_clamp: bool = False          # clamp temp to TEMP_RANGE (ALBEF's; the original APTM has none)
    itm_hardness: float = 1.0         # ITM negatives ~ softmax(hardness * ITC similarity); 0 = uniform
    # [start, end] steps: hardness 0 (uniform) until `start`, rising linearly to itm_hardness at `end`;
    # [0, 0] = itm_hardness throughout. Easy negatives while ITC is young, hard ones once it ranks.
    itm_hardness_ramp: tuple[int, int] = (0, 0)
    # ITM (and ITM_eda) are off, not even computed, before this optimizer step: the first steps train
    # ITC alone at ITC's cost (scripts/profile_step.py: ITC alone is under half an ITC+ITM step).
    itm_start: int = 0
    # NAM (losses/nam.py): MLM masks drawn by low token-to-patch similarity; for machine captions only
    noise_aware_masking: bool = False
    nam_temperature: float = 0.1
    seed: int = 0

    @property
    def uses_attributes(self) -> bool:
        """Whether the attribute stream (IAC / IAM / MAM) is on, so batches need attribute labels."""
        return any(k in ATTRIBUTE_LOSSES for k in self.weights.enabled())

    @property
    def attribute_set(self) -> AttributeSet:
        """Prompts, label field and attribute count of `attributes`."""
        return attribute_set(self.attributes)


class Task:
    def __init__(self, cfg: TaskConfig) -> None:
        self.cfg = cfg
        self.weights = cfg.weights.enabled()
        if not self.weights:
            raise ValueError(f"task {cfg.name!r}: every loss weight is 0; enable at least one")
        rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
        self.generator = torch.Generator().manual_seed(cfg.seed + rank)
        self._prompts: dict[tuple, tuple[torch.Tensor, torch.Tensor, MaskingVocab]] = {}
        self.step = 0           # optimizer steps done; the training loop sets it before each batch

    def itm_hardness(self) -> float:
        """The ITM negatives' hardness at `self.step` (`itm_hardness_ramp`)."""
        start, end = self.cfg.itm_hardness_ramp
        if end <= 0:
            return self.cfg.itm_hardness
        return self.cfg.itm_hardness * min(1.0, max(0.0, (self.step - start) / max(1, end - start)))

    @property
    def may_leave_parameters_unused(self) -> bool:
        """Whether some step's loss may miss parameters (DDP must then look for them): ITM joins late
        (`itm_start`), or the recipe leaves out ITM or MLM, so their heads may get no gradient (IAM
        and MAM reach them too; looking costs DDP little, a missed case fails the run)."""
        return self.cfg.itm_start > 0 or not {"itm", "mlm"} <= set(self.weights)

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def __call__(self, model, batch: dict) -> dict[str, torch.Tensor]:
        return model(self.compute, batch)

    # -----------------------------------------------------------------------------------------
    def prompts(self, cfg: APTMConfig) -> tuple[torch.Tensor, torch.Tensor, MaskingVocab]:
        """(ids (2A, Lp), mask (2A, Lp), masking vocab) on CPU, tokenised once per tokenizer."""
        key = (cfg.text.tokenizer, cfg.text.max_len, self.cfg.attributes)
        if key not in self._prompts:
            tok = build_tokenizer(cfg)
            ids, mask = tokenize(tok, self.cfg.attribute_set.prompts, cfg.text.max_len)
            self._prompts[key] = (ids, mask, MaskingVocab.from_tokenizer(tok))
        return self._prompts[key]

    def compute(self, model, batch: dict) -> dict[str, torch.Tensor]:
        image_tokens, image_feat = model.encode_image(batch["pixels"])     # (B, 49, Dv), (B, E)
        scale = model.logit_scale(TEMP_RANGE) if self.cfg.temp_clamp else model.logit_scale()
        out: dict[str, torch.Tensor] = {}
        weights = self.active_weights()
        if any(k in weights for k in CAPTION_LOSSES):
            out |= self._caption_losses(model, batch, weights, image_tokens, image_feat, scale)
        if any(k in weights for k in ATTRIBUTE_LOSSES):
            out |= self._attribute_losses(model, batch, image_tokens, image_feat, scale)
        out["loss"] = sum(w * out[f"{k}_loss"] for k, w in weights.items())
        return out

    def active_weights(self) -> dict[str, float]:
        """The enabled losses at `self.step` (ITM joins at `itm_start`)."""
        if self.step >= self.cfg.itm_start:
            return self.weights
        return {k: w for k, w in self.weights.items() if k not in ITM_LOSSES}

    def _caption_losses(self, model, batch, w, image_tokens, image_feat, scale) -> dict[str, torch.Tensor]:
        out = {}
        ids = batch.get("person_ids")
        pairs = [("", batch["input_ids"], batch["attention_mask"])]
        if "itc_eda" in w or "itm_eda" in w:
            pairs.append(("_eda", batch["eda_input_ids"], batch["eda_attention_mask"]))
        caption_tokens = None
        for suffix, input_ids, mask in pairs:
            text_tokens, text_feat = model.encode_text(input_ids, mask)
            caption_tokens = text_tokens if not suffix else caption_tokens
            if f"itc{suffix}" in w:
                out[f"itc{suffix}_loss"] = itc_loss(image_feat, text_feat, scale, ids,
                                                    gradient=self.cfg.itc_gradient)
            if f"itm{suffix}" in w:
                out[f"itm{suffix}_loss"] = itm_loss(model, image_tokens, text_tokens, mask, image_feat,
                                                    text_feat, ids, generator=self.generator,
                                                    logit_scale=scale.detach(),
                                                    hardness=self.itm_hardness())
        if "mlm" in w:
            mlm_ids, mlm_labels = batch.get("mlm_input_ids"), batch.get("mlm_labels")
            if self.cfg.noise_aware_masking:    # re-drawn here: the collate cannot see the image
                mlm_ids, mlm_labels = self._noise_aware(model, batch, image_tokens, caption_tokens)
            elif mlm_ids is None:               # the collate did not mask: do it here
                vocab = self.prompts(model.config)[2]
                mlm_ids, mlm_labels = mask_tokens(batch["input_ids"], batch["attention_mask"], vocab,
                                                  self.generator, self.cfg.masking)
            out["mlm_loss"] = mlm_loss(model, mlm_ids, batch["attention_mask"], image_tokens, mlm_labels)
        return out

    def _noise_aware(self, model, batch, image_tokens, text_tokens) -> tuple[torch.Tensor, torch.Tensor]:
        if text_tokens is None:
            text_tokens, _ = model.encode_text(batch["input_ids"], batch["attention_mask"])
        scores = token_image_scores(model, text_tokens, image_tokens)       # (B, L)
        return noise_aware_mask(batch["input_ids"], batch["attention_mask"], scores,
                                self.prompts(model.config)[2], self.generator, self.cfg.masking,
                                self.cfg.nam_temperature)

    def _attribute_losses(self, model, batch, image_tokens, image_feat, scale) -> dict[str, torch.Tensor]:
        w, out = self.weights, {}
        ids, mask, vocab = self.prompts(model.config)
        attrs = batch.get("attrs")
        if attrs is None or attrs.shape[1] * 2 != ids.shape[0]:
            got = None if attrs is None else tuple(attrs.shape)
            raise ValueError(f"task {self.cfg.name!r} needs batch['attrs'] of shape (B, {ids.shape[0] // 2}) "
                             f"for the {self.cfg.attributes!r} prompts; got {got}")
        dev = image_tokens.device
        prompt_tokens, prompt_feat = model.encode_text(ids.to(dev), mask.to(dev))  # (2A, Lp, Dt), (2A, E)
        smooth, reduction = self.cfg.label_smoothing, self.cfg.attr_reduction
        if "iac" in w:
            out["iac_loss"] = iac_loss(image_feat, prompt_feat, scale, attrs, label_smoothing=smooth,
                                       reduction=reduction)
        if "iam" in w:
            chosen = choose_prompts(ids.shape[0], self.cfg.iam_prompts, self.generator)
            out["iam_loss"] = iam_loss(model, image_tokens, prompt_tokens, mask.to(dev), attrs, chosen,
                                       label_smoothing=smooth, reduction=reduction)
        if "mam" in w:
            prompt_masking = dataclasses.replace(self.cfg.masking, count="caption")  # prompts are not captions
            mam_ids, mam_labels = mask_tokens(ids, mask, vocab, self.generator, prompt_masking)
            image, has = choose_images(attrs, self.generator)
            out["mam_loss"] = mam_loss(model, image_tokens, mam_ids.to(dev), mask.to(dev), mam_labels.to(dev),
                                       image, has)
        return out
