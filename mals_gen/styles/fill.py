"""Fill a style template with the attribute phrases of a known description (the prompt captioner).

A sketch image is drawn from its prompt, so its styled caption must say exactly what the prompt
says, in the template's shape. The prompt is read into noun phrases by slot class ("a light purple
jacket" -> upper: ["light", "purple", "jacket"]); each template unit (modifier slots + a noun slot,
"[colour] [upper]") takes the next phrase of its class with the phrase's own modifiers, so a colour
never moves to another garment. Units with no phrase are dropped (with their article); phrases the
template has no room for are appended in one closing sentence, so no attribute is lost.
"""
from __future__ import annotations

import re
from collections import deque
from collections.abc import Sequence

from ..attrs import lexicon as L
from .blank import _slot, spell

_MODIFIERS = {"[colour]", "[length]", "[pattern]"}
_NOUNS = {"[person]", "[upper]", "[lower]", "[dress]", "[outfit]", "[hat]", "[bag]", "[hair]"}
_ARTICLES = {"a", "an", "the"}
_GARMENT_SLOTS = ("[upper]", "[lower]", "[dress]", "[outfit]", "[other]")
_SLEEVE_WORDS = {w for w, (kind, _) in L.LEX.items() if kind in (L.SLEEVED, L.SLEEVELESS)}
_SUBJECT_NEXT = {"is", "was", "has", "had", "wears", "wore", "carries", "holds", "also", "appears", "seems",
                 "looks", "walks", "stands", "does", "can", "might", "may", "and", "who"}


def _grows(token: str, slot: str | None, pending: list[str]) -> bool:
    """Does `token` extend the pending modifier run ("long", "curly", "sleeve", "and" ...)?"""
    if slot in _MODIFIERS or token in _SLEEVE_WORDS:
        return True
    return bool(pending) and (token == "and" or L.LEX.get(token, (None,))[0] in (None, L.NOUN)
                              and token.isalpha() and slot is None)


def read_phrases(text: str) -> tuple[dict[str, deque], int | None]:
    """Slot class -> queue of phrases (token lists) in text order, and the gender of the person word.

    A modifier run that ends without a slot noun ("white jumper", "long sleeves") is kept as an
    `[other]` phrase when it holds a noun the lexicon does not slot."""
    queues: dict[str, deque] = {}
    pending: list[str] = []
    gender = None

    def push(slot: str, phrase: list[str]) -> None:
        while phrase and phrase[-1] == "and":
            phrase.pop()
        if phrase:
            queues.setdefault(slot, deque()).append(phrase)

    prev_person = False
    for token in L.tokenize(text):
        slot = _slot(token)
        if slot == "[person]":
            if gender is None:
                gender = _gender(token)
            if prev_person:
                queues["[person]"][-1].append(token)     # "teenage girl", "middle aged man": one person
            else:
                push(slot, [token])
            prev_person, pending = True, []
            continue
        prev_person = False
        if slot in _NOUNS:
            push(slot, [*pending, token])
            pending = []
        elif _grows(token, slot, pending):
            pending.append(token)
        else:
            if any(_slot(t) not in _MODIFIERS for t in pending if t != "and"):
                push("[other]", pending)
            pending = []
    return queues, gender


def _gender(token: str) -> int | None:
    payload = L.LEX[token][1]
    return payload[2][0] if payload[2] is not None else None


_FORMS = {L.MALE: ("he", "his", "him"), L.FEMALE: ("she", "her", "her"), None: ("they", "their", "them")}


def _pronoun(gender: int | None, form: int) -> str:
    """form 0 subject, 1 possessive, 2 object."""
    return _FORMS[gender][form]


def _pronoun_form(prev: str, nxt: str) -> int:
    if prev in ("", ".", ";", ",", "and", "but") or nxt in _SUBJECT_NEXT:
        return 0
    if nxt.startswith("[") and nxt != "[pronoun]" or nxt.isalpha():
        return 1
    return 2


