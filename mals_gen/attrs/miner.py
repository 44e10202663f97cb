"""Rule-based miner of the 27 MALS attributes from one caption.

One left-to-right pass over the tokens (`lexicon.tokenize`). Modifiers (colours, tones, "long" /
"short", patterns) wait in a pending phrase until the next noun takes them ("a red and white
striped shirt"); a phrase that meets a stop word first binds back to the noun it describes
("a shirt that is red") or, after "wearing" / "dressed in", to the whole outfit. Nouns give
evidence: explicit (the words say it) beats implied (t-shirt -> short sleeves); contradicting
evidence of the same strength leaves the slot at -1. Negation ("without a hat", "not carrying a
bag") flips presence slots. A garment group (upper / lower) whose every named garment has a
stated colour gets "does not wear" for all its other listed colours.

Output: 27 int8 slots in `contract.MALS_ATTRIBUTE_NAMES` order, 0/1 as in spec/attributes.md,
-1 where the text does not decide. `mine_many` caches identical captions.
"""
from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from ..contract import ATTR, NUM_MALS_ATTRIBUTES
from . import lexicon as L

RULES_VERSION = "rules-v1"
_LEX = L.LEX
_MODIFIERS = (L.COLOUR, L.TONE, L.LEN, L.PATTERN)
_CLAUSE_VERBS = (L.WEARV, L.CARRYV, L.PRON, L.STOP)
_ACCESSORY = {L.HAT: ATTR["hat"], L.BACKPACK: ATTR["backpack"], L.HANDBAG: ATTR["handbag"],
              L.BAG: ATTR["bag"]}
_BAG_SLOTS = (ATTR["backpack"], ATTR["handbag"], ATTR["bag"])
_RECENT = 8  # a detail ("with a logo") belongs to a garment named at most this many tokens before


