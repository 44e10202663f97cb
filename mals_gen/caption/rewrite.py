"""`--captioner rewrite`: a text-only causal LM restyles an existing caption of the image.

For a user with plain captions (BLIP, or the prompt) and a small instruction-tuned LLM: each
request names one drawn style (a mined style template, or an instruction of the instructions file)
and the caption to restyle, which is the image's first caption made by another captioner in this
run (or its prompt when there is none). The LLM never sees the image, so it can only reword.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ..devices import resolve_device, resolve_dtype
from ..errors import UserError
from .captioners import CaptionItem, CaptionResult, _clean, _runtime, _seed_sampling, draw_requests
from .presets import generate_kwargs


def _load_causal_lm(model: str, device: str, dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = Path(model).expanduser()
    source = str(folder) if folder.is_dir() else model
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        net = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except (OSError, ValueError, KeyError):
        raise UserError(f"cannot load rewrite model '{model}' as a causal language model (no hub access, "
                        "no such folder, or not a text LLM); pass --model FOLDER") from None
    tokenizer.padding_side = "left"          # batch generation continues at the right end
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer, net.to(device).eval()


def rewrite_request(instruction: str, caption: str) -> str:
    return (f"Rewrite this description of a person. {instruction}\nKeep every fact (gender, clothes, colours, "
            f"bags); add nothing that is not in it.\nDescription: {caption}")


class RewriteCaptioner:
    """A transformers causal LM (chat template when it has one) that rewrites `item.source`."""
    needs_images = False

    def __init__(self, model: str, settings: dict, instructions: Sequence[str], device: str = "auto",
                 dtype: str = "auto", styles: Sequence = ()):
        self.model_id, self.name = model, f"rewrite:{model}"
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.tokenizer, self.model = _load_causal_lm(model, self.device, self.dtype)
        self.instructions, self.styles = list(instructions), tuple(styles)
        self.gen = generate_kwargs(settings)
        self.do_sample = settings["do_sample"]

    def runtime(self) -> dict:
        return _runtime(self.device, self.dtype)

    def _prompts(self, requests: list[str]) -> list[str]:
        if getattr(self.tokenizer, "chat_template", None):
            return [self.tokenizer.apply_chat_template([{"role": "user", "content": r}], tokenize=False,
                                                       add_generation_prompt=True) for r in requests]
        return [f"{r}\nRewritten:" for r in requests]

    def caption(self, items: Sequence[CaptionItem]) -> list[CaptionResult]:
        import torch

        chosen, records = draw_requests(self.instructions, self.styles, items)
        prompts = self._prompts([rewrite_request(c, item.source or item.prompt) for c, item in zip(chosen, items)])
        inputs = self.tokenizer(prompts, return_tensors="pt", padding=True).to(self.device)
        if self.do_sample:
            _seed_sampling(items[0].seed)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **self.gen, pad_token_id=self.tokenizer.pad_token_id)
        texts = self.tokenizer.batch_decode(out[:, inputs["input_ids"].shape[1]:], skip_special_tokens=True)
        return [CaptionResult(_clean(t), {"instruction": c, **rec}) for t, c, rec in zip(texts, chosen, records)]
