"""The miner's pass over one caption's token codes (`mine_codes`): the hot loop of `miner.py`.

`setup.py` compiles this module with mypyc when the package is installed (the extension module
then shadows this file); without it, this same source runs as plain Python. Hence the type
annotations and `Final` tables: they let the compiled loop keep ints and table reads native.
tests/test_attrs_compiled.py checks that both give the same labels.
"""
from __future__ import annotations

from typing import Any, Final

from . import codes as C
from . import lexicon as L
from .labels import finish

_RECENT: Final = 8  # a detail ("with a logo") belongs to a garment named at most this many tokens before
_NEG_SPAN: Final = 7  # a negation covers the tokens up to this many positions after it

KIND: Final = C.KIND
CBIT: Final = C.CBIT
PV: Final = C.PV
GBIT: Final = C.GBIT
NCLS: Final = C.NCLS
NLEM: Final = C.NLEM
GEX: Final = C.GEX
GIM: Final = C.GIM
GSKIRT: Final = C.GSKIRT
GLEG: Final = C.GLEG
NEXTC: Final = C.NEXTC
UPPER_NOUN: Final = C.UPPER_NOUN
PHRASE_FIRST: Final = C.PHRASE_FIRST
PHRASE_PAIRS: Final = C.PHRASE_PAIRS
N_CODES: Final = C.N_CODES
ONBACK: Final = C.ONBACK
NOTHING: Final = C.NOTHING
resolve = C.resolve
peek = C.peek
# Token kinds and noun classes as named constants (one per line: mypyc keeps each `Final` int native).
UNK: Final = C.UNK
COLOUR: Final = L.COLOUR
TONE: Final = L.TONE
LEN: Final = L.LEN
PATTERN: Final = L.PATTERN
SLEEVED: Final = L.SLEEVED
SLEEVELESS: Final = L.SLEEVELESS
NOUN: Final = L.NOUN
AND: Final = L.AND
LINK: Final = L.LINK
SKIP: Final = L.SKIP
WEARV: Final = L.WEARV
CARRYV: Final = L.CARRYV
NEG: Final = L.NEG
END: Final = L.END
STOP: Final = L.STOP
DET: Final = L.DET
PRON: Final = L.PRON
BOUND: Final = L.BOUND
COMMA: Final = L.COMMA
IN: Final = L.IN
PERSON: Final = L.PERSON
HAIR: Final = L.HAIR
HAIRLONG: Final = L.HAIRLONG
BALD: Final = L.BALD
BAREHEAD: Final = L.BAREHEAD
ABSORB: Final = L.ABSORB
DETAIL: Final = L.DETAIL
STRIPES: Final = L.STRIPES
ANYTHING: Final = L.ANYTHING
BAG: Final = L.BAG
UPPER: Final = L.UPPER
LOWER: Final = L.LOWER
DRESS: Final = L.DRESS
SLEEVE: Final = L.SLEEVE
FIRST_GARMENT: Final = min(L.GARMENTS)
LAST_GARMENT: Final = max(L.GARMENTS)
assert set(range(FIRST_GARMENT, LAST_GARMENT + 1)) == set(L.GARMENTS)
# Accessory class -> (evidence bit "present", bit "absent"); a bag "on his back" is a backpack.
_ACC: Final = {L.HAT: "hat", L.BACKPACK: "backpack", L.HANDBAG: "handbag", L.BAG: "bag"}
_ACC_BITS: Final = {cls: (C.bit(L.ATTR[name], 0), C.bit(L.ATTR[name], 1)) for cls, name in _ACC.items()}
_BACKPACK_BITS: Final = _ACC_BITS[L.BACKPACK]
_NO_BAGS: Final = C.bit(L.ATTR["backpack"], 1) | C.bit(L.ATTR["handbag"], 1) | C.bit(L.ATTR["bag"], 1)
_SLV: Final = (C.bit(L.SLV, L.LONG_SLEEVE), C.bit(L.SLV, L.SHORT_SLEEVE))
_LLEN: Final = (C.bit(L.LLEN, L.LONG_LOWER), C.bit(L.LLEN, L.SHORT_LOWER))
_HAIR_BY_LEN: Final = (C.bit(L.HAIR_S, L.LONG_HAIR), C.bit(L.HAIR_S, L.SHORT_HAIR))  # long -> long hair
_HAIR_LONG_IM: Final = C.bit(L.HAIR_S, L.LONG_HAIR)
_HAIR_SHORT: Final = C.bit(L.HAIR_S, L.SHORT_HAIR)
_NO_HAT: Final = C.bit(L.ATTR["hat"], 1)
Garment = list[Any]  # [class, colour bits, uncertain, is legwear]: the record `labels.finish` reads


def _flush(ex: int, outfit: int, pc: int, plen: int, pb_cls: int | None, pb_rec: Garment | None,
           pneg: bool, pout: bool) -> tuple[int, int]:
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


def mine_codes(cc: list[int]) -> bytes:
    """Labels of one caption from its codes `cc` (ending with SEP) as 27 int8 bytes.

    One flat loop over locals and tables: this is the hot path of the stage (the kinds are
    tested most frequent first). `cc` is changed in place where multi-word terms are joined."""
    ex = im = outfit = 0
    garments: dict[str | None, Garment] = {}  # lemma -> garment record
    legwear = skirtlike = False
    # pending phrase: colour bits, tone seen, length (-1 none), pattern, where it would bind back
    pc, ptone, plen, ppat, pstart = 0, False, -1, 0, False
    pb_cls: int | None = None
    pb_rec: Garment | None = None
    pout = pneg = False
    gap = 0  # unknown words since the last noun
    # the last noun (class, garment record) a phrase may bind back to
    last_cls: int | None = None
    last_rec: Garment | None = None
    link = octx = cctx = False  # linked back / outfit context ("wearing") / carry context
    neg_until, neg_acc, last_neg = -1, False, False
    lastg: Garment | None = None
    lastg_i = -99
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
                bits = _BACKPACK_BITS if cls == BAG and _next(cc, i) == ONBACK else _ACC_BITS[cls]
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
                elif cls == HAIRLONG:
                    im |= _HAIR_LONG_IM
                elif cls == BALD:
                    ex |= _HAIR_SHORT
                elif cls == BAREHEAD:
                    ex |= _NO_HAT
                elif cls != ABSORB:  # shoes, bags' straps, the street: no evidence
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
            nxt = NEXTC[peek(cc, i + 1) if PHRASE_FIRST[nxt] else nxt]
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
    return peek(cc, i + 1) if PHRASE_FIRST[c] else c


def _detail(cls: int, c: int, ex: int, pc: int, rec: Garment | None, negated: bool, cctx: bool) -> int:
    """A detail noun: "with a logo" / "stripes" mark the recent garment, "nothing" the bags."""
    if cls == DETAIL and rec is not None:
        rec[2] = True  # "with a logo": colours the text does not name
    elif cls == STRIPES and rec is not None:
        if pc and not rec[1]:
            rec[1] |= pc   # "a shirt with red and white stripes": the stripes are the shirt's colours
        else:
            rec[2] = True  # "a black jacket with white stripes": an accent, not a garment colour
    elif cls == ANYTHING and cctx and (negated or c == NOTHING):
        ex |= _NO_BAGS
    return ex