class _Miner:
    """State of one pass; `run` returns the 27 labels as a list of ints."""

    __slots__ = (
        "cctx",
        "ex",
        "gap",
        "garments",
        "im",
        "last",
        "last_neg",
        "lastg",
        "lastg_i",
        "legwear",
        "link",
        "neg",
        "neg_acc",
        "octx",
        "outfit",
        "pback",
        "pc",
        "plen",
        "pneg",
        "pout",
        "ppat",
        "pstart",
        "ptone",
        "skirtlike",
        "toks",
    )

    def __init__(self, toks: list[str]):
        self.toks = toks
        self.ex = [0] * NUM_MALS_ATTRIBUTES  # bit 1: evidence for label 0, bit 2: for label 1
        self.im = [0] * NUM_MALS_ATTRIBUTES
        self.garments: dict[str, list] = {}  # lemma -> [class, colour set, uncertain]
        self.outfit: set[str] = set()
        self.legwear = self.skirtlike = False
        self.pc: list[str] = []
        self.ptone = False
        self.plen = self.pback = None
        self.ppat = 0
        self.pout = self.pneg = self.pstart = False
        self.gap = 0
        self.last = None  # (class, garment record or None) of the last noun
        self.link = self.octx = self.cctx = False
        self.neg = 0
        self.neg_acc = self.last_neg = False
        self.lastg = None
        self.lastg_i = -99

    # -- pending modifiers -------------------------------------------------------------------
    def _start(self) -> None:
        if not self.pstart:
            self.pstart = True
            self.pback = self.last if self.link else None
            self.pout = self.octx
            self.pneg = self.neg > 0

    def _clear(self) -> None:
        self.pc = []
        self.ptone = self.pstart = False
        self.plen = self.pback = None
        self.ppat = 0

    def _flush(self) -> None:
        """The pending phrase met no noun: bind it back ("shirt that is red") or to the outfit."""
        if not self.pstart:
            return
        back = self.pback
        if not self.pneg and back is not None:
            cls, rec = back
            if rec is not None:
                rec[1].update(self.pc)
                if cls in (L.LOWER, L.DRESS) and self.plen in (L.LEN_LONG, L.LEN_SHORT):
                    self.ex[L.LLEN] |= 1 << self.plen
            elif cls == L.HAIR and self.plen in (L.LEN_LONG, L.LEN_SHORT):
                self.ex[L.HAIR_S] |= 1 << (1 - self.plen)
            elif cls == L.SLEEVE and self.plen in (L.LEN_LONG, L.LEN_SHORT):
                self.ex[L.SLV] |= 1 << self.plen
            elif cls == L.PERSON and self.pout:
                self.outfit.update(self.pc)
        elif not self.pneg and self.pout:
            self.outfit.update(self.pc)
        self._clear()

    # -- nouns -------------------------------------------------------------------------------
    def _garment(self, cls: int, lemma: str, impl, i: int) -> None:
        rec = self.garments.get(lemma)
        if rec is None:
            rec = self.garments[lemma] = [cls, set(), False]
        if self.pc:
            rec[1].update(self.pc)
        elif self.ptone:
            rec[2] = True  # "dark pants": described, colour unknown
        if self.ppat == 2 or (self.ppat == 1 and len(set(self.pc)) < 2):
            rec[2] = True
        if impl == "legwear":
            self.legwear = True
        else:
            for slot, val, explicit in impl:
                (self.ex if explicit else self.im)[slot] |= 1 << val
                if slot == L.LTYPE and val == L.SKIRT_TYPE or lemma == "shorts":
                    self.skirtlike = True
        if cls in (L.LOWER, L.DRESS) and self.plen in (L.LEN_LONG, L.LEN_SHORT):
            self.ex[L.LLEN] |= 1 << self.plen
        self.lastg, self.lastg_i = rec, i

    def _noun(self, cls: int, lemma: str, extra, i: int) -> bool:
        """Apply one noun; returns False when it leaves the pending phrase to a following noun."""
        negated = self.neg > 0
        ex = self.ex
        if cls == L.PERSON:
            if not negated:
                gender, age = extra
                if gender is not None:
                    ex[L.G] |= 1 << gender
                if age is not None:
                    ex[L.AGE] |= 1 << age
        elif cls in L.GARMENTS:
            if negated and not self.neg_acc:
                pass
            elif not self.cctx:
                self._garment(cls, lemma, extra, i)
        elif cls in _ACCESSORY:
            slot = _ACCESSORY[cls]
            if cls == L.BAG and i + 1 < len(self.toks) and self.toks[i + 1] == "onback":
                slot = ATTR["backpack"]
            ex[slot] |= 2 if negated else 1
        elif cls == L.SLEEVE:
            nxt = _LEX.get(self.toks[i + 1]) if i + 1 < len(self.toks) else None
            if negated:
                ex[L.SLV] |= 1 << L.SHORT_SLEEVE
            elif self.plen in (L.LEN_LONG, L.LEN_SHORT):
                ex[L.SLV] |= 1 << self.plen
            self.plen = None
            if nxt is not None and nxt[0] == L.NOUN and nxt[1][0] == L.UPPER:
                return False  # "short sleeve shirt": the colours belong to the shirt
            if self.pc and self.lastg is not None and self.lastg[0] == L.UPPER:
                self.lastg[1].update(self.pc)
        elif cls == L.HAIR:
            if self.plen in (L.LEN_LONG, L.LEN_SHORT):
                ex[L.HAIR_S] |= 1 << (1 - self.plen)
        elif cls == L.HAIRLONG:
            self.im[L.HAIR_S] |= 1 << L.LONG_HAIR
        elif cls == L.BALD:
            ex[L.HAIR_S] |= 1 << L.SHORT_HAIR
        elif cls == L.BAREHEAD:
            ex[ATTR["hat"]] |= 1 << 1
        else:
            self._detail(cls, negated, i)
        self.last_neg = negated
        return True

    def _detail(self, cls: int, negated: bool, i: int) -> None:
        rec = self.lastg if i - self.lastg_i <= _RECENT else None
        if cls == L.DETAIL and rec is not None:
            rec[2] = True  # "with a logo": colours the text does not name
        elif cls == L.STRIPES and rec is not None:
            if self.pc:
                rec[1].update(self.pc)
            else:
                rec[2] = True
        elif cls == L.ANYTHING and self.cctx and (negated or self.toks[i] == "nothing"):
            for slot in _BAG_SLOTS:
                self.ex[slot] |= 2

    # -- the pass ----------------------------------------------------------------------------
    def run(self) -> list[int]:
        toks = self.toks
        get = _LEX.get
        n = len(toks)
        for i in range(n):
            if self.neg:
                self.neg -= 1
            entry = get(toks[i])
            if entry is None:
                self.gap += 1
                self.link = self.octx = False
                if self.pstart and self.gap > 3:
                    self._flush()
                continue
            kind, p = entry
            if kind == L.COLOUR:
                self._start()
                self.pc.append(p)
            elif kind == L.NOUN:
                if self._noun(p[0], p[1], p[2], i):
                    self._clear()
                    self.last = (p[0], self.garments.get(p[1]) if p[0] in L.GARMENTS else None)
                    self.link = True
                    self.gap = 0
            elif kind in (L.AND, L.COMMA):
                self._conjunction(kind, toks, i, n)
            elif kind in (L.TONE, L.LEN, L.PATTERN):
                self._start()
                if kind == L.TONE:
                    self.ptone = True
                elif kind == L.LEN:
                    self.plen = p
                else:
                    self.ppat = max(self.ppat, p)
            elif kind == L.SKIP:
                continue
            elif kind == L.SLEEVED:
                if self.plen in (L.LEN_LONG, L.LEN_SHORT):
                    self.ex[L.SLV] |= 1 << self.plen
                self.plen = None
            elif kind == L.SLEEVELESS:
                self.ex[L.SLV] |= 1 << L.SHORT_SLEEVE
            else:
                self._other(kind, p)
        self._flush()
        return self._finish()

    def _conjunction(self, kind: int, toks: list[str], i: int, n: int) -> None:
        nxt = _LEX.get(toks[i + 1]) if i + 1 < n else None
        if nxt is not None and nxt[0] in _MODIFIERS:
            return  # "red and white", "red, white and blue": the phrase goes on
        self._flush()
        if kind == L.COMMA or nxt is None or nxt[0] in _CLAUSE_VERBS:
            self.neg = 0
        elif self.last_neg and kind == L.AND:
            self.neg_acc = True  # "no hat and a red shirt": only accessories stay negated
        self.link = False

    def _other(self, kind: int, p) -> None:
        self._flush()
        if kind == L.LINK:
            return  # keeps the backward link: "shirt that is red"
        if kind == L.IN:
            self.octx = True
            return
        self.link = False
        if kind == L.WEARV:
            self.octx, self.cctx = True, False
        elif kind == L.CARRYV:
            self.octx, self.cctx = False, True
        elif kind == L.NEG:
            self.neg, self.neg_acc = 7, False
        elif kind == L.DET:
            if p is not None:
                self.ex[L.G] |= 1 << p
        elif kind == L.PRON:
            self.ex[L.G] |= 1 << p
            self.octx = self.cctx = False
        elif kind in (L.END, L.BOUND):
            self.neg = 0
            self.octx = self.cctx = False
            if kind == L.END:
                self.last = None
        else:  # STOP
            self.octx = False

    # -- final labels ------------------------------------------------------------------------
    def _finish(self) -> list[int]:
        ex, im = self.ex, self.im
        if self.legwear and not self.skirtlike:
            im[L.LTYPE] |= 1 << L.PANTS_TYPE
            im[L.LLEN] |= 1 << L.LONG_LOWER
        out = [-1] * NUM_MALS_ATTRIBUTES
        for s in range(10):
            e = ex[s] or im[s]
            if e == 1:
                out[s] = 0
            elif e == 2:
                out[s] = 1
        if self.garments or self.outfit:
            self._colours(out)
        return out

    def _colours(self, out: list[int]) -> None:
        recs = self.garments.values()
        uppers = [r for r in recs if r[0] == L.UPPER]
        dresses = [r for r in recs if r[0] == L.DRESS]
        # "a black and white outfit" does not say which part is which: only one colour binds.
        both = [r if len(r[1]) < 2 else [L.BOTH, set(), True] for r in recs if r[0] == L.BOTH]
        lowers = [r for lemma, r in self.garments.items() if r[0] == L.LOWER
                  and not (self.skirtlike and lemma in L.LEGWEAR)]
        # Tights under a skirt: their colour is not "the lower clothes' colour", nor excluded.
        legwear = set() if not self.skirtlike else {
            L.LOWER_RES[c][0] for lemma in L.LEGWEAR if lemma in self.garments
            for c in self.garments[lemma][1]}
        upper = uppers + both + (dresses if not uppers else [])
        lower = lowers + dresses + both
        _group_colours(out, upper, L.UPPER_RES, L.UPPER_SLOTS, self.outfit, set(),
                       exclusive_ok=not (uppers and dresses))
        _group_colours(out, lower, L.LOWER_RES, L.LOWER_SLOTS, self.outfit, legwear, exclusive_ok=True)


