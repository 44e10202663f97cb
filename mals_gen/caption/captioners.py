"""Captioners: turn a batch of samples (image, prompt, seed) into captions.

* `PromptCaptioner`: the caption is the sample's prompt (sketch runs draw images from it), or
  with a style file the prompt's phrases poured into one drawn style template.
* `BlipCaptioner`: BLIP, or any model transformers loads as an image-to-text captioner
  (`AutoModelForImageTextToText`: BLIP, BLIP-2, GIT, Pix2Struct, vision-encoder-decoder...),
  decoding from an optional text prefix that is cut from the caption.
* `InstructionCaptioner`: an instruction-following vision-language model driven by a chat
  template; each sample gets one style instruction drawn with its own seed (or, with a style
  file, an instruction naming one drawn mined style), so captions vary in length, order and
  vocabulary. `rewrite.py` holds the text-only rewriting captioner.

torch and transformers are imported inside functions so `mals --help` stays fast.
"""
from __future__ import annotations

import random
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..devices import resolve_device, resolve_dtype
from ..errors import UserError
from .presets import generate_kwargs

# A hub id is "name" or "owner/name"; anything else is meant as a local folder.
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.\-]*(/[\w.\-]+)?$")


@dataclass
class CaptionItem:
    key: str
    prompt: str
    seed: int                # this caption's seed (the plan seed for an image's first caption)
    image: Any = None        # PIL.Image (RGB), or None for captioners that do not look at images
    source: str = ""         # an earlier caption of the image (what `rewrite` restyles)


@dataclass
class CaptionResult:
    text: str
    extra: dict = field(default_factory=dict)  # per-sample settings: the instruction drawn, the style id


def styled(styles: Sequence, seed: int) -> tuple[Any, dict]:
    """The style drawn for one caption request and its record ({} and None without styles)."""
    from ..styles.mine import draw_style

    if not styles:
        return None, {}
    style = draw_style(styles, seed)
    return style, {"style": style.id}


class PromptCaptioner:
    """The caption is the prompt the image was made from (right for the sketch backend).

    With styles, the prompt's own phrases fill one drawn style template (`styles/fill.py`), so the
    caption keeps the prompt's attributes in a human annotator's sentence shape."""
    name = "prompt"
    needs_images = False

    def __init__(self, styles: Sequence = ()):
        from ..styles.fill import follow_up_frames
        from ..styles.mine import style_templates

        self.styles = tuple(styles)
        self.templates = {s.id: style_templates(s) for s in self.styles}
        # later sentences of every style ("[pronoun] carries a [bag] ."): what the drawn style has no
        # slot for is said in another annotator's words before the fixed closing sentence
        self.frames = follow_up_frames([t for ts in self.templates.values() for t in ts])

    def runtime(self) -> dict:
        return {}

    def caption(self, items: Sequence[CaptionItem]) -> list[CaptionResult]:
        from ..styles.fill import fill_template
        from ..styles.mine import draw_template

        out = []
        for item in items:
            style, record = styled(self.styles, item.seed)
            if style is None:
                out.append(CaptionResult(item.prompt))
            else:
                template = draw_template(self.templates[style.id], item.seed)
                turn = item.seed % max(len(self.frames), 1)   # each caption tries the frames from its own start
                out.append(CaptionResult(fill_template(template, item.prompt, self.frames[turn:] + self.frames[:turn]),
                                         {**record, "instruction": template}))
        return out


# ---------------------------------------------------------------------------------------------
# Loading models: a hub id or a local folder; failure is one line naming the flag that changes it.

def _load_error(model: str) -> UserError:
    return UserError(f"cannot load captioner model '{model}' (no hub access and no such local folder): "
                     "pass --model FOLDER or --captioner prompt")


def load_image_text_model(model: str, device: str, dtype):
    """(processor, model) of an image-text-to-text model from a local folder or a hub id."""
    from transformers import AutoModelForImageTextToText, AutoProcessor

    folder = Path(model).expanduser()
    if folder.is_dir():
        source = str(folder)
    elif _HUB_ID.match(model) and not model.startswith("."):
        source = model
    else:  # meant as a folder that is not there: fail now instead of asking the hub
        raise _load_error(model)
    try:
        processor = AutoProcessor.from_pretrained(source)
        net = AutoModelForImageTextToText.from_pretrained(source, dtype=dtype)
    except OSError:
        # transformers raises OSError both for "no hub access / not cached" and "no such repo".
        if folder.is_dir():
            raise UserError(f"cannot load captioner model from folder '{model}': it lacks the saved model "
                            "or processor files; pass --model FOLDER or --captioner prompt") from None
        raise _load_error(model) from None
    except (ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"'{model}' is not an image-to-text model transformers can load ({first[:160]}); "
                        "pass --model FOLDER or --captioner prompt") from None
    return processor, net.to(device).eval()


def _runtime(device: str, dtype) -> dict:
    """Where the model ran, recorded with each caption (GPU and CPU decodes may differ slightly)."""
    return {"device": device.split(":")[0], "dtype": str(dtype).removeprefix("torch.")}


def _tokenizer(model: str):
    from transformers import AutoTokenizer

    folder = Path(model).expanduser()
    try:
        return AutoTokenizer.from_pretrained(str(folder) if folder.is_dir() else model)
    except (OSError, ValueError):
        raise UserError(f"captioner model '{model}' has no tokenizer to decode its captions; "
                        "pass --model FOLDER with tokenizer files or --captioner prompt") from None


def _seed_sampling(seed: int) -> None:
    import torch

    torch.manual_seed(seed)  # also seeds every CUDA device


def _clean(text: str) -> str:
    return " ".join(text.split())


