"""Prompt sources of `mals generate`: the attribute-driven composer and files of descriptions.

`PromptComposer` samples a 27-slot MALS attribute vector from configurable priors and writes a
matching description; `DescriptionFile` reads descriptions from .txt, .jsonl, .parquet or the
CUHK-PEDES / ICFG-PEDES / RSTPReid JSON files.
"""
from .composer import ComposerConfig, PromptComposer, expected_marginals
from .files import DescriptionFile

__all__ = ["ComposerConfig", "DescriptionFile", "PromptComposer", "expected_marginals"]
