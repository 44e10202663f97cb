"""EDA (Wei & Zou 2019): one of four word-level edits, for fine-tuning captions and SDA-style prompts.

APTM's fine-tuning adds ITC and ITM on an EDA copy of each caption: one operation picked at
random among synonym replacement, random insertion (a synonym of a random word at a random
place), random swap and random deletion, each at rate alpha = 0.1 (n = max(1, alpha * words)
edits; deletion drops each word with probability alpha). Synonyms come from WordNet
(`mals_gen.wordnet`); NLTK's English stop words are never replaced. Every call takes its
own `random.Random`, so an augmentation is reproducible from the pair's seed.

Two styles (`EdaConfig.style`, docs/method.md "Facts read from the official code"):

- `original`, as the official APTM code (EDA's own code): every character that is not a letter
  becomes a space, digits too; an insertion puts the word's FIRST synonym (in WordNet's sense
  order; the original listed a Python set, whose first element is arbitrary) at a position
  before the last word; a swap redraws its second position up to three times until it differs
  from the first, and is skipped otherwise; a word's base forms count as its synonyms
  ("shirts" -> "shirt"). The style for reproducing the paper's fine-tuning.
- `ours`: digits are kept ("number 23"); an insertion puts a random synonym anywhere, the end
  included; a swap always exchanges two different positions.

Both drop apostrophes ("man's" -> "mans", which WordNet reads as "man") and split hyphens.
"""
from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable
from dataclasses import dataclass

from .errors import UserError

STYLES = ("ours", "original")

# NLTK's English stop-word list as the official EDA code has it (127 words).
STOP_WORDS = frozenset([
    "i", "me", "my", "myself", "we", "our", "ours", "ourselves", "you", "your", "yours", "yourself",
    "yourselves", "he", "him", "his", "himself", "she", "her", "hers", "herself", "it", "its", "itself",
    "they", "them", "their", "theirs", "themselves", "what", "which", "who", "whom", "this", "that",
    "these", "those", "am", "is", "are", "was", "were", "be", "been", "being", "have", "has", "had",
    "having", "do", "does", "did", "doing", "a", "an", "the", "and", "but", "if", "or", "because", "as",
    "until", "while", "of", "at", "by", "for", "with", "about", "against", "between", "into", "through",
    "during", "before", "after", "above", "below", "to", "from", "up", "down", "in", "out", "on", "off",
    "over", "under", "again", "further", "then", "once", "here", "there", "when", "where", "why", "how",
    "all", "any", "both", "each", "few", "more", "most", "other", "some", "such", "no", "nor", "not",
    "only", "own", "same", "so", "than", "too", "very", "s", "t", "can", "will", "just", "don",
    "should", "now",
])

Synonyms = Callable[[str], tuple[str, ...]]
_NOT_WORD = {"ours": re.compile(r"[^a-z0-9]+"), "original": re.compile(r"[^a-z]+")}
_SWAP_TRIES = 3     # the original's redraws of a swap's second position


@dataclass(frozen=True)
class EdaConfig:
    alpha: float = 0.1          # edit rate of every operation
    style: str = "ours"         # "ours" | "original" (the official code; see the module docstring)


def make_eda(cfg: EdaConfig, wordnet) -> Callable[[str, random.Random], str]:
    """The training pipeline's text function `fn(caption, rng)` in `cfg`'s style (picklable for workers).

    wordnet: a `mals_gen.wordnet.WordNet`; its synonyms follow the same style.
    """
    check_style(cfg.style)
    synonyms = functools.partial(wordnet.synonyms, style=cfg.style)
    return functools.partial(_eda_call, synonyms=synonyms, alpha=cfg.alpha, style=cfg.style)


def _eda_call(text: str, rng: random.Random, *, synonyms: Synonyms, alpha: float, style: str) -> str:
    return eda(text, synonyms, rng, alpha, style)


def check_style(style: str, key: str = "eda style") -> str:
    if style not in STYLES:
        raise UserError(f"{key} {style!r} is unknown; choose one of {', '.join(STYLES)}")
    return style


def clean_words(text: str, style: str = "ours") -> list[str]:
    """Lower-case words of `text`: apostrophes dropped, other non-word characters become spaces."""
    text = text.lower().replace("'", "").replace("\u2019", "")
    return _NOT_WORD[style].sub(" ", text).split()


def synonym_replacement(words: list[str], n: int, synonyms: Synonyms, rng: random.Random) -> list[str]:
    out = list(words)
    candidates = sorted({w for w in words if w not in STOP_WORDS})
    rng.shuffle(candidates)
    replaced = 0
    for word in candidates:
        options = synonyms(word)
        if options:
            choice = rng.choice(options)
            out = [choice if w == word else w for w in out]
            replaced += 1
        if replaced >= n:
            break
    return " ".join(out).split()  # multiword synonyms become several words


def random_insertion(words: list[str], n: int, synonyms: Synonyms, rng: random.Random,
                     style: str = "ours") -> list[str]:
    out = list(words)
    for _ in range(n):
        for _attempt in range(10):  # a few tries to find a word that has a synonym
            options = synonyms(rng.choice(out)) if out else ()
            if options:
                if style == "original":     # the first synonym, never after the last word
                    out.insert(rng.randint(0, len(out) - 1), options[0])
                else:
                    out.insert(rng.randint(0, len(out)), rng.choice(options))
                break
    return " ".join(out).split()


def _second_position(i: int, n: int, rng: random.Random, style: str) -> int | None:
    """A swap partner for position i among n >= 2, or None where the original gives up."""
    if style == "ours":
        j = rng.randrange(n - 1)
        return j + (j >= i)
    for _ in range(_SWAP_TRIES):
        j = rng.randrange(n)
        if j != i:
            return j
    return None


def random_swap(words: list[str], n: int, rng: random.Random, style: str = "ours") -> list[str]:
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(n):
        i = rng.randrange(len(out))
        j = _second_position(i, len(out), rng, style)
        if j is not None:
            out[i], out[j] = out[j], out[i]
    return out


def random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    if len(words) <= 1:
        return list(words)
    kept = [w for w in words if rng.random() > p]
    return kept or [rng.choice(words)]  # never return an empty caption


def eda(text: str, synonyms: Synonyms, rng: random.Random, alpha: float = 0.1, style: str = "ours") -> str:
    """One EDA copy of `text`: one of the four operations, chosen uniformly."""
    words = clean_words(text, check_style(style))
    if not words:
        return text
    n = max(1, int(alpha * len(words)))
    op = rng.randrange(4)
    if op == 0:
        out = synonym_replacement(words, n, synonyms, rng)
    elif op == 1:
        out = random_insertion(words, n, synonyms, rng, style)
    elif op == 2:
        out = random_swap(words, n, rng, style)
    else:
        out = random_deletion(words, alpha, rng)
    return " ".join(out)
