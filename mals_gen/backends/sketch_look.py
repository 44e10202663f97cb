"""Turn a 27-slot MALS attribute vector into a concrete look for the sketch renderer.

Every slot equal to -1 is decided here with the caller's generator, with priors that make the
result plausible (long hair and skirts more often for women, ...). Slots equal to 0/1 are obeyed
exactly; note the polarity (contract.py): for hat, bags and the colour slots 0 means *present*.
Colours are drawn from per-name shade lists with a small jitter so that a render labelled
"red upper" is red to any reader, and never carries a listed colour it is labelled as not wearing.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mals_gen.contract import ATTR, LOWER_COLOURS, NUM_MALS_ATTRIBUTES, UPPER_COLOURS

RGB = tuple[int, int, int]

# A few shades per colour name; each draw picks one and jitters it (see `_shade`).
SHADES: dict[str, tuple[RGB, ...]] = {
    "black": ((22, 22, 26), (38, 36, 40), (28, 30, 38)),
    "white": ((238, 238, 236), (246, 244, 238), (226, 230, 234)),
    "red": ((205, 28, 34), (172, 20, 30), (225, 52, 48)),
    "purple": ((118, 48, 150), (92, 38, 122), (150, 78, 182)),
    "yellow": ((238, 212, 40), (246, 226, 82), (224, 190, 28)),
    "blue": ((36, 78, 192), (28, 58, 150), (66, 118, 212)),
    "green": ((38, 140, 58), (30, 108, 48), (84, 162, 70)),
    "gray": ((128, 128, 128), (150, 150, 152), (106, 108, 112)),
    "pink": ((242, 150, 182), (230, 118, 160), (248, 182, 204)),
    "brown": ((118, 72, 38), (140, 90, 52), (96, 60, 34)),
    "orange": ((240, 130, 30), (226, 110, 20)),
    "beige": ((222, 202, 164), (210, 190, 150)),
    "khaki": ((190, 172, 120), (176, 160, 110)),
}
# Colours outside each list, used when every colour slot of a garment says "does not wear".
# (Navy is left out on purpose: a reader would call it blue, which the label would deny.)
UPPER_UNLISTED = ("orange", "brown", "pink", "beige")
LOWER_UNLISTED = ("red", "khaki", "beige", "orange")
# How common each listed colour is when a slot is unknown (street clothes are mostly dark/neutral).
UPPER_PRIOR = {"black": 3.0, "white": 2.5, "red": 1.0, "purple": 0.6, "yellow": 0.7, "blue": 1.5,
               "green": 0.8, "gray": 2.0}
LOWER_PRIOR = {"black": 4.0, "white": 1.0, "purple": 0.4, "yellow": 0.4, "blue": 3.0, "green": 0.5,
               "pink": 0.6, "gray": 2.0, "brown": 1.0}

SKIN_TONES: tuple[RGB, ...] = ((250, 220, 196), (236, 196, 166), (214, 168, 132), (188, 138, 100),
                               (150, 102, 70), (112, 74, 50), (84, 56, 40))
HAIR_COLOURS: tuple[RGB, ...] = ((20, 16, 14), (34, 26, 20), (60, 40, 26), (92, 62, 38),
                                 (168, 132, 80), (120, 118, 116))
HAIR_WEIGHTS = (0.38, 0.25, 0.17, 0.1, 0.07, 0.03)
SHOE_COLOURS: tuple[RGB, ...] = ((25, 25, 25), (240, 240, 240), (90, 60, 40), (110, 110, 115),
                                 (40, 50, 90), (170, 40, 40))
ACCESSORY_COLOURS: tuple[RGB, ...] = ((25, 25, 30), (60, 40, 30), (110, 70, 40), (70, 80, 95),
                                      (150, 30, 40), (30, 60, 110), (200, 180, 150), (40, 90, 60))


@dataclass(frozen=True)
class Look:
    """What the renderer draws: one decided value per attribute plus concrete colours."""

    man: bool
    adult: bool
    long_hair: bool
    hat: bool
    backpack: bool
    handbag: bool
    bag: bool
    short_sleeves: bool
    short_lower: bool
    skirt: bool
    upper: tuple[RGB, ...]  # main colour first, then the secondary colours of a pattern
    lower: tuple[RGB, ...]
    upper_names: tuple[str, ...]
    lower_names: tuple[str, ...]
    skin: RGB
    hair: RGB
    shoes: RGB
    accessories: tuple[RGB, RGB, RGB]  # hat, backpack, bags


def _shade(name: str, rng: np.random.Generator) -> RGB:
    shades = SHADES[name]
    base = np.asarray(shades[int(rng.integers(len(shades)))], dtype=np.float64)
    # Jitter brightness a little and each channel a little more; black stays dark, white light.
    out = base * rng.uniform(0.9, 1.08) + rng.uniform(-8, 8, size=3)
    return tuple(int(v) for v in np.clip(out, 0, 255))  # type: ignore[return-value]


def _pick(rng: np.random.Generator, options, weights=None):
    if weights is None:
        return options[int(rng.integers(len(options)))]
    p = np.asarray(weights, dtype=np.float64)
    return options[int(rng.choice(len(options), p=p / p.sum()))]


def _binary(value: int, p_zero: float, rng: np.random.Generator) -> int:
    """A slot's label: its value if known, else 0 with probability `p_zero`."""
    if value in (0, 1):
        return int(value)
    return 0 if rng.random() < p_zero else 1


