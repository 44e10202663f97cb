"""Sentence templates of the prompt composer: turn the chosen phrases of one person into text.

The composer (composer.py) picks every phrase so that it agrees with the attribute vector; the
templates here only decide order and wording: CUHK-PEDES-like sentences ("A young woman with long
black hair is wearing a red t-shirt, blue jeans and white sneakers. She carries a black
backpack.") or short prompt-like tag lists ("full body photo of a man walking on the street, gray
hoodie, black trousers, backpack, surveillance camera view"). Every template names the subject
with a gendered noun, the upper and lower garment (or the dress) with colour, and every bag.
"""
from __future__ import annotations

from bisect import bisect_right

import numpy as np

from . import vocabulary as V


class Table:
    """A weighted choice: `pick(u)` maps a uniform number in [0, 1) to an item."""
    __slots__ = ("cum", "items", "total")

    def __init__(self, pairs):
        pairs = [(item, float(w)) for item, w in pairs if w > 0]
        self.items = tuple(item for item, _ in pairs)
        self.cum = list(np.cumsum([w for _, w in pairs]))
        self.total = self.cum[-1]

    def pick(self, u: float):
        return self.items[min(bisect_right(self.cum, u * self.total), len(self.items) - 1)]


class Dice:
    """Uniform numbers drawn from the numpy generator in blocks (one numpy call per prompt is the
    difference between ~20 and ~200 microseconds); draws happen in a fixed order -> deterministic."""
    __slots__ = ("_i", "_rng", "_u")

    def __init__(self, rng: np.random.Generator, n: int = 64):
        self._u = rng.random(n).tolist()
        self._i = 0
        self._rng = rng

    def next(self) -> float:
        i = self._i
        if i >= len(self._u):
            self._u.extend(self._rng.random(32).tolist())
        self._i = i + 1
        return self._u[i]

    def chance(self, p: float) -> bool:
        return self.next() < p

    def pick(self, seq):
        return seq[int(self.next() * len(seq))]

    def wpick(self, table: Table):
        return table.pick(self.next())


class Parts:
    """The phrases of one description. `*_bare` forms have no article (for tag lists)."""
    __slots__ = ("O", "P", "S", "bags", "bags_bare", "camera", "dress", "extra", "hair", "hat", "hat_bare",
                 "lower", "lower_bare", "noun", "pose", "scene", "shoes", "upper", "upper_bare", "view")


_CARRY = Table(V.CARRY_VERBS)
_HOLD = ("is holding", "holds", "is carrying", "carries")
_WEAR = ("is wearing", "is wearing", "wears", "wears", "is dressed in", "has on")
_HAT_SENTENCES = ("{S} is wearing {hat}.", "{S} has {hat} on {P} head.", "{S} wears {hat}.",
                  "{S} also wears {hat}.", "On {P} head is {hat}.")
_SCENE_SENTENCES = ("{S} is {pose} {scene}.", "{S} appears to be {pose} {scene}.",
                    "The picture was taken {scene}.", "{S} is {pose}.")


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _a(phrase: str) -> str:
    return ("an " if phrase[0] in "aeiou" else "a ") + phrase


def _join(items: list[str], d) -> str:
    """'a', 'a and b', 'a, b and c' (sometimes with the serial comma)."""
    if len(items) < 3:
        return " and ".join(items)
    last = ", and " if d.chance(0.25) else " and "
    return ", ".join(items[:-1]) + last + items[-1]


def _clothes(p: Parts, d, hat: bool, shoes: bool = True) -> str:
    items = [p.upper] + ([p.lower] if p.lower else []) + ([p.shoes] if shoes and p.shoes else [])
    return _join(items + [p.hat] if hat and p.hat else items, d)


def _top_and_bottom(p: Parts, d) -> str:
    return p.upper if p.dress else _join([p.upper, p.lower], d)


def _rest(p: Parts, d, hat: bool, hair: bool, bags: bool = True, scene: bool = False) -> str:
    """The follow-up sentences: hair, hat, bags, an extra detail, maybe where it happens."""
    out = []
    S = _cap(p.S)
    if hair and p.hair:
        out.append(f"{S} has {p.hair}.")
    if hat and p.hat:
        out.append(d.pick(_HAT_SENTENCES).format(S=S, hat=p.hat, P=p.P))
    if bags and p.bags:
        verb = d.wpick(_CARRY) if len(p.bags_bare) > 1 or "hand" not in p.bags[0] else d.pick(_HOLD)
        out.append(f"{S} {verb} {_join(p.bags, d)}.")
    elif bags and d.chance(0.12):
        out.append(d.pick(V.NOTHING_CARRIED).format(S=S, p=p.P, P=_cap(p.P), s=""))
    if p.extra:
        out.append(f"{S} {p.extra[1]} {p.extra[0]}.")
    if len(out) > 1 and d.chance(0.3):
        out[0], out[-1] = out[-1], out[0]
    if scene and d.chance(0.35):
        out.append(d.pick(_SCENE_SENTENCES).format(S=S, pose=p.pose, scene=p.scene))
    return " ".join([""] + out) if out else ""


