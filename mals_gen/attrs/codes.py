"""The lexicon compiled to small ints, and batch tokenisation straight to those ints.

`lexicon.LEX` maps words to (kind, payload); the miner's inner loop wants neither strings nor
tuples, so every word gets an int code and every payload a flat table indexed by code (`KIND`,
`CBIT`, `NCLS`, ...). Label evidence is packed into one int per strength: slot s, value v is bit
`2 * s + v` (`bit(s, v)`), so a noun's implications are one precomputed OR.

`batch_codes(texts)` gives the token codes of many captions from a handful of C-level calls:
one `lower()` and one `split()` over the joined batch, a memo from whitespace chunk ("shirt,")
to its codes, and a numpy pass that finds the few places where a multi-word term ("t shirt",
"on his back") may start. The result is exactly `lexicon.tokenize` of each caption, as codes.
"""
from __future__ import annotations

from itertools import chain

import numpy as np

from . import lexicon as L

UNK = 0  # kind of words the lexicon does not know (also the caption separator)
SEP_CHAR = "\x00"
_MEMO_LIMIT = 2_000_000  # distinct whitespace chunks remembered (bounded memory on odd input)


def bit(slot: int, value: int) -> int:
    """The evidence bit for "slot has label value" (value 0 or 1)."""
    return 1 << (2 * slot + value)


# --- codes -------------------------------------------------------------------------------------
# Code 0: unknown word. Then the separator, the lexicon words, then words that only occur inside
# multi-word terms ("t", "tank", "pack"): they behave as unknown words unless the term matches.
WORDS: list[str] = ["", SEP_CHAR, *L.LEX]
for _phrase, _repl in L.PHRASES.items():
    for _w in (*_phrase.split(), *_repl.split()):
        if _w not in L.LEX and _w not in WORDS:
            WORDS.append(_w)
CODE = {w: i for i, w in enumerate(WORDS)}
SEP = CODE[SEP_CHAR]
N_CODES = len(WORDS)

CANON = sorted({c for c in L._COLOUR_WORDS.values()})
CANON_BIT = {c: 1 << i for i, c in enumerate(CANON)}

KIND = [UNK] * N_CODES
CBIT = [0] * N_CODES  # COLOUR: bit of the canonical colour
PV = [-1] * N_CODES  # LEN: length value; PATTERN: 1 stripes-like, 2 decoration
GBIT = [0] * N_CODES  # DET / PRON / PERSON: gender and age evidence bits
NCLS = [-1] * N_CODES  # NOUN: noun class
NLEM: list[str | None] = [None] * N_CODES  # garment lemma
GEX = [0] * N_CODES  # garment: explicit evidence bits it implies
GIM = [0] * N_CODES  # garment: implied evidence bits
GSKIRT = [False] * N_CODES  # garment makes leggings "under a skirt" (skirt, dress, shorts)
GLEG = [False] * N_CODES  # leggings / tights / stockings
for _w, (_kind, _p) in L.LEX.items():
    _c = CODE[_w]
    KIND[_c] = _kind
    if _kind == L.COLOUR:
        CBIT[_c] = CANON_BIT[_p]
    elif _kind in (L.LEN, L.PATTERN):
        PV[_c] = _p
    elif _kind in (L.DET, L.PRON) and _p is not None:
        GBIT[_c] = bit(L.G, _p)
    elif _kind == L.NOUN:
        _cls, _lemma, _extra = _p
        NCLS[_c] = _cls
        if _cls == L.PERSON:
            _g, _a = _extra
            GBIT[_c] = (bit(L.G, _g) if _g is not None else 0) | (bit(L.AGE, _a) if _a is not None else 0)
        elif _cls in L.GARMENTS:
            NLEM[_c] = _lemma
            if _extra == "legwear":
                GLEG[_c] = True
            else:
                for _slot, _val, _explicit in _extra:
                    if _explicit:
                        GEX[_c] |= bit(_slot, _val)
                    else:
                        GIM[_c] |= bit(_slot, _val)
                    if _slot == L.LTYPE and _val == L.SKIRT_TYPE or _lemma == "shorts":
                        GSKIRT[_c] = True

