"""Rule-based miner of the 27 MALS attributes from captions.

One left-to-right pass over the token codes of a caption (`codes.py`). Modifiers (colours, tones,
"long" / "short", patterns) wait in a pending phrase until the next noun takes them ("a red and
white striped shirt"); a phrase that meets a stop word first binds back to the noun it describes
("a shirt that is red") or, after "wearing" / "dressed in", to the whole outfit. Nouns give
evidence: explicit (the words say it) beats implied (t-shirt -> short sleeves); contradicting
evidence of the same strength leaves the slot at -1. Negation ("without a hat", "not carrying a
bag") flips presence slots for the next six tokens of its clause. A garment group (upper / lower)
whose every named garment has a stated colour gets "does not wear" for all its other listed
colours (`labels.py`).

Output: 27 int8 slots in `contract.MALS_ATTRIBUTE_NAMES` order, 0/1 as in docs/attributes.md,
-1 where the text does not decide.

Speed (the stage labels millions of captions on one core): the batch is tokenised by a few
C-level calls into int codes, and the pass is one flat function over locals and lookup tables
(no per-token objects or method calls); identical captions are mined once per call.
"""
from __future__ import annotations

import gc
from collections.abc import Iterable

import numpy as np

from ..contract import NUM_MALS_ATTRIBUTES
from . import codes as C
from . import lexicon as L
from .labels import finish

RULES_VERSION = "rules-v1"
_BATCH = 2048  # captions tokenised together: large enough to amortise, small enough for cache
_RECENT = 8  # a detail ("with a logo") belongs to a garment named at most this many tokens before
_NEG_SPAN = 7  # a negation covers the tokens up to this many positions after it

KIND, CBIT, PV, GBIT, NCLS, NLEM = C.KIND, C.CBIT, C.PV, C.GBIT, C.NCLS, C.NLEM
GEX, GIM, GSKIRT, GLEG, NEXTC, UPPER_NOUN = C.GEX, C.GIM, C.GSKIRT, C.GLEG, C.NEXTC, C.UPPER_NOUN
PHRASE_FIRST, PHRASE_PAIRS, N_CODES, resolve = C.PHRASE_FIRST, C.PHRASE_PAIRS, C.N_CODES, C.resolve
(UNK, COLOUR, TONE, LEN, PATTERN, SLEEVED, SLEEVELESS, NOUN, AND, LINK, SKIP, WEARV, CARRYV, NEG, END,
 STOP, DET, PRON, BOUND, COMMA, IN) = (C.UNK, L.COLOUR, L.TONE, L.LEN, L.PATTERN, L.SLEEVED, L.SLEEVELESS,
                                      L.NOUN, L.AND, L.LINK, L.SKIP, L.WEARV, L.CARRYV, L.NEG, L.END, L.STOP,
                                      L.DET, L.PRON, L.BOUND, L.COMMA, L.IN)
PERSON, HAIR, UPPER, LOWER, DRESS, SLEEVE = L.PERSON, L.HAIR, L.UPPER, L.LOWER, L.DRESS, L.SLEEVE
FIRST_GARMENT, LAST_GARMENT = min(L.GARMENTS), max(L.GARMENTS)
assert set(range(FIRST_GARMENT, LAST_GARMENT + 1)) == set(L.GARMENTS)
# Accessory class -> (evidence bit "present", bit "absent"); a bag "on his back" is a backpack.
_ACC = {L.HAT: "hat", L.BACKPACK: "backpack", L.HANDBAG: "handbag", L.BAG: "bag"}
_ACC_BITS = {cls: (C.bit(L.ATTR[name], 0), C.bit(L.ATTR[name], 1)) for cls, name in _ACC.items()}
_BACKPACK_BITS = _ACC_BITS[L.BACKPACK]
_NO_BAGS = C.bit(L.ATTR["backpack"], 1) | C.bit(L.ATTR["handbag"], 1) | C.bit(L.ATTR["bag"], 1)
_SLV = (C.bit(L.SLV, L.LONG_SLEEVE), C.bit(L.SLV, L.SHORT_SLEEVE))
_LLEN = (C.bit(L.LLEN, L.LONG_LOWER), C.bit(L.LLEN, L.SHORT_LOWER))
_HAIR_BY_LEN = (C.bit(L.HAIR_S, L.LONG_HAIR), C.bit(L.HAIR_S, L.SHORT_HAIR))  # long -> long hair
_HAIR_LONG_IM = C.bit(L.HAIR_S, L.LONG_HAIR)
_HAIR_SHORT = C.bit(L.HAIR_S, L.SHORT_HAIR)
_NO_HAT = C.bit(L.ATTR["hat"], 1)


