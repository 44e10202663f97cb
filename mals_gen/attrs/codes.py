"""The lexicon compiled to small ints, and batch tokenisation straight to those ints.

`lexicon.LEX` maps words to (kind, payload); the miner's inner loop wants neither strings nor
tuples, so every word gets an int code and every payload a flat table indexed by code (`KIND`,
`CBIT`, `NCLS`, ...). Label evidence is packed into one int per strength: slot s, value v is bit
`2 * s + v` (`bit(s, v)`), so a noun's implications are one precomputed OR.

`batch_codes(texts)` gives the token codes of many captions from a handful of C-level calls
over the joined batch (ASCII: translate, split, a memo from token to code). Multi-word terms
("t shirt", "on his back") are joined in code space by `resolve`, which the miner calls where a
term can start; together this is exactly `lexicon.tokenize`, as codes.
"""
from __future__ import annotations

import re
from itertools import chain

from . import lexicon as L

UNK = 0  # kind of words the lexicon does not know (also the caption separator)
SEP_CHAR = "\x00"
_MEMO_LIMIT = 300_000  # distinct tokens / chunks remembered (a few tens of MB at most)


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


# --- tokenising a batch --------------------------------------------------------------------------
class _Memo(dict):
    """token or whitespace chunk -> code(s); unknown keys are worked out once and remembered."""

    def __init__(self, initial: dict, compute):
        super().__init__(initial)
        self._compute = compute

    def __missing__(self, key):
        value = self._compute(key)
        if len(self) < _MEMO_LIMIT:
            self[key] = value
        return value


_TOKEN_RE = re.compile(L.TOKEN_RE.pattern + "|" + SEP_CHAR)
# str path (any text): whitespace chunk ("shirt," / "t-shirt") -> tuple of codes
_CHUNKS = _Memo({}, lambda chunk: tuple(CODE.get(t, UNK) for t in _TOKEN_RE.findall(chunk)))
# ASCII path: one byte token -> code
_BYTE_CODES = _Memo({w.encode(): c for w, c in CODE.items()}, lambda token: UNK)
_PUNCT = [bytes([ch]) for ch in b".,;:!?()&"]
# bytes.translate table: A-Z -> a-z, token characters kept, everything else a space.
_TABLE = bytearray(b" " * 256)
for _ch in range(ord("a"), ord("z") + 1):
    _TABLE[_ch] = _TABLE[_ch - 32] = _ch
for _ch in b".,;:!?()&" + SEP_CHAR.encode():
    _TABLE[_ch] = _ch
_TABLE = bytes(_TABLE)


def batch_codes(texts: list[str]) -> list[int] | None:
    """Raw token codes of all `texts`, each followed by SEP; None if a text holds SEP_CHAR.

    Multi-word terms are not joined here: the miner joins them as it meets them (`resolve`)."""
    joined = f" {SEP_CHAR} ".join(texts) + f" {SEP_CHAR}"
    if joined.count(SEP_CHAR) != len(texts):
        return None
    if joined.isascii():  # the common case: bytes ops, every split token is one token
        data = joined.encode("ascii").translate(_TABLE)
        for p in _PUNCT:
            if p in data:
                data = data.replace(p, b" " + p + b" ")
        return list(map(_BYTE_CODES.__getitem__, data.split()))
    return list(chain.from_iterable(map(_CHUNKS.__getitem__, joined.lower().split())))


def text_codes(text: str) -> list[int]:
    """Raw codes of one caption followed by SEP, for any text (SEP_CHAR inside is a separator)."""
    codes = [CODE.get(t, UNK) for t in L.TOKEN_RE.findall(text.lower())]
    codes.append(SEP)
    return codes


# --- multi-word terms in code space ------------------------------------------------------------
def _phrase_tables():
    """first code -> [(rest codes, replacement codes)] longest first; (first, second) pairs."""
    table: dict[int, list[tuple[list[int], list[int]]]] = {}
    for phrase, repl in sorted(L.PHRASES.items(), key=lambda kv: -len(kv[0].split())):
        first, *rest = phrase.split()
        table.setdefault(CODE[first], []).append(([CODE[w] for w in rest], [CODE[w] for w in repl.split()]))
    # The miner's loop looks for terms at every token it visits; `tokenize` never rescans a
    # replacement, so a replacement's later tokens must not start a term.
    assert not any(CODE[w] in table for r in L.PHRASES.values() for w in r.split()[1:])
    pairs = {first * N_CODES + rest[0] for first, options in table.items() for rest, _ in options}
    return table, [c in table for c in range(N_CODES)], pairs


PHRASES, PHRASE_FIRST, PHRASE_PAIRS = _phrase_tables()


def resolve(cc: list[int], j: int) -> int:
    """Join the multi-word term starting at cc[j], if any, in place; return the code now at j.

    Same rule as `lexicon.tokenize`: longest term first; the replacement is not rescanned, but a
    term replaced by nothing ("button up") lets the next token start one."""
    c = cc[j]
    while PHRASE_FIRST[c]:
        for rest, repl in PHRASES[c]:
            end = j + 1 + len(rest)
            if cc[j + 1:end] == rest:
                cc[j:end] = repl
                break
        else:
            return c
        if repl:
            return repl[0]
        c = cc[j]
    return c


def peek(cc: list[int], j: int) -> int:
    """The code `resolve(cc, j)` will leave at j, without changing cc (for look-aheads)."""
    c = cc[j]
    while PHRASE_FIRST[c]:
        for rest, repl in PHRASES[c]:
            end = j + 1 + len(rest)
            if cc[j + 1:end] == rest:
                break
        else:
            return c
        if repl:
            return repl[0]
        j = end
        c = cc[j]
    return c