ONBACK = CODE["onback"]
NOTHING = CODE["nothing"]
# What a conjunction sees next: 0 a modifier (the phrase goes on), 1 nothing known or a clause
# verb (negation ends), 2 anything else.
NEXTC = [2] * N_CODES
for _c in range(N_CODES):
    if KIND[_c] in (L.COLOUR, L.TONE, L.LEN, L.PATTERN):
        NEXTC[_c] = 0
    elif KIND[_c] in (UNK, L.WEARV, L.CARRYV, L.PRON, L.STOP):
        NEXTC[_c] = 1
UPPER_NOUN = [KIND[_c] == L.NOUN and NCLS[_c] == L.UPPER for _c in range(N_CODES)]


# --- whitespace chunk -> codes -----------------------------------------------------------------
class _ChunkCodes(dict):
    """Memo: lowercased whitespace-free chunk ("shirt," or "t-shirt") -> its token codes."""

    def __missing__(self, chunk: str) -> tuple[int, ...]:
        codes = tuple(CODE.get(t, UNK) for t in _TOKEN_RE.findall(chunk))
        if len(self) < _MEMO_LIMIT:
            self[chunk] = codes
        return codes


_TOKEN_RE = __import__("re").compile(L.TOKEN_RE.pattern + "|" + SEP_CHAR)
_CHUNKS = _ChunkCodes()


# --- multi-word terms in code space ------------------------------------------------------------
def _phrase_tables():
    """first code -> [(rest codes, replacement codes)] longest first, and a (first, second) filter."""
    table: dict[int, list[tuple[list[int], list[int]]]] = {}
    for phrase, repl in sorted(L.PHRASES.items(), key=lambda kv: -len(kv[0].split())):
        first, *rest = phrase.split()
        table.setdefault(CODE[first], []).append(([CODE[w] for w in rest], [CODE[w] for w in repl.split()]))
    firsts = sorted(table)
    first_idx = np.full(N_CODES, -1, dtype=np.int64)
    first_idx[firsts] = np.arange(len(firsts))
    pair = np.zeros((len(firsts) + 1, N_CODES), dtype=bool)  # last row: "not a first word"
    for code, options in table.items():
        for rest, _ in options:
            pair[first_idx[code], rest[0]] = True
    first_idx[first_idx < 0] = len(firsts)
    return table, first_idx, pair


_PHRASES, _FIRST_IDX, _PAIR = _phrase_tables()


def _join_phrases(codes: list[int]) -> list[int]:
    """Replace multi-word terms, left to right, longest first (as `lexicon.tokenize` does)."""
    arr = np.fromiter(codes, dtype=np.int64, count=len(codes))
    # (first word, second word) of some term: the only places worth a look. The batch ends with
    # SEP, which starts no term, so `pos + 1` stays inside.
    pos = np.flatnonzero(_PAIR[_FIRST_IDX[arr[:-1]], arr[1:]]).tolist()
    if not pos:
        return codes
    pieces: list[list[int]] = []
    done = 0  # codes before this index are emitted or consumed
    for p in pos:
        if p < done:
            continue  # inside a term already joined
        for rest, repl in _PHRASES[codes[p]]:
            end = p + 1 + len(rest)
            if codes[p + 1:end] == rest:
                pieces.append(codes[done:p])
                pieces.append(repl)
                done = end
                break
    if not pieces:
        return codes
    pieces.append(codes[done:])
    return list(chain.from_iterable(pieces))


def batch_codes(texts: list[str]) -> list[int] | None:
    """Token codes of all `texts`, each caption followed by SEP; None if a text holds SEP_CHAR."""
    joined = f" {SEP_CHAR} ".join(texts)
    if joined.count(SEP_CHAR) != len(texts) - 1:
        return None
    chunks = (joined + " " + SEP_CHAR).lower().split()
    codes = list(chain.from_iterable(map(_CHUNKS.__getitem__, chunks)))
    return _join_phrases(codes)


def text_codes(text: str) -> list[int]:
    """Codes of one caption followed by SEP, for any text (SEP_CHAR inside is just a separator)."""
    codes = [CODE.get(t, UNK) for t in L.TOKEN_RE.findall(text.lower())]
    codes.append(SEP)
    return _join_phrases(codes)