def _flush(ex: int, outfit: int, pc: int, plen: int, pb_cls, pb_rec, pneg: bool, pout: bool):
    """A pending phrase that met no noun: bind it back ("shirt that is red") or to the outfit.

    Returns the new (ex, outfit); garment colours are updated in place."""
    if not pneg and pb_cls is not None:
        if pb_rec is not None:
            pb_rec[1] |= pc
            if (pb_cls == LOWER or pb_cls == DRESS) and 0 <= plen < 2:
                ex |= _LLEN[plen]
        elif pb_cls == HAIR and 0 <= plen < 2:
            ex |= _HAIR_BY_LEN[plen]
        elif pb_cls == SLEEVE and 0 <= plen < 2:
            ex |= _SLV[plen]
        elif pb_cls == PERSON and pout:
            outfit |= pc
    elif not pneg and pout:
        outfit |= pc
    return ex, outfit


def _mine(cc: list[int], *, KIND=KIND, NCLS=NCLS, GBIT=GBIT, CBIT=CBIT, NEXTC=NEXTC,
          PHRASE_FIRST=PHRASE_FIRST, PHRASE_PAIRS=PHRASE_PAIRS, finish=finish, _flush=_flush) -> bytes:
    """Labels of one caption from its codes `cc` (ending with SEP) as 27 int8 bytes.

    One flat loop over locals: this is the hot path of the stage (the tables are bound as
    defaults so they are fast locals; the kinds are tested most frequent first)."""
    ex = im = outfit = 0
    garments: dict[str, list] = {}  # lemma -> [class, colour bits, uncertain, is legwear]
    legwear = skirtlike = False
    # pending phrase: colour bits, tone seen, length (-1 none), pattern, where it would bind back
    pc, ptone, plen, ppat, pstart = 0, False, -1, 0, False
    pb_cls = pb_rec = None
    pout = pneg = False
    gap = 0  # unknown words since the last noun
    last_cls = last_rec = None  # the last noun (class, garment record) a phrase may bind back to
    link = octx = cctx = False  # linked back / outfit context ("wearing") / carry context
    neg_until, neg_acc, last_neg = -1, False, False
    lastg, lastg_i = None, -99
    for i, c in enumerate(cc):  # `resolve` splices terms into cc at the iterator's position
        if PHRASE_FIRST[c] and c * N_CODES + cc[i + 1] in PHRASE_PAIRS:
            c = resolve(cc, i)  # "t shirt" -> tshirt, "on his back" -> onback
        k = KIND[c]
        if k == NOUN:
            cls = NCLS[c]
            negated = i < neg_until
            if FIRST_GARMENT <= cls <= LAST_GARMENT:
                lemma = NLEM[c]
                rec = garments.get(lemma)
                if (not negated or neg_acc) and not cctx:
                    if rec is None:
                        rec = garments[lemma] = [cls, 0, False, GLEG[c]]
                    if pc:
                        rec[1] |= pc
                    elif ptone:
                        rec[2] = True  # "dark pants": described, colour unknown
                    if ppat == 2 or (ppat == 1 and not pc & (pc - 1)):
                        rec[2] = True  # decoration, or stripes with fewer than two colours
                    if GLEG[c]:
                        legwear = True
                    else:
                        ex |= GEX[c]
                        im |= GIM[c]
                        if GSKIRT[c]:
                            skirtlike = True
                    if (cls == LOWER or cls == DRESS) and 0 <= plen < 2:
                        ex |= _LLEN[plen]
                    lastg, lastg_i = rec, i
                last_rec = rec
            elif cls == PERSON:
                if not negated:
                    ex |= GBIT[c]
                last_rec = None
            elif cls in _ACC_BITS:
                bits = _BACKPACK_BITS if cls == L.BAG and _next(cc, i) == C.ONBACK else _ACC_BITS[cls]
                ex |= bits[negated]
                last_rec = None
            elif cls == SLEEVE:
                if negated:
                    ex |= _SLV[1]
                elif 0 <= plen < 2:
                    ex |= _SLV[plen]
                plen = -1
                if UPPER_NOUN[_next(cc, i)]:
                    continue  # "short sleeve shirt": the colours belong to the shirt
                if pc and lastg is not None and lastg[0] == UPPER:
                    lastg[1] |= pc
                last_rec = None
            else:
                if cls == HAIR:
                    if 0 <= plen < 2:
                        ex |= _HAIR_BY_LEN[plen]
                elif cls == L.HAIRLONG:
                    im |= _HAIR_LONG_IM
                elif cls == L.BALD:
                    ex |= _HAIR_SHORT
                elif cls == L.BAREHEAD:
                    ex |= _NO_HAT
                elif cls != L.ABSORB:  # shoes, bags' straps, the street: no evidence
                    ex = _detail(cls, c, ex, pc, lastg if i - lastg_i <= _RECENT else None, negated, cctx)
                last_rec = None
            last_neg = negated
            last_cls = cls
            if pstart:  # without a pending phrase its fields are already clear (plen included)
                pc, ptone, plen, ppat, pstart = 0, False, -1, 0, False
            link = True
            gap = 0
        elif k == DET:
            if pstart:
                ex, outfit = _flush(ex, outfit, pc, plen, pb_cls, pb_rec, pneg, pout)
                pc, ptone, plen, ppat, pstart = 0, False, -1, 0, False
            link = False
            ex |= GBIT[c]
        elif k == COLOUR:
            if not pstart:
                pstart, pb_cls, pb_rec, pout, pneg = True, last_cls if link else None, last_rec, octx, i < neg_until
            pc |= CBIT[c]
        elif k == UNK:
            gap += 1
            link = octx = False
            if pstart and gap > 3:
                ex, outfit = _flush(ex, outfit, pc, plen, pb_cls, pb_rec, pneg, pout)
                pc, ptone, plen, ppat, pstart = 0, False, -1, 0, False
        elif k == SKIP:
            pass
        elif k == AND or k == COMMA:
            nxt = cc[i + 1]
            nxt = NEXTC[C.peek(cc, i + 1) if PHRASE_FIRST[nxt] else nxt]
            if nxt == 0 and KIND[cc[i - 1]] != UNK:
                continue  # "red and white", "red, white and blue": the phrase goes on
            # ...but "a blue pack, black jacket": a word the lexicon does not know named blue's object
            if pstart:
                ex, outfit = _flush(ex, outfit, pc, plen, pb_cls, pb_rec, pneg, pout)
                pc, ptone, plen, ppat, pstart = 0, False, -1, 0, False
            if k == COMMA or nxt == 1:
                neg_until = -1
            elif last_neg and k == AND:
                neg_acc = True  # "no hat and a red shirt": only accessories stay negated
            link = False
        elif k == TONE or k == LEN or k == PATTERN:
            if not pstart:
                pstart, pb_cls, pb_rec, pout, pneg = True, last_cls if link else None, last_rec, octx, i < neg_until
            if k == TONE:
                ptone = True
            elif k == LEN:
                plen = PV[c]
            elif PV[c] > ppat:
                ppat = PV[c]
        elif k == SLEEVED:
            if 0 <= plen < 2:
                ex |= _SLV[plen]
            plen = -1
        elif k == SLEEVELESS:
            ex |= _SLV[1]
        else:
            if pstart:
                ex, outfit = _flush(ex, outfit, pc, plen, pb_cls, pb_rec, pneg, pout)
                pc, ptone, plen, ppat, pstart = 0, False, -1, 0, False
            if k == LINK:
                continue  # keeps the backward link: "shirt that is red"
            if k == IN:
                octx = True
                continue
            link = False
            if k == END or k == BOUND:
                neg_until = -1
                octx = cctx = False
                if k == END:
                    last_cls = None
            elif k == STOP:
                octx = False
            elif k == PRON:
                ex |= GBIT[c]
                octx = cctx = False
            elif k == WEARV:
                octx, cctx = True, False
            elif k == CARRYV:
                octx, cctx = False, True
            else:  # NEG
                neg_until, neg_acc = i + _NEG_SPAN, False
    if pstart:
        ex, outfit = _flush(ex, outfit, pc, plen, pb_cls, pb_rec, pneg, pout)
    return finish(ex, im, garments, outfit, legwear, skirtlike)