def _group_colours(out, recs, res, slots, outfit, near: set, exclusive_ok: bool) -> None:
    """Set the colour slots of one garment group; see the module docstring for the rule."""
    present: set[int] = set()
    for rec in recs:
        for colour in rec[1]:
            slot, close = res[colour]
            if slot is not None:
                present.add(slot)
            else:
                near.update(close)
    if not any(rec[1] for rec in recs) and len(outfit) == 1:
        slot = res[next(iter(outfit))][0]
        if slot is not None:
            out[slot] = 0
        return
    for slot in present:
        out[slot] = 0
    if (exclusive_ok and recs and all(rec[1] and not rec[2] and rec[0] != L.BOTH for rec in recs)):
        for slot in slots:
            if slot not in present and slot not in near:
                out[slot] = 1


def mine_attributes(text: str) -> np.ndarray:
    """The 27 labels (int8: 0, 1 or -1) that `text` decides."""
    return np.asarray(_mine_list(text), dtype=np.int8)


def _mine_list(text: str) -> list[int]:
    if not text:
        return [-1] * NUM_MALS_ATTRIBUTES
    return _Miner(L.tokenize(text)).run()


def mine_many(texts: Iterable[str]) -> np.ndarray:
    """(N, 27) int8 labels; identical captions are mined once (BLIP repeats itself a lot)."""
    cache: dict[str, bytes] = {}
    rows = []
    for text in texts:
        text = text or ""
        row = cache.get(text)
        if row is None:
            row = cache[text] = bytes(v & 0xFF for v in _mine_list(text))
        rows.append(row)
    if not rows:
        return np.zeros((0, NUM_MALS_ATTRIBUTES), dtype=np.int8)
    return np.frombuffer(b"".join(rows), dtype=np.int8).reshape(len(rows), NUM_MALS_ATTRIBUTES).copy()
