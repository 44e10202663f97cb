"""The plan stage: fix every sample's key, prompt, seed and intended attributes, part by part.

`plan.json` holds only counts and seeds; the prompts of a part are materialised into
`RUN/plan/part-NNNNN.parquet` when that part is first needed, from the sample's own seed, so
planning 1.5M samples is instant and any sample can be rebuilt alone.
"""
from __future__ import annotations

import random
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..contract import NUM_MALS_ATTRIBUTES, PLAN_SCHEMA
from ..errors import UserError
from ..manifest import write_part
from ..plan import RunPlan
from ..prompts.composer import ComposerConfig
from ..runner import StageContext

# Composer draws use their own stream so that prompt and image noise never share random numbers.
_PROMPT_STREAM = 0x5052
_EDA_STREAM = 0x454441  # "EDA": the edits of a reused description draw from their own stream


@lru_cache(maxsize=2)
def _open_descriptions(path: str, field: str | None):
    """Read a description file once per process (planning and the provider share it)."""
    from ..prompts.files import DescriptionFile

    return DescriptionFile(path, field=field)  # raises a one-line UserError if the file is bad


LORA_WEIGHTS = "pytorch_lora_weights.safetensors"  # what `mals tune-diffusion` and diffusers write


def lora_weights(lora: str) -> Path:
    """The adapter's weights file in a LoRA folder (or the file itself), or a one-line error."""
    path = Path(lora)
    found = path if path.is_file() else path / LORA_WEIGHTS
    if not found.is_file():
        raise UserError(f"generate.lora (--lora) {lora}: no {LORA_WEIGHTS} there; train one with "
                        f"`mals tune-diffusion --shards shards/NAME --base MODEL --out {lora}`")
    return found


def adapter_identity(lora: str) -> str:
    """sha256 of the adapter's weights: a resumed run refuses another adapter, even under the same path."""
    import hashlib

    digest = hashlib.sha256()
    with lora_weights(lora).open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plan_source(prompts: str | None, prompt_field: str | None, composer: ComposerConfig,
                lora: str | None = None, prompt_eda: float = 0.0) -> dict:
    """`prompt_source`, plus the adapter's identity when a LoRA is loaded and the EDA rate of reused
    descriptions (plan.json's `source` is what a resumed run must agree on; runs without either keep
    their old plan.json unchanged)."""
    source = prompt_source(prompts, prompt_field, composer)
    if prompt_eda:
        eda_synonyms()  # WordNet must be there before plan.json is written
        source = {**source, "eda": prompt_eda}
    return {**source, "lora_sha256": adapter_identity(lora)} if lora else source


def eda_synonyms():
    """WordNet for EDA edits of descriptions (mals_gen/wordnet.py says where it comes from)."""
    from ..wordnet import WordNet, find_wordnet_dir

    return WordNet(find_wordnet_dir(None))


def prompt_source(prompts: str | None, prompt_field: str | None, composer: ComposerConfig) -> dict:
    """Describe (and validate) where prompts come from; stored in plan.json.

    A composer source records only the priors that differ from the defaults, so plan.json files
    written before the composer settings were typed still describe the same samples.
    """
    if prompts is None:
        return {"kind": "composer", "composer": composer.overrides()}
    prompts = str(Path(prompts).resolve())
    descriptions = _open_descriptions(prompts, prompt_field)
    return {"kind": "file", "path": prompts, "field": prompt_field,
            "count": len(descriptions)}


class PromptProvider:
    """Prompts and intended attributes of any range of plan indices."""

    def __init__(self, source: dict):
        self.source = source
        if source["kind"] == "composer":
            from ..config import from_mapping
            from ..prompts.composer import PromptComposer

            self._composer = PromptComposer(from_mapping(ComposerConfig, source["composer"], "composer"))
            self.name = "composer"
        else:
            self._file = _open_descriptions(source["path"], source.get("field"))
            self.name = self._file.name
            self._eda = None
            if source.get("eda"):
                from ..eda import EdaConfig, make_eda

                self._eda = make_eda(EdaConfig(alpha=source["eda"], style="original"), eda_synonyms())

    def prompts(self, plan: RunPlan, start: int, stop: int) -> tuple[list[str], np.ndarray]:
        """(prompts, intended attributes (stop-start, 27) int8) for samples [start, stop)."""
        if self.source["kind"] == "composer":
            texts, attrs = [], []
            for index in range(start, stop):
                text, vec = self._composer.compose(np.random.default_rng([plan.sample_seed(index), _PROMPT_STREAM]))
                texts.append(text)
                attrs.append(vec)
            return texts, np.asarray(attrs, dtype=np.int8).reshape(-1, NUM_MALS_ATTRIBUTES)
        texts = self._file.texts(start, stop)
        if self._eda is not None:  # reuses of a description (index >= count) are EDA-edited copies
            count = self.source["count"]
            texts = [t if i < count else self._eda(t, random.Random(plan.sample_seed(i) ^ _EDA_STREAM))
                     for i, t in zip(range(start, stop), texts)]
        # What a description says is what its image should show: mine it (-1 where it is silent).
        from ..attrs.miner import mine_many

        return texts, np.asarray(mine_many(texts), dtype=np.int8)


def plan_part(ctx: StageContext, plan: RunPlan, provider: PromptProvider) -> dict:
    part = ctx.part
    texts, attrs = provider.prompts(plan, part.start, part.stop)
    indices = range(part.start, part.stop)
    rows = {
        "key": [plan.key(i) for i in indices],
        "index": list(indices),
        "part": [part.index] * part.size,
        "prompt": texts,
        "seed": [plan.sample_seed(i) for i in indices],
        "prompt_attrs": [row.tolist() for row in attrs],
        "prompt_source": [provider.name] * part.size,
    }
    with ctx.output(".parquet") as tmp:
        write_part(tmp, rows, PLAN_SCHEMA)
    ctx.advance(part.size)
    return {"samples": part.size}