def _next(cc: list[int], i: int) -> int:
    """The code of the token after i (a multi-word term there counts as joined)."""
    c = cc[i + 1]
    return C.peek(cc, i + 1) if PHRASE_FIRST[c] else c


def _detail(cls: int, c: int, ex: int, pc: int, rec, negated: bool, cctx: bool) -> int:
    """A detail noun: "with a logo" / "stripes" mark the recent garment, "nothing" the bags."""
    if cls == L.DETAIL and rec is not None:
        rec[2] = True  # "with a logo": colours the text does not name
    elif cls == L.STRIPES and rec is not None:
        if pc and not rec[1]:
            rec[1] |= pc   # "a shirt with red and white stripes": the stripes are the shirt's colours
        else:
            rec[2] = True  # "a black jacket with white stripes": an accent, not a garment colour
    elif cls == L.ANYTHING and cctx and (negated or c == C.NOTHING):
        ex |= _NO_BAGS
    return ex


def _mine_batch(texts: list[str]) -> list[bytes]:
    codes = C.batch_codes(texts)
    if codes is None:  # a caption holds the separator character: tokenise one by one
        return [_mine(C.text_codes(t)) for t in texts]
    rows = []
    start = 0
    index = codes.index
    for _ in texts:
        end = index(C.SEP, start) + 1
        rows.append(_mine(codes[start:end]))
        start = end
    return rows


def mine_many(texts: Iterable[str]) -> np.ndarray:
    """(N, 27) int8 labels; identical captions are mined once (BLIP repeats itself a lot)."""
    texts = [t or "" for t in texts]
    if not texts:
        return np.zeros((0, NUM_MALS_ATTRIBUTES), dtype=np.int8)
    unique = list(dict.fromkeys(texts))
    rows: list[bytes] = []
    # The pass makes short-lived lists and dicts by the million and never a cycle: the cyclic
    # GC's passes over the memos would cost ~5% for nothing.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        for s in range(0, len(unique), _BATCH):
            rows.extend(_mine_batch(unique[s:s + _BATCH]))
    finally:
        if gc_was_on:
            gc.enable()
    if len(unique) < len(texts):
        by_text = dict(zip(unique, rows))
        rows = [by_text[t] for t in texts]
    return np.frombuffer(b"".join(rows), dtype=np.int8).reshape(len(texts), NUM_MALS_ATTRIBUTES).copy()


def mine_attributes(text: str) -> np.ndarray:
    """The 27 labels (int8: 0, 1 or -1) that `text` decides (the same as `mine_many([text])[0]`)."""
    return mine_many([text])[0]