def _colours(values: np.ndarray, names: tuple[str, ...], prior: dict[str, float],
             unlisted: tuple[str, ...], rng: np.random.Generator) -> tuple[str, ...]:
    """Colour names worn on one garment, main first. Worn (0) slots all appear; if none is worn,
    pick among the unknown (-1) slots or an unlisted colour, never a slot labelled 1."""
    worn = [n for n, v in zip(names, values) if v == 0]
    if worn:
        order = rng.permutation(len(worn))
        return tuple(worn[i] for i in order)
    unknown = [n for n, v in zip(names, values) if v not in (0, 1)]
    if not unknown or rng.random() < 0.12:
        return (_pick(rng, unlisted),)
    return (_pick(rng, unknown, [prior[n] for n in unknown]),)


def resolve_look(attrs: np.ndarray, rng: np.random.Generator) -> Look:
    """Decide every unknown slot and every colour; see the module docstring."""
    a = np.asarray(attrs).astype(np.int64).reshape(-1)
    if a.shape[0] != NUM_MALS_ATTRIBUTES:
        raise ValueError(f"attribute vector must have {NUM_MALS_ATTRIBUTES} slots, got {a.shape[0]}")
    man = _binary(a[ATTR["gender"]], 0.5, rng) == 1
    adult = _binary(a[ATTR["age"]], 0.15, rng) == 1
    long_hair = _binary(a[ATTR["hair"]], 0.92 if man else 0.25, rng) == 1  # p_zero = P(short hair)
    hat = _binary(a[ATTR["hat"]], 0.2, rng) == 0
    backpack = _binary(a[ATTR["backpack"]], 0.25, rng) == 0
    handbag = _binary(a[ATTR["handbag"]], 0.15, rng) == 0
    bag = _binary(a[ATTR["bag"]], 0.2, rng) == 0
    short_sleeves = _binary(a[ATTR["sleeve"]], 0.5, rng) == 1
    skirt = _binary(a[ATTR["lower_type"]], 0.97 if man else 0.55, rng) == 0
    short_lower = _binary(a[ATTR["lower_length"]], 0.5 if skirt else 0.75, rng) == 1
    up = a[ATTR["upper_black"]:ATTR["upper_black"] + len(UPPER_COLOURS)]
    lo = a[ATTR["lower_black"]:ATTR["lower_black"] + len(LOWER_COLOURS)]
    upper_names = _colours(up, UPPER_COLOURS, UPPER_PRIOR, UPPER_UNLISTED, rng)
    lower_names = _colours(lo, LOWER_COLOURS, LOWER_PRIOR, LOWER_UNLISTED, rng)
    return Look(
        man=man, adult=adult, long_hair=long_hair, hat=hat, backpack=backpack, handbag=handbag,
        bag=bag, short_sleeves=short_sleeves, short_lower=short_lower, skirt=skirt,
        upper=tuple(_shade(n, rng) for n in upper_names),
        lower=tuple(_shade(n, rng) for n in lower_names),
        upper_names=upper_names, lower_names=lower_names,
        skin=_jitter(_pick(rng, SKIN_TONES), rng, 6),
        hair=_jitter(_pick(rng, HAIR_COLOURS, HAIR_WEIGHTS), rng, 6),
        shoes=_jitter(_pick(rng, SHOE_COLOURS), rng, 8),
        accessories=tuple(  # type: ignore[arg-type]
            _jitter(_pick(rng, ACCESSORY_COLOURS), rng, 10) for _ in range(3)),
    )


def _jitter(rgb: RGB, rng: np.random.Generator, amount: float) -> RGB:
    out = np.asarray(rgb, dtype=np.float64) + rng.uniform(-amount, amount, size=3)
    return tuple(int(v) for v in np.clip(out, 0, 255))  # type: ignore[return-value]


def look_attrs(look: Look) -> np.ndarray:
    """The 27 MALS labels the drawn person shows exactly (every slot decided; docs/attributes.md)."""
    out = np.empty(NUM_MALS_ATTRIBUTES, np.int8)
    first = {"gender": not look.man, "age": not look.adult, "hair": not look.long_hair, "hat": look.hat,
             "backpack": look.backpack, "handbag": look.handbag, "bag": look.bag,
             "sleeve": not look.short_sleeves, "lower_length": not look.short_lower, "lower_type": look.skirt}
    for name, is_first in first.items():
        out[ATTR[name]] = 0 if is_first else 1
    for c in UPPER_COLOURS:
        out[ATTR[f"upper_{c}"]] = 0 if c in look.upper_names else 1
    for c in LOWER_COLOURS:
        out[ATTR[f"lower_{c}"]] = 0 if c in look.lower_names else 1
    return out


def look_summary(look: Look) -> str:
    """A short human-readable line (used by the gallery script and in test messages)."""
    bits = ["man" if look.man else "woman", "adult" if look.adult else "child",
            "long hair" if look.long_hair else "short hair"]
    bits += [name for name, on in (("hat", look.hat), ("backpack", look.backpack),
                                   ("handbag", look.handbag), ("bag", look.bag)) if on]
    bits.append(("short" if look.short_sleeves else "long") + " sleeves " + "/".join(look.upper_names))
    lower = ("short " if look.short_lower else "long ") + ("skirt" if look.skirt else "pants")
    bits.append(lower + " " + "/".join(look.lower_names))
    return ", ".join(bits)