def _closing(queues: dict[str, deque], gender: int | None) -> str:
    """One sentence with the phrases the template had no room for."""
    worn = [spell(p) for s in _GARMENT_SLOTS for p in queues.get(s, ())]
    has = [spell(p) for s in ("[hair]", "[hat]", "[bag]") for p in queues.get(s, ())]
    parts = []
    if worn:
        parts.append("wears " + " and ".join(worn))
    if has:
        parts.append("has " + " and ".join(has))
    return f"{_pronoun(gender, 0).capitalize()} also {', and '.join(parts)}." if parts else ""


_SENTENCE = re.compile(r"[^.;!?]+[.;!?]?")


def _negated(sentence: str) -> bool:
    return any(L.LEX.get(t, (None,))[0] == L.NEG or t == "nothing" for t in L.tokenize(sentence))


def _without_negation(sentence: str) -> str:
    """The sentence up to the comma before its negated clause; "" when the negation has no comma."""
    if not _negated(sentence):
        return sentence.strip()
    head, _, tail = sentence.rpartition(",")
    while head and _negated(tail):
        head, _, tail = head.rpartition(",") if _negated(head) else (head, "", "")
        if not _negated(head):
            return head.strip() + " ."
    return ""


def fill_template(template: str | Sequence[str], description: str) -> str:
    """The template(s) (from `blank_attributes`) filled with `description`'s phrases; nothing left out.

    Several templates are filled in turn while phrases remain (a human often writes a second
    sentence for the bags), then one closing sentence takes the rest. Template sentences with a
    negation ("is not carrying a [bag]") are dropped: filled with a present object they would say
    the opposite. The description's own negated sentences ("He has nothing in his hands.") are kept
    at the end, since absences are labels too."""
    templates = [template] if isinstance(template, str) else list(template)
    negations = [s.strip() for s in _SENTENCE.findall(description) if _negated(s)]
    queues, gender = read_phrases(" ".join(s for s in _SENTENCE.findall(description) if not _negated(s)))
    people = list(queues.pop("[person]", ()))
    named = [p for p in people if any(_gender(t) is not None for t in p)] or people
    person_word = spell(named[0]) if named else "person"
    out: list[str] = []
    for i, one in enumerate(templates):
        if i and not any(queues.values()):
            break
        out += _fill(" ".join(_without_negation(s) for s in _SENTENCE.findall(one)).split(), queues, gender,
                     person_word)
    return _tidy(" ".join([*out, _closing(queues, gender), *negations]))


def _fill(tokens: list[str], queues: dict[str, deque], gender: int | None, person_word: str) -> list[str]:
    """One template's tokens with its slots filled from (and popping) `queues`."""
    out: list[str] = []
    for i, tok in enumerate(tokens):
        if tok in _MODIFIERS or tok in _SLEEVE_WORDS:
            continue                                    # a phrase brings its own modifiers
        if tok == "[pronoun]":
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            out.append(_pronoun(gender, _pronoun_form(out[-1] if out else "", nxt)))
        elif tok == "[person]":
            out.append(person_word)
        elif tok in _NOUNS:
            queue = queues.get(tok)
            if queue:
                phrase = queue.popleft()
                if phrase[-1].endswith("s") and phrase[-1] != "dress" and out and out[-1] in ("a", "an"):
                    out.pop()                           # "a blue jeans" -> "blue jeans"
                out.append(spell(phrase))
            elif out and out[-1] in _ARTICLES:
                out.pop()
        else:
            out.append(tok)
    if out and out[-1] not in (".", "!", "?"):
        out.append(".")
    return out


_DANGLING = re.compile(r"\b(and|or|with|in|of|wearing|wears|carrying|carries|holding|has|a|an|the)\s*(?=[.,;])")


def _tidy(text: str) -> str:
    """Articles that agree, no dangling words or doubled punctuation left by dropped units."""
    for _ in range(3):
        text = _DANGLING.sub("", text)
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        text = re.sub(r"([,;])[,;]+", r"\1", text)
        text = re.sub(r"[,;]+\.", ".", text)
    text = re.sub(r"\b([Aa])n? (?=[aeiou])", r"\1n ", text)
    text = re.sub(r"\b([Aa])n (?=[^aeiou\W])", r"\1 ", text)
    text = re.sub(r"([.!?;] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), " ".join(text.split()))
    return text[:1].upper() + text[1:]