def _hair_with(p: Parts, d) -> tuple[str, bool]:
    """(' with long black hair', False) or ('', True): say the hair now or in a later sentence."""
    if p.hair and d.chance(0.6):
        return f" with {p.hair}", False
    return "", True


def _t_wearing(p: Parts, d) -> str:
    hw, later = _hair_with(p, d)
    in_list = d.chance(0.5)
    return (f"{_cap(_a(p.noun))}{hw} {d.pick(_WEAR)} {_clothes(p, d, in_list)}."
            + _rest(p, d, not in_list, later, scene=True))


def _t_pose_first(p: Parts, d) -> str:
    return (f"{_cap(_a(p.noun))} is {p.pose} {p.scene}. {_cap(p.S)} {d.pick(_WEAR)} "
            f"{_clothes(p, d, False)}." + _rest(p, d, True, True))


def _t_in(p: Parts, d) -> str:
    shoes = f" {_cap(p.S)} is wearing {p.shoes}." if p.shoes and d.chance(0.5) else ""
    return (f"{_cap(_a(p.noun))} in {_top_and_bottom(p, d)} is {p.pose} {p.scene}.{shoes}"
            + _rest(p, d, True, True))


def _t_top_bottom(p: Parts, d) -> str:
    if p.dress or p.upper_bare.endswith(" top") or " top " in p.upper_bare:
        return _t_wearing(p, d)  # "a top on top" reads badly
    lead = d.pick(("The", "This"))
    hair = f" has {p.hair} and" if p.hair and d.chance(0.5) else ""
    return (f"{lead} {p.noun}{hair} is wearing {p.upper} on top and {p.lower} on the bottom."
            + _rest(p, d, True, not hair, scene=True))


def _t_there_is(p: Parts, d) -> str:
    return (f"There is {_a(p.noun)} {p.pose} {p.scene}. {_cap(p.S)} {d.pick(_WEAR)} "
            f"{_clothes(p, d, False)}." + _rest(p, d, True, True))


def _t_one_sentence(p: Parts, d) -> str:
    hw, later = _hair_with(p, d)
    bags = f", carrying {_join(p.bags, d)}" if p.bags else ""
    text = f"{_cap(_a(p.noun))}{hw} wearing {_clothes(p, d, bool(p.hat))}{bags}."
    return text + (_rest(p, d, False, later, bags=False) if later or p.extra else "")


def _t_wearing_first(p: Parts, d) -> str:
    return (f"Wearing {_top_and_bottom(p, d)}, {_a(p.noun)} is {p.pose} {p.scene}."
            + _rest(p, d, True, True))


def _t_also(p: Parts, d) -> str:
    lead = d.pick(("The", "This", "A"))
    noun = f"{lead} {p.noun}" if lead != "A" else _cap(_a(p.noun))
    text = f"{noun} is wearing {p.upper}."
    S = _cap(p.S)
    if p.lower:
        shoes = f" and {p.shoes}" if p.shoes else ""
        text += f" {S} also wears {p.lower}{shoes}."
    elif p.shoes:
        text += f" {S} also wears {p.shoes}."
    return text + _rest(p, d, True, True, scene=True)


_SENTENCE_TEMPLATES = (_t_wearing, _t_wearing, _t_wearing, _t_pose_first, _t_in, _t_top_bottom,
                       _t_there_is, _t_one_sentence, _t_wearing_first, _t_also, _t_also)


def _tags(p: Parts, d, hair: bool) -> list[str]:
    """Tag-list items: garments first, then accessories in random order."""
    tags = [p.upper_bare] + ([p.lower_bare] if p.lower_bare else [])
    more = list(p.bags_bare)
    if p.hat_bare:
        more.append(p.hat_bare)
    if p.shoes and d.chance(0.5):
        more.append(p.shoes)
    if hair and p.hair:
        more.append(p.hair)
    if p.extra:
        more.append(p.extra[0])
    if len(more) > 1:
        more.sort(key=lambda _: d.next())
    return tags + more


def _p_lead(p: Parts, d) -> str:
    tail = [p.view] if d.chance(0.4) else []
    return ", ".join([f"{d.pick(V.PHOTO_LEADS)} of {_a(p.noun)} {p.pose} {p.scene}", *_tags(p, d, True),
                      *tail, p.camera])


def _p_tags(p: Parts, d) -> str:
    return ", ".join([_a(p.noun), *_tags(p, d, True), p.view, p.scene, p.camera])


def _p_camera(p: Parts, d) -> str:
    wear = f"wearing {p.upper_bare}" + (f" and {p.lower_bare}" if p.lower_bare else "")
    rest = _tags(p, d, d.chance(0.5))[2 if p.lower_bare else 1:]
    return ", ".join([p.camera, f"{_a(p.noun)} {p.pose}", wear, *rest, p.scene])


_PROMPT_TEMPLATES = (_p_lead, _p_lead, _p_tags, _p_camera)


def render(p: Parts, d, prompt_style: bool) -> str:
    """One description from the parts: a tag-list prompt or CUHK-PEDES-like sentences."""
    return d.pick(_PROMPT_TEMPLATES if prompt_style else _SENTENCE_TEMPLATES)(p, d)
