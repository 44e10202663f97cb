"""From the evidence one pass gathered to the 27 labels (`finish`).

The pass (`miner.py`) ends with: explicit and implied evidence bits for slots 0-9 (`codes.bit`),
the garment records {lemma: [class, colour bits, uncertain, is legwear]}, the outfit colour bits
("dressed in black") and whether a skirt-like garment was named. `reference_labels` states the
rules plainly; `finish` gives the same bytes fast: slots 0-9 memoised on the evidence, and each
colour group reduced to (colour bits, exclusion allowed) and memoised on that, because whole
captions rarely repeat their evidence but these small keys do.
"""
from __future__ import annotations

from . import lexicon as L
from .codes import CANON, bit

_MEMO_LIMIT = 200_000
_HEAD: dict[tuple[int, int], bytes] = {}  # (explicit, implied evidence) -> slots 0-9
_GROUPS: dict[tuple, bytes] = {}  # (group, colour bits, exclusion allowed, left-open slots) -> slots
_LEGWEAR_IM = bit(L.LTYPE, L.PANTS_TYPE) | bit(L.LLEN, L.LONG_LOWER)
_UNKNOWN_COLOURS = bytes([0xFF]) * 17  # 17 x int8 -1


def _resolution(res: dict) -> list[tuple[int | None, tuple[int, ...]]]:
    """Per canonical colour index: (listed slot or None, listed slots it could be mistaken for)."""
    return [res[c] for c in CANON]


_UPPER = _resolution(L.UPPER_RES)
_LOWER = _resolution(L.LOWER_RES)


class _Listed(dict):
    """colour bits -> bits (slot - first lower colour slot) of the listed lower colours among them."""

    def __missing__(self, mask: int) -> int:
        bits = 0
        for c in _colour_indices(mask):
            if _LOWER[c][0] is not None:
                bits |= 1 << (_LOWER[c][0] - L.LOWER_SLOTS[0])
        self[mask] = bits
        return bits


def _outfit_rows(res, slots) -> dict[int, bytes]:
    """One outfit colour bit -> the group's labels when only the outfit names a colour."""
    rows = {}
    for i, (slot, _) in enumerate(res):
        row = [0xFF] * len(slots)
        if slot is not None:
            row[slot - slots[0]] = 0
        rows[1 << i] = bytes(row)
    return rows


_LOWER_LISTED = _Listed()
_OUTFIT_ROWS = (_outfit_rows(_UPPER, L.UPPER_SLOTS), _outfit_rows(_LOWER, L.LOWER_SLOTS))


def finish(ex: int, im: int, garments: dict, outfit: int, legwear: bool, skirtlike: bool) -> bytes:
    """The 27 labels as int8 bytes (0, 1, 0xFF for -1); the same as `reference_labels`."""
    if legwear and not skirtlike:
        im |= _LEGWEAR_IM
    head = _HEAD.get((ex, im))
    if head is None:
        head = _HEAD[(ex, im)] = _remember(_HEAD, bytes(v & 0xFF for v in reference_labels(ex, im, {}, 0, False)[:10]))
    if not garments and not outfit:
        return head + _UNKNOWN_COLOURS
    # Garment groups as (colour bits, "every garment has a plain stated colour", any garment).
    um = dm = bm = lm = near = 0
    u_ok = d_ok = b_ok = l_ok = True
    n_upper = n_dress = n_both = n_lower = 0
    for cls, mask, unsure, is_legwear in garments.values():
        ok = mask and not unsure
        if cls == L.UPPER:
            um |= mask
            u_ok = u_ok and ok
            n_upper += 1
        elif cls == L.LOWER:
            if skirtlike and is_legwear:  # tights under a skirt: neither the colour nor excluded
                near |= _LOWER_LISTED[mask]
                continue
            lm |= mask
            l_ok = l_ok and ok
            n_lower += 1
        elif cls == L.DRESS:
            dm |= mask
            d_ok = d_ok and ok
            n_dress += 1
        else:  # BOTH: never allows the exclusion; "a black and white outfit" binds no colour
            if mask & (mask - 1) == 0:
                bm |= mask
            n_both += 1
    b_ok = not n_both
    if n_upper:
        upper = _group(0, um | bm, n_upper + n_both, u_ok and b_ok and not n_dress, 0, outfit)
    else:
        upper = _group(0, dm | bm, n_dress + n_both, d_ok and b_ok, 0, outfit)
    lower = _group(1, lm | dm | bm, n_lower + n_dress + n_both, l_ok and d_ok and b_ok, near, outfit)
    return head + upper + lower


def _remember(memo: dict, value):
    if len(memo) >= _MEMO_LIMIT:
        memo.clear()
    return value


def _group(g: int, mask: int, n: int, all_ok: bool, near: int, outfit: int) -> bytes:
    """Colour labels of one group (0 upper, 1 lower) from its garments' colour bits."""
    if not mask and outfit and not outfit & (outfit - 1):  # "dressed in black", nothing else
        return _OUTFIT_ROWS[g][outfit]
    key = (g, mask, bool(n and all_ok), near)
    row = _GROUPS.get(key)
    if row is None:
        recs = [[L.UPPER, mask, not all_ok, False]] if n else []
        res, slots = (_UPPER, L.UPPER_SLOTS) if g == 0 else (_LOWER, L.LOWER_SLOTS)
        out = [-1] * 27
        near_slots = {s for s in slots if near >> (s - slots[0]) & 1}
        _group_ref(out, recs, res, slots, [], near_slots, exclusive_ok=True)
        row = _GROUPS[key] = _remember(_GROUPS, bytes(v & 0xFF for v in out[slots[0]:slots[-1] + 1]))
    return row


def reference_labels(ex: int, im: int, garments: dict, outfit: int, skirtlike: bool) -> list[int]:
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
    _group_ref(out, upper, _UPPER, L.UPPER_SLOTS, outfit_colours, set(), exclusive_ok=not (uppers and dresses))
    _group_ref(out, lower, _LOWER, L.LOWER_SLOTS, outfit_colours, legwear, exclusive_ok=True)


def _group_ref(out, recs, res, slots, outfit: list[int], near: set, exclusive_ok: bool) -> None:
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
