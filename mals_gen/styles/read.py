"""Read a description into what a style template is filled with, quoting the description's words.

`read_description(text)` gives the person ("middle-aged woman") and its gender, one queue of
attribute phrases per slot class in text order, and the context no slot takes (pose, scene,
camera, extras such as "a face mask"). A phrase is a span of the text itself, with the words the
lexicon does not know ("brown short-sleeved button-up shirt", "black leather shoes") and its tail
("white shirt with no sleeves", "brown backpack over his shoulders", "long hair tied in a
ponytail"), so a styled caption says what the description says in the description's words.
Slot classes are those of `blank.py` plus `[other]`: a garment the lexicon does not know.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import NamedTuple

from ..attrs import lexicon as L
from .blank import _slot

_MODIFIERS = {"[colour]", "[length]", "[pattern]"}
_SENTENCE_END = {".", "!", "?", ";"}
_SLEEVE_WORDS = {w for w, (kind, _) in L.LEX.items() if kind in (L.SLEEVED, L.SLEEVELESS)}
_BODY = {"back", "shoulder", "shoulders", "hand", "hands", "arm", "arms", "body", "head", "chest", "waist"}
_PLACE_PREPS = {"on", "over", "in", "across", "under"}
_SIDES = {"left", "right", "both"}
_HAIR_TAIL = {"tied", "worn", "pulled", "in", "into", "a", "up", "back", "loose", ""}
# hair words the attribute lexicon leaves out (they decide no slot) but a template's [hair] takes
_HAIR_NOUNS = {"bob", "bobcut", "crewcut", "buzzcut"}
_HAIR_CUTS = {"buzz", "crew", "pixie", "bowl"}           # "a buzz cut": "cut" is a hair noun after these
_POSE_WORDS = {"walking", "standing", "looking", "going", "waiting", "talking", "riding", "sitting",
               "crossing", "using", "seen"}
_FUNCTION_KINDS = {L.DET, L.PRON, L.AND, L.COMMA, L.END, L.IN, L.LINK, L.WEARV, L.CARRYV, L.SKIP, L.BOUND}


class Phrase(NamedTuple):
    text: str                                       # quoted from the description
    noun: str                                       # its head noun (lexicon token): singular or plural


@dataclass
class Reading:
    person: str = "person"                          # the person phrase, "person" when the text has none
    gender: int | None = None                       # lexicon.MALE / FEMALE, None when unknown
    phrases: dict[str, deque] = field(default_factory=dict)   # slot -> Phrase queue in text order
    context: list[tuple[str, str]] = field(default_factory=list)  # (kind, text): sentence / pose / fragment


def _kind(word: str):
    return L.LEX.get(word, (None, None))[0]


def _unknown(word: str) -> bool:
    """A word the lexicon does not know (or a joined term that left no token): part of a phrase."""
    return word == "" or (word.isalpha() and word not in L.LEX)


def _person_gender(word: str) -> int | None:
    payload = L.LEX[word][1]
    return payload[2][0] if payload[2] is not None else None


def _quote(text: str, a: int, b: int) -> str:
    """text[a:b] widened to the digits the tokens skip ("35mm", "number 3"), its first letter lowered
    unless the word is an acronym ("CCTV")."""
    while a > 0 and text[a - 1].isdigit():
        a -= 1
    while b < len(text) and (text[b].isdigit() or text[b] == " " and text[b + 1:b + 2].isdigit()):
        b += 1
    s = text[a:b]
    return s[0].lower() + s[1:] if s[:1].isupper() and not s[1:2].isupper() else s


def _grows(word: str, slot: str | None, pending: list) -> bool:
    """Does `word` extend the pending modifier run ("long", "curly", "leather", "and" ...)?"""
    if slot in _MODIFIERS or word in _SLEEVE_WORDS:
        return True
    # "short sleeve shirt", "white paper bag"; a run that meets no slot noun is not a phrase (`_phrases`)
    return bool(pending) and (word == "and" or _unknown(word) or _kind(word) == L.NOUN and slot is None)


def _tail(toks: list, j: int, slot: str) -> int:
    """The index of the last token of the tail that belongs to the phrase whose noun is toks[j]."""
    words = [t[0] for t in toks]
    n = len(words)
    if slot in ("[bag]", "[hat]"):                  # "over his shoulders", "on her back", "in her left hand"
        if j + 1 < n and words[j + 1] == "onback":
            return j + 1
        k = j + 1
        if k < n and words[k] in _PLACE_PREPS:
            k += 1
            if k < n and _kind(words[k]) in (L.DET, L.PRON):
                k += 1
            if k < n and words[k] in _SIDES:
                k += 1
            if k < n and words[k] in _BODY:
                return k
    elif slot == "[hair]":                          # "tied in a ponytail", "worn loose", "in a bun"
        k = j + 1
        while k < n and k <= j + 4 and words[k] in _HAIR_TAIL or k < n and k <= j + 4 and _unknown(words[k]):
            k += 1
        if k > j + 1 and (k == n or words[k] in _SENTENCE_END or words[k] in (",", "and") or _verb(words[k])):
            return k - 1
        if k > j + 1 and k < n and _hair(words, k):
            return k
    else:
        if words[j + 1:j + 2] == ["with"]:          # "with short sleeves", "with no sleeves"
            k = j + 2
            while k < n and k <= j + 4 and (_kind(words[k]) in (L.LEN, L.NEG, L.TONE) or words[k] in _SLEEVE_WORDS):
                k += 1
            if k < n and words[k] in ("sleeve", "sleeves"):
                j = k
        if words[j + 1:j + 2] == ["ontop"]:         # "a red shirt on top and blue jeans on the bottom"
            return j + 1
        if words[j + 1:j + 4] == ["on", "the", "bottom"]:
            return j + 3
    return j


def _verb(word: str) -> bool:
    return word in ("has", "have") or _kind(word) in (L.LINK, L.WEARV, L.CARRYV)


def _hair(words: list[str], k: int) -> bool:
    """Is words[k] a hair noun ("hair", "ponytail", "bob", the "cut" of "buzz cut")?"""
    w = words[k]
    return _slot(w) == "[hair]" or w in _HAIR_NOUNS or w == "cut" and k > 0 and words[k - 1] in _HAIR_CUTS


def _phrases(toks: list) -> tuple[list, list]:
    """(phrases, people) of one sentence: (slot, first, last, noun) token indices; (first, last, gender)."""
    phrases, people, pending = [], [], []
    i, n = 0, len(toks)
    words = [t[0] for t in toks]
    while i < n:
        word = toks[i][0]
        slot = "[hair]" if _hair(words, i) else _slot(word)
        if slot == "[person]":
            start = i
            while start > 0 and _unknown(toks[start - 1][0]):   # "young man", "older woman"
                start -= 1
            if people and people[-1][1] == i - 1:                # "female pedestrian": one person
                first, _, gender = people.pop()
                start = first
            else:
                gender = None
            people.append((start, i, gender if gender is not None else _person_gender(word)))
            pending = []
        elif slot is not None and slot not in _MODIFIERS and slot != "[pronoun]":
            cut = _garment_break(toks, pending)
            if cut:                                              # "gray jumper and black trousers"
                phrases.append(("[other]", pending[0], pending[cut - 1], pending[cut - 1]))
                pending = pending[cut + 1:]
            start = pending[0] if pending else i
            while start > 0 and (_unknown(toks[start - 1][0]) or _kind(toks[start - 1][0]) == L.NOUN
                                 and _slot(toks[start - 1][0]) is None):   # "canvas shoes", "paper bag"
                start -= 1
            end = _tail(toks, i, slot)
            phrases.append((slot, start, end, i))
            pending, i = [], end + 1
            continue
        elif word == "," and pending and i + 1 < n and (_unknown(toks[i + 1][0]) or
                                                        _slot(toks[i + 1][0]) in _MODIFIERS) \
                and all(_kind(toks[k][0]) != L.NOUN for k in pending):
            pass                                                 # "short, neat hair": one phrase
        elif word == "" or _grows(word, slot, pending):
            if word or pending:
                pending.append(i)
        else:
            # a run ending in a word the lexicon lacks names a garment ("white jumper"); a run before
            # a known non-slot noun ("black briefcase", "long sleeves") stays in the context as written
            run = [toks[k][0] for k in pending if toks[k][0] not in ("and", "")]
            if any(_unknown(w) for w in run):
                while toks[pending[-1]][0] in ("and", ""):
                    pending.pop()
                phrases.append(("[other]", pending[0], pending[-1], pending[-1]))   # "white jumper"
            pending = []
        i += 1
    return phrases, people


def _garment_break(toks: list, pending: list[int]) -> int:
    """The position in `pending` of an "and" that follows a garment noun the lexicon lacks (0: none)."""
    for k in range(1, len(pending)):
        before = toks[pending[k - 1]][0]
        if toks[pending[k]][0] == "and" and before and _unknown(before):
            return k
    return 0


def _split(toks: list, ends: set) -> list[list]:
    """Runs of token indices split after each token whose word is in `ends` (kept in the run)."""
    runs, run = [], []
    for i, t in enumerate(toks):
        run.append(i)
        if t[0] in ends:
            runs.append(run)
            run = []
    return [r for r in runs + [run] if r]


def _is_content(word: str, has_phrase: bool) -> bool:
    """A word that says something no slot says (a pose, a place, a camera, an extra)."""
    if word == "" or word in ("," ,) or word in _SENTENCE_END:
        return False
    kind = _kind(word)
    if kind in _FUNCTION_KINDS or kind == L.STOP and word not in _POSE_WORDS:
        return False
    return not (has_phrase and word in _BODY)


def read_description(text: str) -> Reading:
    """The person, gender, phrases and context of `text` (module docstring)."""
    toks = L.tokenize_spans(text)
    reading = Reading()
    sentences = _split(toks, _SENTENCE_END)
    found = []                                      # per sentence: (indices, phrases, people, negated)
    people_all = []
    for idx in sentences:
        sub = [toks[i] for i in idx]
        phrases, people = _phrases(sub)
        inside = {k for _, a, b, _ in phrases for k in range(a, b + 1)}
        negated = any(_kind(t[0]) == L.NEG or t[0] == "nothing" for k, t in enumerate(sub) if k not in inside)
        found.append((idx, phrases, people, negated))
        if not negated:
            people_all += [(idx[a], idx[b], g) for a, b, g in people]
    named = [p for p in people_all if p[2] is not None] or people_all
    main = named[0] if named else None
    if main is not None:
        reading.person, reading.gender = _quote(text, toks[main[0]][1], toks[main[1]][2]), main[2]
    else:
        reading.gender = next((L.LEX[t[0]][1] for t in toks if _kind(t[0]) in (L.PRON, L.DET)
                               and L.LEX[t[0]][1] is not None), None)
    for idx, phrases, _, negated in found:
        if negated:                                 # "He has nothing in his hands.": kept as said
            reading.context.append(("sentence", text[toks[idx[0]][1]:toks[idx[-1]][2]]))
            continue
        for slot, a, b, noun in phrases:
            phrase = Phrase(_quote(text, toks[idx[a]][1], toks[idx[b]][2]), toks[idx[noun]][0])
            reading.phrases.setdefault(slot, deque()).append(phrase)
        major = {idx[k] for _, a, b, _ in phrases for k in range(a, b + 1)}
        if main is not None:
            major |= set(range(main[0], main[1] + 1))
        _context(text, toks, idx, major, reading.context)
    return reading


def _context(text: str, toks: list, idx: list[int], major: set, out: list) -> None:
    """Append what the clauses of one sentence say beyond the phrases and the person."""
    clauses = [[idx[k] for k in run] for run in _split([toks[i] for i in idx], {","})]
    clauses = [c for c in clauses if c]
    for clause in clauses:
        has_major = any(i in major for i in clause)
        words = [i for i in clause if toks[i][0] not in (",",) and toks[i][0] not in _SENTENCE_END]
        if not any(_is_content(toks[i][0], has_major) for i in words if i not in major):
            continue
        if not has_major:
            a, b = words[0], clause[-1] if len(clauses) == 1 else words[-1]
            verb = any(_kind(toks[i][0]) in (L.PRON, L.LINK, L.WEARV, L.CARRYV) or toks[i][0] in ("has", "have")
                       for i in words)
            kind = "sentence" if len(clauses) == 1 and verb else "fragment"
            out.append((kind, _quote(text, toks[a][1], toks[b][2]) if kind == "fragment"
                        else text[toks[a][1]:toks[b][2]]))
            continue
        run: list[int] = []
        for i in [*words, None]:
            if i is None or i in major:
                _run(text, toks, run, has_major, out)
                run = []
            else:
                run.append(i)


def _run(text: str, toks: list, run: list[int], has_major: bool, out: list) -> None:
    """One stretch between phrases: a pose ("walking on the street") or a fragment ("a CCTV image")."""
    content = [i for i in run if _is_content(toks[i][0], has_major)]
    if not content:
        return
    trail = {L.DET, L.AND, L.WEARV, L.CARRYV, L.IN, L.LINK, L.SKIP, L.STOP}
    end = len(run) - 1
    while end > 0 and _kind(toks[run[end]][0]) in trail and toks[run[end]][0] not in _POSE_WORDS:
        end -= 1
    first = content[0]
    if toks[first][0].endswith("ing") or toks[first][0] == "seen":
        out.append(("pose", _quote(text, toks[first][1], toks[run[end]][2])))
        return
    start = 0
    while start < end and _kind(toks[run[start]][0]) in trail - {L.DET}:
        start += 1
    out.append(("fragment", _quote(text, toks[run[start]][1], toks[run[end]][2])))