def strip_prefix(text: str, prefix: str) -> str:
    """Cut the decoding prefix ("a picture of") from the start of a caption, ignoring case."""
    text = _clean(text)
    prefix = _clean(prefix)
    if prefix and text.lower().startswith(prefix.lower()):
        text = text[len(prefix):].lstrip(" ,:")
    return text


class BlipCaptioner:
    """BLIP (default) or any image-to-text captioner, batched, from an optional text prefix."""
    needs_images = True

    def __init__(self, model: str, settings: dict, device: str = "auto", dtype: str = "auto",
                 strip: bool = True):
        self.model_id = model
        self.name = f"blip:{model}"
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.processor, self.model = load_image_text_model(model, self.device, self.dtype)
        # Vision-encoder-decoder checkpoints load an image processor only; decode with their tokenizer.
        self.decoder = self.processor if hasattr(self.processor, "batch_decode") else _tokenizer(model)
        self.gen = generate_kwargs(settings)
        self.prefix = settings["prefix"]
        if self.prefix and getattr(self.processor, "tokenizer", None) is None:
            raise UserError(f"captioner model '{model}' takes no text prefix; pass --set prefix=''")
        self.strip = strip
        self.do_sample = settings["do_sample"]

    def runtime(self) -> dict:
        return _runtime(self.device, self.dtype)

    def caption(self, items: Sequence[CaptionItem]) -> list[CaptionResult]:
        import torch

        kwargs: dict = {"images": [item.image for item in items], "return_tensors": "pt"}
        if self.prefix:
            # Same prefix for every sample: equal lengths, so no padding enters the decoder.
            kwargs["text"] = [self.prefix] * len(items)
        inputs = self.processor(**kwargs).to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)  # (B, 3, H, W)
        if self.do_sample:
            _seed_sampling(items[0].seed)  # batches are fixed per part, so a rerun draws the same
        with torch.inference_mode():
            out = self.model.generate(**inputs, **self.gen)  # (B, T) prefix + generated ids
        texts = self.decoder.batch_decode(out, skip_special_tokens=True)
        if self.strip:
            return [CaptionResult(strip_prefix(t, self.prefix)) for t in texts]
        return [CaptionResult(_clean(t)) for t in texts]


# ---------------------------------------------------------------------------------------------
# Instruction-following VLMs with a file of style instructions.

def read_instructions(path: str | Path) -> list[str]:
    """One instruction per line; blank lines and lines starting with '#' are skipped."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"caption instructions file {path} does not exist; pass --instructions FILE "
                        "(one style instruction per line)")
    lines = [ln.strip() for ln in path.read_text(encoding="utf-8").splitlines()]
    instructions = [ln for ln in lines if ln and not ln.startswith("#")]
    if not instructions:
        raise UserError(f"caption instructions file {path} holds no instruction; write one per line")
    return instructions


def draw_instruction(instructions: Sequence[str], seed: int) -> str:
    """The style instruction of a sample: a pure function of its plan seed (reruns agree)."""
    return instructions[random.Random(seed ^ 0x5EED_CA97).randrange(len(instructions))]


class InstructionCaptioner:
    """A transformers image-text-to-text chat model; one style instruction per sample."""
    needs_images = True

    def __init__(self, model: str, settings: dict, instructions: Sequence[str], device: str = "auto",
                 dtype: str = "auto", styles: Sequence = ()):
        self.model_id = model
        self.styles = tuple(styles)
        self.name = f"vlm:{model}"
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.processor, self.model = load_image_text_model(model, self.device, self.dtype)
        if getattr(self.processor, "chat_template", None) is None:
            raise UserError(f"captioner model '{model}' has no chat template, so it cannot follow "
                            "instructions; use --captioner blip for plain captioners")
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is not None:
            tokenizer.padding_side = "left"  # decoder-only batch generation continues at the right end
        self.instructions = list(instructions)
        self.gen = generate_kwargs(settings)
        self.do_sample = settings["do_sample"]

    def runtime(self) -> dict:
        return _runtime(self.device, self.dtype)

    def caption(self, items: Sequence[CaptionItem]) -> list[CaptionResult]:
        import torch

        chosen, records = draw_requests(self.instructions, self.styles, items)
        conversations = [[{"role": "user", "content": [{"type": "image", "image": item.image},
                                                       {"type": "text", "text": text}]}]
                         for item, text in zip(items, chosen)]
        inputs = self.processor.apply_chat_template(
            conversations, add_generation_prompt=True, tokenize=True, return_dict=True,
            return_tensors="pt", processor_kwargs={"padding": True}).to(self.device)
        if "pixel_values" in inputs:
            inputs["pixel_values"] = inputs["pixel_values"].to(self.dtype)
        if self.do_sample:
            _seed_sampling(items[0].seed)
        with torch.inference_mode():
            out = self.model.generate(**inputs, **self.gen)  # (B, T)
        if not self.model.config.is_encoder_decoder:
            out = out[:, inputs["input_ids"].shape[1]:]  # (B, T_new): drop the echoed prompt
        texts = self.processor.batch_decode(out, skip_special_tokens=True)
        return [CaptionResult(_clean(t), {"instruction": text, **rec}) for t, text, rec in zip(texts, chosen, records)]


def draw_requests(instructions: Sequence[str], styles: Sequence, items: Sequence[CaptionItem]
                  ) -> tuple[list[str], list[dict]]:
    """The instruction and style record of each item's caption request (pure in the item seeds)."""
    from ..styles.mine import style_instruction

    chosen, records = [], []
    for item in items:
        style, record = styled(styles, item.seed)
        chosen.append(style_instruction(style) if style is not None else draw_instruction(instructions, item.seed))
        records.append(record)
    return chosen, records
