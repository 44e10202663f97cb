"""Blank the attribute words of a description so that only its style remains.

Uses the attribute miner's lexicon (`mals_gen.attrs.lexicon`): colours and tones, lengths and
patterns, garments, hats and bags, footwear, person words (gender, age) and gendered pronouns each
become a slot word. What is left (sentence shape, order, length, wording) is the style:
"A woman in a red coat carries a black bag." -> "a [person] in a [colour] [upper] carries a [colour] [bag] ."
"""
from __future__ import annotations

from ..attrs import lexicon as L

_NOUN_SLOTS = {L.PERSON: "[person]", L.UPPER: "[upper]", L.LOWER: "[lower]", L.DRESS: "[dress]",
               L.BOTH: "[outfit]", L.HAT: "[hat]", L.BACKPACK: "[bag]", L.HANDBAG: "[bag]", L.BAG: "[bag]",
               L.HAIR: "[hair]", L.HAIRLONG: "[hair]", L.BALD: "[hair]"}
_KIND_SLOTS = {L.COLOUR: "[colour]", L.TONE: "[colour]", L.LEN: "[length]", L.PATTERN: "[pattern]"}
# Footwear has no attribute slot, but a template that names "white sneakers" would give shoes to a
# person whose description has none: the shoes are a slot filled from the description, or dropped.
FOOTWEAR = frozenset(("shoes", "shoe", "sneakers", "sneaker", "boots", "boot", "heels", "sandals", "slippers",
                     "loafers", "trainers", "flats", "footwear"))
#: every slot word a template can hold
SLOTS = tuple(sorted(set(_NOUN_SLOTS.values()) | set(_KIND_SLOTS.values()) | {"[pronoun]", "[shoes]"}))


def _slot(token: str) -> str | None:
    if token in FOOTWEAR:
        return "[shoes]"
    kind, payload = L.LEX.get(token, (None, None))
    if kind in _KIND_SLOTS:
        return _KIND_SLOTS[kind]
    if kind == L.NOUN:
        return _NOUN_SLOTS.get(payload[0])
    if (kind == L.PRON or kind == L.DET) and payload is not None:   # he / she / his / her
        return "[pronoun]"
    return None


# joined lexicon tokens spelled as words again ("tshirt" -> "t shirt"); the miner joins them again
SPELL = {repl: phrase for phrase, repl in L.PHRASES.items() if phrase.replace(" ", "") == repl}
SPELL.update(onback="on the back", ontop="on top", hason="has on")


def spell(tokens: list[str]) -> str:
    return " ".join(SPELL.get(t, t) for t in tokens)


def blank_attributes(text: str) -> str:
    """The style template of `text`: attribute words replaced by slots, runs of a colour slot merged."""
    out: list[str] = []
    for token in L.tokenize(text):
        word = _slot(token) or token
        if word == "[colour]" and out and out[-1] == "[colour]":
            continue  # "dark navy blue" is one colour slot
        out.append(word)
    return spell(out)
