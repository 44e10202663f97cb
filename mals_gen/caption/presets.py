"""Generation settings for the model captioners: the default presets and MALS's own.

Why these defaults. MALS re-captioned every image with BLIP forced to at least 30 tokens, which
made captions long and repetitive ("a backpack on her back and a backpack on her shoulder").
Our `default` preset for image-to-text models (BLIP) keeps beam search but

* blocks any repeated 3-gram (`no_repeat_ngram_size=3`), which removes exactly that loop;
* adds a mild `repetition_penalty` (1.2) so an object is not named twice in other words;
* lets the caption end when the model is done (`min_new_tokens=5`, `max_new_tokens=40`);
* starts decoding from the text prefix "a picture of": the COCO-finetuned BLIP captioners
  (`Salesforce/blip-image-captioning-*`) were trained with that prompt, and conditioning on it
  avoids BLIP-large's habit of opening unprompted captions with made-up words ("arafed ...").
  The prefix is cut from the caption (`strip_prefix`), as the original BLIP code did.

`mals` reproduces MALS: beam search forced to >= 30 new tokens, no repetition control.
Instruction-following VLMs (`--captioner vlm`) get their own default: greedy decoding (the style
instruction drawn per sample provides the diversity and keeps reruns identical), room for two
sentences, a light repetition penalty and no prefix; the text-only `rewrite` captioner shares it.
"""
from __future__ import annotations

from ..errors import UserError

#: The generation settings every preset defines; each can be overridden by a config field.
GENERATION_KEYS = (
    "num_beams", "min_new_tokens", "max_new_tokens", "repetition_penalty", "no_repeat_ngram_size",
    "length_penalty", "do_sample", "temperature", "top_p", "prefix",
)

_BLIP_DEFAULT = {
    "num_beams": 3, "min_new_tokens": 5, "max_new_tokens": 40, "repetition_penalty": 1.2,
    "no_repeat_ngram_size": 3, "length_penalty": 1.0, "do_sample": False, "temperature": 1.0,
    "top_p": 1.0, "prefix": "a picture of",
}
_MALS = {
    "num_beams": 3, "min_new_tokens": 30, "max_new_tokens": 50, "repetition_penalty": 1.0,
    "no_repeat_ngram_size": 0, "length_penalty": 1.0, "do_sample": False, "temperature": 1.0,
    "top_p": 1.0, "prefix": "a picture of",
}
_VLM_DEFAULT = {
    "num_beams": 1, "min_new_tokens": 0, "max_new_tokens": 96, "repetition_penalty": 1.05,
    "no_repeat_ngram_size": 0, "length_penalty": 1.0, "do_sample": False, "temperature": 0.7,
    "top_p": 0.9, "prefix": "",
}

#: preset name -> captioner kind -> settings
PRESETS: dict[str, dict[str, dict]] = {
    "default": {"blip": _BLIP_DEFAULT, "vlm": _VLM_DEFAULT, "rewrite": _VLM_DEFAULT},
    "mals": {"blip": _MALS},
}

#: Model used when `model` is left empty.
DEFAULT_MODELS = {
    "blip": "Salesforce/blip-image-captioning-large",
    "vlm": "Qwen/Qwen2.5-VL-3B-Instruct",
    "rewrite": "Qwen/Qwen2.5-0.5B-Instruct",
}


def preset_settings(preset: str, captioner: str) -> dict:
    """The settings of `preset` for captioner kind `captioner` ("blip", "vlm" or "rewrite")."""
    if preset not in PRESETS:
        raise UserError(f"unknown caption preset {preset!r}; choose one of: {', '.join(PRESETS)}")
    by_kind = PRESETS[preset]
    if captioner not in by_kind:
        raise UserError(f"caption preset {preset!r} is made for --captioner {', '.join(by_kind)}, "
                        f"not {captioner!r}; pass --preset default")
    return dict(by_kind[captioner])


def generate_kwargs(settings: dict) -> dict:
    """The keyword arguments for `model.generate` (the prefix is handled by the captioner)."""
    kwargs = {k: settings[k] for k in ("num_beams", "max_new_tokens", "repetition_penalty",
                                       "length_penalty", "do_sample")}
    if settings["min_new_tokens"]:
        kwargs["min_new_tokens"] = settings["min_new_tokens"]
    if settings["no_repeat_ngram_size"]:
        kwargs["no_repeat_ngram_size"] = settings["no_repeat_ngram_size"]
    if settings["do_sample"]:
        kwargs.update(temperature=settings["temperature"], top_p=settings["top_p"])
    return kwargs


def check_settings(settings: dict) -> None:
    """Reject values `generate` would fail on late, with the key to fix."""
    if settings["num_beams"] < 1:
        raise UserError(f"caption num_beams must be at least 1, got {settings['num_beams']}")
    if settings["max_new_tokens"] < 1:
        raise UserError(f"caption max_new_tokens must be at least 1, got {settings['max_new_tokens']}")
    if settings["min_new_tokens"] > settings["max_new_tokens"]:
        raise UserError(f"caption min_new_tokens ({settings['min_new_tokens']}) exceeds max_new_tokens "
                        f"({settings['max_new_tokens']}); lower one with --set")
    if settings["repetition_penalty"] <= 0:
        raise UserError("caption repetition_penalty must be positive (1.0 = off)")
    if settings["do_sample"] and not (settings["temperature"] > 0 and 0 < settings["top_p"] <= 1):
        raise UserError("caption sampling needs temperature > 0 and 0 < top_p <= 1")
