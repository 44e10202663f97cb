"""The prompt composer: sample a 27-slot MALS attribute vector from priors, then describe it.

`PromptComposer.compose(rng)` returns `(description, attrs)`; the attrs are the *intended*
attributes (`prompt_attrs` in the plan). `describe` only picks words that agree with the vector
(see vocabulary.py), so the text never contradicts the labels; it may leave out hair, hat or an
extra detail, but always names the gender, the upper garment with its colour, the lower garment
with its colour, and every bag that is present.

Default priors (`ComposerConfig`). The numbers are rounded and approximate: they follow the
published label statistics of Market-1501's attribute annotations (summer, a university campus)
and PA-100K (all seasons, city CCTV) as we remember them; neither dataset is available offline,
so they were not recomputed here. Where the two disagree we take a value in between:

* gender: both sets are about 44-46% women -> p_male 0.55.
* age: PA-100K has ~2% under 18, Market-1501 a few percent children/teenagers -> p_adult 0.95.
* hair: long hair ~35% overall, nearly all of it women -> 0.75 for women, 0.04 for men.
* hat: 3-4% in both; captions of CUHK-PEDES mention caps and hats more often -> 0.08.
* backpack: ~24% (Market) / ~15% (PA-100K) -> 0.22 for adults; children carry school bags -> 0.5.
* handbag: ~11% / ~18%, mostly women -> 0.18 women, 0.06 men.
* other bag (shoulder bag): ~23% / ~19% -> 0.2.
* lower garment: skirts and dresses are ~10-12% of all people -> 0.25 of women, 0 of men; 35% of
  those are one-piece dresses (upper and lower the same colour). Short pants ~14% (PA-100K)
  to ~30% (Market, summer) -> 0.2 of adults in trousers, 0.4 of children (children wear shorter
  clothes), 0.5 of skirts.
* sleeves: short sleeves ~70% in Market (summer), ~35% in PA-100K -> 0.45, and 0.85 for people
  in shorts or short skirts (same season) -> about 0.53 overall.
* upper colours: black and white lead, then gray and blue; ~18% of tops are colours without a
  slot (pink, orange, brown, navy, beige, khaki) -> all 8 upper colour slots 1.
* lower colours: black ~40% and blue (jeans) ~18% dominate, then gray; ~18% unlisted (khaki,
  navy, beige, red, tan, orange) -> all 9 lower colour slots 1.

`expected_marginals(config)` gives the exact P(label == 1) per slot these priors imply.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from ..contract import LOWER_COLOURS, NUM_MALS_ATTRIBUTES, UPPER_COLOURS
from ..errors import UserError
from . import vocabulary as V
from .templates import Dice, Parts, Table, render

_U0 = 10  # first upper colour slot
_L0 = 18  # first lower colour slot


def _default_upper() -> dict[str, float]:
    return {"black": 0.20, "white": 0.20, "gray": 0.12, "blue": 0.10, "red": 0.07, "green": 0.05,
            "yellow": 0.05, "purple": 0.03, "pink": 0.04, "orange": 0.03, "brown": 0.03, "navy": 0.03,
            "beige": 0.03, "khaki": 0.02}


def _default_lower() -> dict[str, float]:
    return {"black": 0.40, "blue": 0.18, "gray": 0.12, "white": 0.05, "brown": 0.04, "pink": 0.015,
            "green": 0.015, "purple": 0.01, "yellow": 0.01, "khaki": 0.05, "navy": 0.05, "beige": 0.04,
            "red": 0.02, "tan": 0.02, "orange": 0.005}


@dataclass(frozen=True)
class ComposerConfig:
    """Priors of the composer; every probability is in [0, 1]. Module docstring: why these values."""
    p_male: float = 0.55               # P(gender slot = man)
    p_adult: float = 0.95              # P(age slot = older than 18)
    p_long_hair_female: float = 0.75   # P(long hair | woman or girl)
    p_long_hair_male: float = 0.04     # P(long hair | man or boy)
    p_hat: float = 0.08                # P(hat)
    p_backpack: float = 0.22           # P(backpack | adult)
    p_backpack_child: float = 0.5      # P(backpack | under 18): school bags
    p_handbag_female: float = 0.18     # P(handbag | woman or girl)
    p_handbag_male: float = 0.06       # P(handbag | man or boy)
    p_bag: float = 0.2                 # P(other bag: shoulder, messenger, tote ...)
    p_skirt_female: float = 0.25       # P(dress or skirt | woman or girl)
    p_skirt_male: float = 0.0          # P(dress or skirt | man or boy)
    p_dress: float = 0.35              # P(one-piece dress | dress or skirt): top and bottom share a colour
    p_short_skirt: float = 0.5         # P(short | dress or skirt)
    p_shorts: float = 0.2              # P(shorts | adult in pants)
    p_shorts_child: float = 0.4        # P(shorts | child in pants): children wear shorter clothes
    p_short_sleeve: float = 0.45       # P(short sleeves | long lower garment)
    p_short_sleeve_summer: float = 0.85  # P(short sleeves | shorts or short skirt): same season
    #: Weight of each upper-garment colour. Keys in contract.UPPER_COLOURS set that slot; any other
    #: single word (orange, navy, ...) is a colour without a slot: all 8 upper colour slots = 1.
    #: A mapping given in a config replaces the whole default mapping (weights need not sum to 1).
    upper_colour_weights: dict[str, float] = field(default_factory=_default_upper)
    #: Same for the lower garment and contract.LOWER_COLOURS (9 slots).
    lower_colour_weights: dict[str, float] = field(default_factory=_default_lower)
    p_prompt_style: float = 0.3        # share of short prompt-like descriptions (vs. full sentences)

    def __post_init__(self):
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name.startswith("p_") and not 0.0 <= value <= 1.0:
                raise UserError(f"composer.{f.name} = {value} is not a probability; use a value in [0, 1]")
        _check_colours(self.upper_colour_weights, "upper")
        _check_colours(self.lower_colour_weights, "lower")

    def overrides(self) -> dict:
        """The fields that differ from the defaults (what plan.json records as the prompt source)."""
        default = ComposerConfig()
        return {f.name: getattr(self, f.name) for f in fields(self)
                if getattr(self, f.name) != getattr(default, f.name)}


def _check_colours(weights: dict, garment: str) -> None:
    where = f"composer.{garment}_colour_weights"
    listed = V.listed_colours(garment)
    for name, w in weights.items():
        if not isinstance(w, (int, float)) or isinstance(w, bool) or w < 0:
            raise UserError(f"{where}.{name} = {w!r}; weights must be numbers >= 0")
        if not (isinstance(name, str) and name.isalpha() and name.islower()):
            raise UserError(f"{where}: colour {name!r} must be one lower-case word such as 'navy'")
        if name == V.GREY_SPELLING:
            raise UserError(f"{where}: write 'gray' (the slot's spelling), not 'grey'")
        if name not in listed and any(c in name for c in listed):
            raise UserError(f"{where}: colour {name!r} contains a listed colour word; use that colour instead")
    if not weights or sum(float(w) for w in weights.values()) <= 0:
        raise UserError(f"{where} is empty or all zero; give at least one colour a positive weight")


def _slots(name: str, listed: tuple[str, ...]) -> list[int]:
    """Colour slot values for one garment colour: 0 on its slot, 1 elsewhere; all 1 if unlisted."""
    return [0 if c == name else 1 for c in listed]


class PromptComposer:
    """Samples attribute vectors from `ComposerConfig` priors and writes matching descriptions."""

    def __init__(self, config: ComposerConfig = ComposerConfig()):
        self.config = config
        self._upper_col = Table(config.upper_colour_weights.items())
        self._lower_col = Table(config.lower_colour_weights.items())
        self._upper_slots = {n: _slots(n, UPPER_COLOURS) for n in config.upper_colour_weights}
        self._lower_slots = {n: _slots(n, LOWER_COLOURS) for n in config.lower_colour_weights}
        # Colours without a slot, used when a garment's colour slots are all 1.
        self._unlisted = {g: self._unlisted_table(g) for g in ("upper", "lower")}
        both = [c for c in self._unlisted["upper"].items if c in self._unlisted["lower"].items]
        self._unlisted_both = Table((c, 1.0) for c in both or ["orange"])
        self._tables = _build_tables()

    def _unlisted_table(self, garment: str) -> Table:
        weights = self.config.upper_colour_weights if garment == "upper" else self.config.lower_colour_weights
        listed = V.listed_colours(garment)
        pairs = [(c, w) for c, w in weights.items() if c not in listed and w > 0]
        return Table(pairs or [(c, 1.0) for c in V.DEFAULT_UNLISTED[garment]])

    # -- attributes ---------------------------------------------------------------------------
    def sample_attributes(self, rng: np.random.Generator) -> np.ndarray:
        """One consistent (27,) int8 vector of 0/1 labels drawn from the priors."""
        c = self.config
        u = rng.random(13).tolist()
        male, adult = u[0] < c.p_male, u[1] < c.p_adult
        long_hair = u[2] < (c.p_long_hair_male if male else c.p_long_hair_female)
        backpack = u[4] < (c.p_backpack if adult else c.p_backpack_child)
        handbag = u[5] < (c.p_handbag_male if male else c.p_handbag_female)
        skirt = u[7] < (c.p_skirt_male if male else c.p_skirt_female)
        dress = skirt and u[8] < c.p_dress
        short_lower = u[9] < (c.p_short_skirt if skirt else c.p_shorts if adult else c.p_shorts_child)
        short_sleeve = u[10] < (c.p_short_sleeve_summer if short_lower else c.p_short_sleeve)
        upper = self._upper_col.pick(u[11])
        # A dress is one garment: its colour fills the upper and the lower colour slots.
        lower = upper if dress else self._lower_col.pick(u[12])
        lower_slots = self._lower_slots[lower] if lower in self._lower_slots else _slots(lower, LOWER_COLOURS)
        present = 0  # presence slots (hat, bags, colours) use 0 = present
        row = [int(male), int(adult), int(long_hair),
               present if u[3] < c.p_hat else 1, present if backpack else 1, present if handbag else 1,
               present if u[6] < c.p_bag else 1, int(short_sleeve), int(short_lower), 0 if skirt else 1,
               *self._upper_slots[upper], *lower_slots]
        return np.array(row, dtype=np.int8)

    # -- text ---------------------------------------------------------------------------------
    def describe(self, attrs: np.ndarray, rng: np.random.Generator) -> str:
        """A natural English description of a pedestrian photo that agrees with `attrs` (27 slots of 0/1)."""
        v = np.asarray(attrs).tolist()
        if len(v) != NUM_MALS_ATTRIBUTES or not all(x == 0 or x == 1 for x in v):
            raise ValueError(f"describe needs {NUM_MALS_ATTRIBUTES} labels of 0 or 1, got {v}")
        d = Dice(rng)
        return render(self._parts(v, d), d, prompt_style=d.chance(self.config.p_prompt_style))

    def compose(self, rng: np.random.Generator) -> tuple[str, np.ndarray]:
        attrs = self.sample_attributes(rng)
        return self.describe(attrs, rng), attrs

    def _colours(self, v: list[int], d: Dice) -> tuple[str, str | None, bool]:
        """(upper colour, lower colour or None, is_dress) as words; a dress needs one shared colour."""
        up = [c for i, c in enumerate(UPPER_COLOURS) if v[_U0 + i] == 0]
        lo = [c for i, c in enumerate(LOWER_COLOURS) if v[_L0 + i] == 0]
        shared = None
        if v[9] == 0:
            if up and lo:
                shared = up[0] if len(up) == 1 and up == lo else None
            elif up:
                shared = up[0] if len(up) == 1 and up[0] not in LOWER_COLOURS else None
            elif lo:
                shared = lo[0] if len(lo) == 1 and lo[0] not in UPPER_COLOURS else None
            else:
                shared = d.wpick(self._unlisted_both)
        if shared is not None and d.chance(0.85):
            return _colour_word([shared], d), None, True
        upper = _colour_word(up, d) if up else d.wpick(self._unlisted["upper"])
        lower = _colour_word(lo, d) if lo else d.wpick(self._unlisted["lower"])
        return upper, lower, False

    def _parts(self, v: list[int], d: Dice) -> Parts:
        g = "m" if v[0] == 1 else "f"
        t = self._tables[g]
        p = Parts()
        p.S, p.O, p.P = V.PRONOUNS[g]
        p.noun = d.wpick(t["adult" if v[1] == 1 else "child"])
        p.hair = d.wpick(t["hair"][v[2]]).format(h=d.wpick(t["hair_colour"])) if d.chance(0.75) else None
        upper_c, lower_c, p.dress = self._colours(v, d)
        sleeve = "short" if v[7] == 1 else "long"
        if p.dress:
            bare = d.wpick(t["dress"][v[8]]).format(c=upper_c)
            p.upper_bare = f"{bare} {d.wpick(t['sleeve_suffix'][sleeve])}" if d.chance(0.5) else bare
            p.upper, p.lower, p.lower_bare = _a(p.upper_bare), None, None
        else:
            p.upper_bare = _upper_phrase(d.wpick(t["upper"][sleeve]), upper_c, sleeve, t, d)
            p.upper = _a(p.upper_bare)
            tmpl, plural = d.wpick(t["lower"][(v[9], v[8])])
            if "jeans" in tmpl and lower_c.split()[-1] not in V.JEANS_COLOURS:
                tmpl = "{c} trousers"  # jeans in pink or purple read oddly; trousers fit every colour
            p.lower_bare = tmpl.format(c=lower_c)
            p.lower = p.lower_bare if plural else _a(p.lower_bare)
        p.shoes = f"{d.wpick(t['acc_colour'])}{d.wpick(t['shoes'])}" if d.chance(0.6) else None
        p.hat_bare = f"{d.wpick(t['acc_colour'])}{d.wpick(t['hat'])}" if v[3] == 0 and d.chance(0.92) else None
        p.hat = _a(p.hat_bare) if p.hat_bare else None
        p.bags_bare, p.bags = [], []
        for slot, name, places in ((4, "backpack", "backpack_place"), (5, "handbag", "handbag_place"),
                                   (6, "bag", "bag_place")):
            if v[slot] == 0:
                bare = f"{d.wpick(t['acc_colour'])}{d.wpick(t[name])}"
                p.bags_bare.append(bare)
                p.bags.append(_a(bare) + d.wpick(t[places]).format(p=p.P))
        extra = d.wpick(t["extra"]) if d.chance(0.2) else None
        p.extra = (extra[0].format(p=p.P), extra[1]) if extra else None
        view = d.pick(("front", "front", "back", "side"))
        p.pose = (d.pick(V.POSES[view]) if d.chance(0.6) else d.pick(V.POSES["any"])).format(p=p.P)
        p.view = d.pick(V.VIEWS[view])
        p.scene, p.camera = d.pick(V.SCENES), d.pick(V.CAMERAS)
        return p


def _a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _colour_word(names: list[str], d: Dice) -> str:
    """Listed colour(s) as words: 'black', 'dark blue', 'grey', 'black and white'."""
    words = []
    for name in names:
        if name == "gray" and d.chance(0.3):
            name = V.GREY_SPELLING
        elif name in V.SHADES and d.chance(0.1):
            name = d.pick(V.SHADES[name]) + name
        words.append(name)
    return " and ".join(words)


def _upper_phrase(garment: tuple[str, str], colour: str, sleeve: str, t: dict, d: Dice) -> str:
    """'red short-sleeved t-shirt', 'short-sleeved red top', 'gray shirt with long sleeves'."""
    noun, kind = garment
    if "sleeve" in noun or not d.chance(0.85 if kind == "any" else 0.25):
        return f"{colour} {noun}"
    if d.chance(0.3) and kind == "any":
        return f"{colour} {noun} {d.wpick(t['sleeve_suffix'][sleeve])}"
    prefix = d.wpick(t["sleeve_prefix"][sleeve])
    if prefix == "sleeveless" and kind != "any":
        prefix = "short-sleeved"  # a sleeveless t-shirt or polo shirt reads oddly
    return f"{prefix} {colour} {noun}" if d.chance(0.25) else f"{colour} {prefix} {noun}"


def _gendered(entries, g: str, key=lambda e: e) -> Table:
    """Weighted table of entries `(..., gender, weight)` usable for gender `g`."""
    return Table((key(e), e[-1]) for e in entries if e[-2] in ("", g))


def _build_tables() -> dict[str, dict]:
    """Per gender, every weighted vocabulary list as a `Table` (built once per composer)."""
    tables = {}
    for g in ("f", "m"):
        tables[g] = {
            "adult": Table(V.ADULT_NOUNS[g]), "child": Table(V.CHILD_NOUNS[g]),
            "hair": [_gendered(V.HAIR[i], g, key=lambda e: e[0]) for i in (0, 1)],
            "hair_colour": Table(V.HAIR_COLOURS),
            "upper": {s: _gendered([e for e in V.UPPER_GARMENTS if e[1] in (s, "any")], g,
                                   key=lambda e: (e[0], e[1])) for s in ("short", "long")},
            "sleeve_prefix": {s: Table(V.SLEEVE_PREFIX[s]) for s in ("short", "long")},
            "sleeve_suffix": {s: Table(V.SLEEVE_SUFFIX[s]) for s in ("short", "long")},
            "lower": {k: _gendered(e, g, key=lambda x: (x[0], x[1])) for k, e in V.LOWER_GARMENTS.items()},
            "dress": {k: Table(e) for k, e in V.DRESSES.items()},
            "shoes": _gendered(V.SHOES, g, key=lambda e: e[0]), "acc_colour": Table(V.ACCESSORY_COLOURS),
            "hat": Table(V.HATS), "backpack": Table(V.BACKPACKS), "handbag": Table(V.HANDBAGS[g]),
            "bag": Table(V.BAGS), "backpack_place": Table(V.BACKPACK_PLACES),
            "handbag_place": Table(V.HANDBAG_PLACES), "bag_place": Table(V.BAG_PLACES),
            "extra": Table(((e[0], e[1]), e[2]) for e in V.EXTRAS),
        }
    return tables


def expected_marginals(config: ComposerConfig) -> np.ndarray:
    """(27,) float64: P(label == 1) per slot under `config` (what `sample_attributes` converges to)."""
    c = config
    p = np.zeros(NUM_MALS_ATTRIBUTES)
    p_skirt = {True: c.p_skirt_male, False: c.p_skirt_female}
    p_short_lower = 0.0
    for male in (True, False):
        for adult in (True, False):
            w = (c.p_male if male else 1 - c.p_male) * (c.p_adult if adult else 1 - c.p_adult)
            shorts = c.p_shorts if adult else c.p_shorts_child
            p_short_lower += w * (p_skirt[male] * c.p_short_skirt + (1 - p_skirt[male]) * shorts)
    skirt = c.p_male * c.p_skirt_male + (1 - c.p_male) * c.p_skirt_female
    p[0], p[1] = c.p_male, c.p_adult
    p[2] = c.p_male * c.p_long_hair_male + (1 - c.p_male) * c.p_long_hair_female
    p[3] = 1 - c.p_hat
    p[4] = 1 - (c.p_adult * c.p_backpack + (1 - c.p_adult) * c.p_backpack_child)
    p[5] = 1 - (c.p_male * c.p_handbag_male + (1 - c.p_male) * c.p_handbag_female)
    p[6] = 1 - c.p_bag
    p[7] = c.p_short_sleeve + (c.p_short_sleeve_summer - c.p_short_sleeve) * p_short_lower
    p[8], p[9] = p_short_lower, 1 - skirt
    wu, wl = c.upper_colour_weights, c.lower_colour_weights
    su, sl = sum(wu.values()), sum(wl.values())
    dress = skirt * c.p_dress
    for i, col in enumerate(UPPER_COLOURS):
        p[_U0 + i] = 1 - wu.get(col, 0) / su
    for i, col in enumerate(LOWER_COLOURS):
        p[_L0 + i] = 1 - (dress * wu.get(col, 0) / su + (1 - dress) * wl.get(col, 0) / sl)
    return p
