"""Style templates as the fill reads them: sentences of words, each cut into units.

A template (from `blank.py`) is split into sentences; a sentence loses its modifier slots (the
prompt's phrase brings its own colour and length) and its negated clauses; its words are cut into
units, each a connector ("and", ",", "with"), words and at most one noun slot:
"the [person] | has [hair] | and wears a [upper] | , [lower]". `shape` is what is left: two
templates with one shape are one style. `follow_up_frames` are the sentences that can follow a
first one ("[pronoun] carries a [bag]").
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from ..attrs import lexicon as L
from .blank import FOOTWEAR

MODIFIERS = {"[colour]", "[length]", "[pattern]"}
NOUNS = {"[person]", "[upper]", "[lower]", "[dress]", "[outfit]", "[hat]", "[bag]", "[hair]", "[shoes]"}
CONNECTORS = {",", "and", "with", "or"}
SLEEVE_WORDS = {w for w, (kind, _) in L.LEX.items() if kind in (L.SLEEVED, L.SLEEVELESS)}
FUNCTION_KINDS = {L.DET, L.PRON, L.AND, L.COMMA, L.IN, L.LINK, L.WEARV, L.CARRYV, L.SKIP, L.BOUND}
POSE_WORDS = {"walking", "standing", "looking", "going", "waiting", "talking", "riding", "sitting", "crossing",
               "using"}
SUBJECT_NEXT = {"is", "was", "has", "had", "wears", "wore", "carries", "holds", "also", "appears", "seems",
                 "looks", "walks", "stands", "does", "can", "might", "may", "and", "who"}
_SENTENCE = re.compile(r"[^.;!?]+[.;!?]?")


def foreign(word: str) -> bool:
    """A template word that names something (a thing, a place, a look): the prompt may not have it."""
    if word in NOUNS or word == "[pronoun]":
        return False
    kind = L.LEX.get(word, (None,))[0]
    return not (kind in FUNCTION_KINDS or kind == L.STOP and word not in POSE_WORDS)


def clean(sentence: str) -> list[str]:
    """A template sentence's words without modifier slots (a phrase brings its own) or end marks;
    [] for a sentence that says a colour after its noun ("[pronoun] [lower] are [colour]"): the
    phrase cannot be split to fit it."""
    words = [w for w in sentence.split() if w not in (".", "!", "?", ";")]
    out: list[str] = []
    for i, w in enumerate(words):
        if w in MODIFIERS or w in SLEEVE_WORDS:
            j = i + 1
            while j < len(words) and (words[j] in MODIFIERS or words[j] in SLEEVE_WORDS):
                j += 1
            following, after = (words[j:j + 2] + ["", ""])[:2]
            if w in MODIFIERS and (following == "" or following in CONNECTORS and after not in MODIFIERS):
                return []
            continue
        nxt = next((x for x in words[i + 1:] if x not in MODIFIERS and x not in SLEEVE_WORDS), "")
        if w in ("sleeve", "sleeves") and nxt in NOUNS:
            continue                                    # "[length] sleeve [upper]": part of the phrase
        if w in ("and", ",") and i and words[i - 1] in MODIFIERS and words[i + 1:i + 2] and words[i + 1] in MODIFIERS:
            continue                                    # "[colour] and [colour] [upper]"
        out.append("[shoes]" if w in FOOTWEAR else w)
    return out


def units(words: list[str]) -> list[list[str]]:
    """Cut before each connector and after each noun slot: "and wears a [upper]" is one unit."""
    units: list[list[str]] = []
    cur: list[str] = []
    for w in words:
        if w in CONNECTORS and cur and not all(x in CONNECTORS for x in cur):
            units.append(cur)
            cur = []
        cur.append(w)
        if w in NOUNS:
            units.append(cur)
            cur = []
    return units + [cur] if cur else units


def lead(unit: list[str]) -> tuple[list[str], list[str]]:
    k = 0
    while k < len(unit) and unit[k] in CONNECTORS:
        k += 1
    return unit[:k], unit[k:]


def is_verb(word: str) -> bool:
    return word in ("has", "have") or L.LEX.get(word, (None,))[0] in (L.WEARV, L.CARRYV, L.LINK)


def sentences(template: str) -> list[list[str]]:
    """A template's sentences as cleaned word lists (`clean`)."""
    return [clean(s) for s in _SENTENCE.findall(template) if s.strip()]


def negated(units: list[list[str]]) -> list[bool]:
    """Which units say an absence ("without a [hat]", "does not carry any [bag]", and what follows
    them up to the next comma: "no [hat] or [bag]"): filled with a present object they would say
    the opposite, so the fill leaves them out."""
    out, on = [], False
    for unit in units:
        on = on and unit[0] != ","
        on = on or any(L.LEX.get(w, (None,))[0] == L.NEG or w == "nothing" for w in unit)
        out.append(on)
    return out


def follow_up_frames(templates: Sequence[str]) -> list[list[str]]:
    """The sentences of `templates` that can follow a first one: a subject ([pronoun], or the
    [person] said again as a pronoun) and a verb, with at least one slot ("[pronoun] has a [bag]")."""
    frames, seen = [], set()
    for template in templates:
        for words in sentences(template):
            if len(words) > 1 and words[0] in ("a", "an", "the", "this") and words[1] == "[person]":
                words = words[1:]
            if len(words) < 3 or words[0] not in ("[pronoun]", "[person]") or words[1].endswith("ing") or \
                    not (words[1] in SUBJECT_NEXT or is_verb(words[1])):
                continue                                # "a [person] wearing ...": no finite verb
            words = ["[pronoun]", *words[1:]]
            if any(w in NOUNS and w != "[person]" for w in words) and tuple(words) not in seen:
                seen.add(tuple(words))
                frames.append(words)
    return frames


def shape(template: str) -> str:
    """What the fill writes of `template`: its sentences without modifier slots, negated clauses or
    words that name something ("a [colour] and [colour] [upper]" and "a [upper]" are one shape)."""
    out = []
    for words in sentences(template):
        cut = units(words)
        kept = [u for u, neg in zip(cut, negated(cut)) if not neg and (u[-1] in NOUNS or not any(map(foreign, u)))]
        out.append(" ".join(w for u in kept for w in u if not foreign(w)))
    return " . ".join(w for w in out if w)
