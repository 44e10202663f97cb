"""From the evidence one pass gathered to the 27 labels (`finish`), memoised.

The pass (`miner.py`) ends with: explicit and implied evidence bits for slots 0-9 (`codes.bit`),
the garment records {lemma: [class, colour bits, uncertain, is legwear]}, the outfit colour bits
("dressed in black") and whether a skirt-like garment was named. Many captions end in the same
evidence, so the labels are memoised on it; the rules themselves live in `_labels`.
"""
from __future__ import annotations

from . import lexicon as L
from .codes import CANON, bit

_MEMO_LIMIT = 500_000
_MEMO: dict[tuple, bytes] = {}
_LEGWEAR_IM = bit(L.LTYPE, L.PANTS_TYPE) | bit(L.LLEN, L.LONG_LOWER)
_UNKNOWN_ROW = bytes([0xFF]) * 27  # 27 x int8 -1


def _resolution(res: dict) -> list[tuple[int | None, tuple[int, ...]]]:
    """Per canonical colour index: (listed slot or None, listed slots it could be mistaken for)."""
    return [res[c] for c in CANON]


_UPPER = _resolution(L.UPPER_RES)
_LOWER = _resolution(L.LOWER_RES)


def finish(ex: int, im: int, garments: dict, outfit: int, legwear: bool, skirtlike: bool) -> bytes:
    """The 27 labels as int8 bytes (0, 1, 0xFF for -1)."""
    if legwear and not skirtlike:
        im |= _LEGWEAR_IM
    if not ex and not im and not garments and not outfit:
        return _UNKNOWN_ROW
    key = (ex, im, outfit, skirtlike, *map(tuple, garments.values()))
    row = _MEMO.get(key)
    if row is None:
        row = bytes(v & 0xFF for v in _labels(ex, im, garments, outfit, skirtlike))
        if len(_MEMO) >= _MEMO_LIMIT:
            _MEMO.clear()
        _MEMO[key] = row
    return row


def _labels(ex: int, im: int, garments: dict, outfit: int, skirtlike: bool) -> list[int]:
    out = [-1] * 27
    for s in range(10):
        e = (ex >> 2 * s) & 3 or (im >> 2 * s) & 3  # explicit evidence beats implied
        if e == 1:
            out[s] = 0
        elif e == 2:
            out[s] = 1
    if garments or outfit:
        _colours(out, garments, outfit, skirtlike)
    return out


def _colour_indices(mask: int) -> list[int]:
    return [i for i in range(len(CANON)) if mask >> i & 1]


def _colours(out: list[int], garments: dict, outfit: int, skirtlike: bool) -> None:
    recs = list(garments.values())
    uppers = [r for r in recs if r[0] == L.UPPER]
    dresses = [r for r in recs if r[0] == L.DRESS]
    # "a black and white outfit" does not say which part is which: only one colour binds.
    both = [r if len(_colour_indices(r[1])) < 2 else [L.BOTH, 0, True, False] for r in recs if r[0] == L.BOTH]
    lowers = [r for r in recs if r[0] == L.LOWER and not (skirtlike and r[3])]
    # Tights under a skirt: their colour is not "the lower clothes' colour", nor excluded.
    legwear = set() if not skirtlike else {
        _LOWER[c][0] for r in recs if r[3] for c in _colour_indices(r[1])}
    upper = uppers + both + (dresses if not uppers else [])
    lower = lowers + dresses + both
    outfit_colours = _colour_indices(outfit)
    _group(out, upper, _UPPER, L.UPPER_SLOTS, outfit_colours, set(), exclusive_ok=not (uppers and dresses))
    _group(out, lower, _LOWER, L.LOWER_SLOTS, outfit_colours, legwear, exclusive_ok=True)


def _group(out, recs, res, slots, outfit: list[int], near: set, exclusive_ok: bool) -> None:
    """Set the colour slots of one garment group (rules in miner.py's docstring)."""
    present: set[int] = set()
    for rec in recs:
        for colour in _colour_indices(rec[1]):
            slot, close = res[colour]
            if slot is not None:
                present.add(slot)
            else:
                near.update(close)
    if not any(rec[1] for rec in recs) and len(outfit) == 1:
        slot = res[outfit[0]][0]
        if slot is not None:
            out[slot] = 0
        return
    for slot in present:
        out[slot] = 0
    if exclusive_ok and recs and all(rec[1] and not rec[2] and rec[0] != L.BOTH for rec in recs):
        for slot in slots:
            if slot not in present and slot not in near:
                out[slot] = 1
