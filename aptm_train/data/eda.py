"""EDA (Wei & Zou 2019) caption augmentation for fine-tuning: one of four word-level edits.

APTM's fine-tuning adds ITC and ITM on an EDA copy of each caption: one operation picked at
random among synonym replacement, random insertion (a synonym of a random word at a random
place), random swap and random deletion, each at rate alpha = 0.1 (n = max(1, alpha * words)
edits; deletion drops each word with probability alpha). Synonyms come from WordNet
(`aptm_train.data.wordnet`); stop words are never replaced. Every call takes its own
`random.Random`, so an augmentation is reproducible from the pair's seed.
"""
from __future__ import annotations

import random
import re
from collections.abc import Callable

# A common English stop-word list (function words that carry no attribute information).
STOP_WORDS = frozenset(["a", "about", "above", "after", "again", "against", "all", "am", "an", "and", "any", "are", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by", "can", "did", "do", "does", "doing", "down", "during", "each", "few", "for", "from", "further", "had", "has", "have", "having", "he", "her", "here", "hers", "herself", "him", "himself", "his", "how", "i", "if", "in", "into", "is", "it", "its", "itself", "just", "me", "more", "most", "my", "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "only", "or", "other", "our", "ours", "ourselves", "out", "over", "own", "same", "she", "should", "so", "some", "such", "than", "that", "the", "their", "theirs", "them", "themselves", "then", "there", "these", "they", "this", "those", "through", "to", "too", "under", "until", "up", "very", "was", "we", "were", "what", "when", "where", "which", "while", "who", "whom", "why", "will", "with", "you", "your", "yours", "yourself", "yourselves"])

Synonyms = Callable[[str], tuple[str, ...]]
_CLEAN = re.compile(r"[^a-z0-9 ]+")


def clean_words(text: str) -> list[str]:
    """Lower-case words of `text`, punctuation removed (EDA works on plain words)."""
    return _CLEAN.sub(" ", text.lower().replace("-", " ")).split()


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


def random_insertion(words: list[str], n: int, synonyms: Synonyms, rng: random.Random) -> list[str]:
    out = list(words)
    for _ in range(n):
        for _attempt in range(10):  # a few tries to find a word that has a synonym
            options = synonyms(rng.choice(out)) if out else ()
            if options:
                out.insert(rng.randint(0, len(out)), rng.choice(options))
                break
    return " ".join(out).split()


def random_swap(words: list[str], n: int, rng: random.Random) -> list[str]:
    out = list(words)
    if len(out) < 2:
        return out
    for _ in range(n):
        i, j = rng.randrange(len(out)), rng.randrange(len(out))
        out[i], out[j] = out[j], out[i]
    return out


def random_deletion(words: list[str], p: float, rng: random.Random) -> list[str]:
    if len(words) <= 1:
        return list(words)
    kept = [w for w in words if rng.random() > p]
    return kept or [rng.choice(words)]  # never return an empty caption


def eda(text: str, synonyms: Synonyms, rng: random.Random, alpha: float = 0.1) -> str:
    """One EDA copy of `text`: one of the four operations, chosen uniformly."""
    words = clean_words(text)
    if not words:
        return text
    n = max(1, int(alpha * len(words)))
    op = rng.randrange(4)
    if op == 0:
        out = synonym_replacement(words, n, synonyms, rng)
    elif op == 1:
        out = random_insertion(words, n, synonyms, rng)
    elif op == 2:
        out = random_swap(words, n, rng)
    else:
        out = random_deletion(words, alpha, rng)
    return " ".join(out)
