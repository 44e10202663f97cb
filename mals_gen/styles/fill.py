"""Fill a style template with a known description's own phrases (the prompt captioner's styles).

A sketch image is drawn from its prompt, so its styled caption must say exactly what the prompt
says, in the template's sentence shape. `read.py` quotes the prompt's phrases by slot class and
keeps its context (pose, scene, camera, extras); `template.py` cuts a template sentence into units,
each a connector, words and at most one noun slot ("and wears a [colour] [upper]"). A unit takes the next phrase of its class (a top slot takes a dress when there is no top), with
the phrase's own modifiers; a unit whose slot has no phrase is dropped with its connector. Template
words that name something ("sandals", "on both shoulders", "with flowers on it", "young") are
dropped: the prompt did not say them. Phrases the template has no room for go into follow-up
sentences of other styles ("[pronoun] carries a [bag] ."), the rest into one closing sentence;
then the prompt's context follows in its own words, so nothing the prompt says is lost.
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from ..attrs import lexicon as L
from .read import Phrase, Reading, read_description
from .template import NOUNS, SUBJECT_NEXT, follow_up_frames, foreign, is_verb, lead, negated, sentences, units

# which phrase classes a slot takes, in order: a dress answers "a [upper] and [lower]" as one garment
_TAKES = {"[upper]": ("[upper]", "[outfit]", "[dress]", "[other]"), "[lower]": ("[lower]",),
          "[dress]": ("[dress]", "[outfit]", "[upper]", "[other]"),
          "[outfit]": ("[outfit]", "[dress]", "[upper]", "[other]"),
          "[hat]": ("[hat]",), "[bag]": ("[bag]",), "[hair]": ("[hair]",), "[shoes]": ("[shoes]",)}
_PLURAL_SINGULAR = {"dress", "glass"}
_MASS = {"hair", "clothes", "clothing", "attire", "footwear"}
_FORMS = {L.MALE: ("he", "his", "him"), L.FEMALE: ("she", "her", "her"), None: ("they", "their", "them")}
_PLACE_WORDS = {"on", "in", "at", "near", "under", "along", "next", "outside", "inside", "behind", "by", "beside",
                "across", "around", "through"}


class _Filler:
    """One caption being written: the reading's queues are used up as slots take phrases."""

    def __init__(self, reading: Reading):
        self.r = reading
        self.queues = {k: type(v)(v) for k, v in reading.phrases.items()}
        self.introduced = False                         # has the person been named yet?
        self.taken: list = []                           # (class, phrase) taken by the sentence being filled

    def left(self) -> bool:
        return any(self.queues.values())

    def fits(self, words: list[str]) -> bool:
        return any(self.queues.get(c) for w in words if w in _TAKES for c in _TAKES[w])

    def take(self, slot: str) -> Phrase | None:
        for cls in _TAKES[slot]:
            if self.queues.get(cls):
                phrase = self.queues[cls].popleft()
                self.taken.append((cls, phrase))
                if slot in ("[dress]", "[outfit]") and cls in ("[upper]", "[other]") and self.queues.get("[lower]"):
                    low = self.queues["[lower]"].popleft()  # "in a [dress]" said of a top and trousers
                    self.taken.append(("[lower]", low))
                    phrase = Phrase(f"{phrase.text} and {low.text}", phrase.noun)
                return phrase
        return None

    def give_back(self) -> list:
        """Undo the takes of a sentence that is not written."""
        for cls, phrase in reversed(self.taken):
            self.queues[cls].appendleft(phrase)
        self.taken = []
        return []

    def pronoun(self, form: int) -> str:
        return _FORMS[self.r.gender][form]

    def sentence(self, words: list[str]) -> list[str]:
        """One template sentence filled; [] when it would say nothing of the person."""
        kept: list[list] = []                           # [connectors, words] per kept unit
        filled, lost_and, head, pass_on = False, [], None, None
        cut = units(words)
        for unit, absent in zip(cut, negated(cut)):
            conn, body = lead(unit)
            slot = body[-1] if body and body[-1] in NOUNS else None
            if absent and slot != "[person]":          # "does not carry any [bag]": left out
                lost_and += [len(kept)] if "and" in conn else []
                pass_on = pass_on or ("with" if "with" in conn else None)
                continue
            if slot is not None and slot != "[person]":
                phrase = self.take(slot)
                if phrase is None:                      # the unit goes, and what joined it
                    lost_and += [len(kept)] if "and" in conn else []
                    pass_on = pass_on or ("with" if "with" in conn else None)
                    if not conn:                        # it held the verb: "[pronoun] wears a [upper]"
                        head = _head(body[:-1], head)
                    continue
                body = [*body[:-1], phrase]
                filled = True
            elif slot is None and any(foreign(w) for w in body):
                pass_on = pass_on or ("with" if "with" in conn else None)
                continue
            body = [w for w in body if isinstance(w, Phrase) or not foreign(w)]
            if head is not None:
                conn = []                               # the kept unit takes the dropped one's place
                verb = next((w for w in body if isinstance(w, str) and is_verb(w)), "")
                # "has [hair] and wears": "wears"; "is wearing a [upper] and carrying": "is carrying"
                keep = {"[pronoun]", *(_AUX if verb.endswith("ing") else ())}
                if body[0] != "[pronoun]":              # "and [pronoun] is wearing" has its own subject
                    body = [*([w for w in head if w in keep] if verb else head), *body]
                elif kept and kept[-1][1][-1:] == ["[person]"]:
                    body = body[1:]                     # "the [person] [pronoun] is": the person is it
            elif pass_on and conn == [","]:
                conn = [pass_on]                        # "with a [hat] , [upper]" without hat: "with"
            head, pass_on = None, None
            kept.append([conn, body])
        for at in lost_and:                             # "[upper] , [lower] and [shoes]" without shoes
            later = [c for c, b in kept[at:] if any(isinstance(w, Phrase) for w in b)]
            if at and kept[at - 1][0] == [","] and not later:
                kept[at - 1][0] = ["and"]
        words = [w for conn, body in kept for w in (*conn, *body)]
        if not filled:                                  # "the [person] has [hair] ." without hair: the
            return self.give_back()                     # next sentence's subject names the person
        if "[person]" not in words and not any(isinstance(w, str) and is_verb(w) for w in words):
            return self.give_back()                     # "[pronoun] [hair] ." would be a fragment
        self.taken = []
        return self._render(words)

    def _render(self, words: list) -> list[str]:
        out: list[str] = []
        for i, w in enumerate(words):
            if isinstance(w, Phrase):
                _article(out, w)
                out.append(w.text)
            elif w == "[person]":
                out.append(self.r.person)
                self.introduced = True
            elif w == "[pronoun]":
                nxt = words[i + 1] if i + 1 < len(words) else ""
                form = _pronoun_form(out[-1] if out else "", nxt if isinstance(nxt, str) else "[phrase]")
                if form == 0 and not self.introduced and "[person]" not in words:
                    out += ["the", self.r.person]       # the person's first mention names them
                    self.introduced = True
                else:
                    out.append(self.pronoun(form))
            else:
                out.append(w)
        return [*out, "."] if out else []

    def closing(self) -> list[str]:
        """One sentence with the phrases no template took."""
        q = self.queues
        worn = [p for c in ("[upper]", "[lower]", "[dress]", "[outfit]", "[other]", "[shoes]", "[hat]")
                for p in q.get(c, ())]
        parts = [(verb, items) for verb, items in (("wears", worn), ("carries", list(q.get("[bag]", ()))),
                                                   ("has", list(q.get("[hair]", ())))) if items]
        for c in q:
            q[c].clear()
        if not parts:
            return []
        out = [self.pronoun(0), "also"] if self.introduced else ["the", self.r.person]
        self.introduced = True
        for k, (verb, items) in enumerate(parts):
            if k:
                out.append("and" if k == len(parts) - 1 else ",")
            out.append(verb)
            for j, p in enumerate(items):
                if j:
                    out.append("and")
                _article(out, p)
                out.append(p.text)
        return [*out, "."]

    def context(self) -> list[str]:
        """The prompt's pose, scene, camera and extras, in its own words and order."""
        out: list[str] = []
        fragments: list[str] = []
        be = "is" if self.r.gender is not None else "are"
        pose = None
        for kind, text in [*self.r.context, ("end", "")]:
            where = kind == "fragment" and text.split()[0].lower() in _PLACE_WORDS
            if pose is not None and where:
                pose += " " + text                      # "standing" + "under some trees"
                continue
            if pose is not None:
                out.append(f"{self.pronoun(0)} {be} {pose}.")
                pose = None
            if kind == "pose" or where:
                pose = text
            elif kind == "fragment":
                fragments.append(text)
            elif kind == "sentence":
                out.append(text if text[-1:] in ".!?" else text + ".")
        return [*out, ", ".join(fragments) + "."] if fragments else out


_AUX = {"is", "are", "was", "were"}
_ARTICLE_WORDS = {"a", "an", "the", "pair", "of"}


def _head(words: list, earlier: list | None) -> list | None:
    """What of a dropped unit the next unit needs: its subject and verb ("[pronoun] wears"), not a
    bare preposition ("over a [upper]") or article; None when there is nothing to keep."""
    words = list(words)
    while words and words[-1] in _ARTICLE_WORDS:
        words.pop()
    words = [w for w in words if not foreign(w)]
    if any(w == "[pronoun]" or is_verb(w) for w in words):
        return [*(earlier or []), *words]
    return earlier


def _pronoun_form(prev: str, nxt: str) -> int:
    """0 subject, 1 possessive, 2 object, from the words around the pronoun slot."""
    if nxt == "[phrase]":
        return 1
    if prev in ("", ".", ";", ",", "and", "but") or nxt in SUBJECT_NEXT:
        return 0
    if nxt.startswith("[") and nxt != "[pronoun]" or nxt.isalpha():
        return 1
    return 2


def _countable(noun: str) -> bool:
    return noun not in _MASS and (not noun.endswith("s") or noun in _PLURAL_SINGULAR)


def _article(out: list[str], phrase: Phrase) -> None:
    """Make the words before `phrase` agree with it: "a blue jeans" -> "blue jeans", "has [bag]" ->
    "has a bag", "a pair of skirt" -> "a skirt"."""
    if out[-3:] == ["a", "pair", "of"] and _countable(phrase.noun):
        del out[-2:]
    elif out and out[-1] in ("a", "an"):
        if not _countable(phrase.noun):
            out.pop()
    elif _countable(phrase.noun) and not (out and (L.LEX.get(out[-1], (None,))[0] in (L.DET, L.PRON)
                                                   or out[-1] in ("of", "this", "that"))):
        out.append("a")


def fill_template(template: str | Sequence[str], description: str,
                  follow_ups: Sequence[list[str]] = ()) -> str:
    """`description` said in the shape of `template` (from `blank_attributes`); nothing left out.

    A sequence of templates: the first leads, the sentences of the others can follow it. Then
    `follow_ups` (from `follow_up_frames`) take what is left, in order, each when it has a slot
    for a phrase still unsaid; one closing sentence takes the rest, and the description's context
    (pose, scene, camera, extras, its own negated sentences) ends the caption."""
    templates = [template] if isinstance(template, str) else list(template)
    filler = _Filler(read_description(description))
    out: list[str] = []
    for words in sentences(templates[0]):
        out += filler.sentence(words)
    for words in [*follow_up_frames(templates[1:]), *follow_ups]:
        if not filler.left():
            break
        if filler.fits(words):                          # a [pronoun] subject names the person if needed
            out += filler.sentence(words)
    out += filler.closing()
    if not filler.introduced:                           # nothing of the template fit: name the person
        out = ["the", filler.r.person, ".", *out]
    return _tidy(" ".join([*out, *filler.context()]))


_DANGLING = re.compile(r"\b(and|or|with|in|of|wearing|wears|carrying|carries|holding|has|a|an|the)\s*(?=[.,;])")


def _tidy(text: str) -> str:
    """Articles that agree, no dangling words or doubled punctuation left by dropped units."""
    for _ in range(3):
        text = _DANGLING.sub("", text)
        text = re.sub(r"\s+([.,;:!?])", r"\1", text)
        text = re.sub(r"([,;])[,;]+", r"\1", text)
        text = re.sub(r"[,;]+\.", ".", text)
        text = re.sub(r"^[.,;\s]+|(?<=[.!?])\s*[.,;]+", "", text)
    text = re.sub(r"\b([Aa])n? (?=[aeiou])", r"\1n ", text)
    text = re.sub(r"\b([Aa])n (?=[^aeiou\W])", r"\1 ", text)
    text = re.sub(r"([.!?;] )([a-z])", lambda m: m.group(1) + m.group(2).upper(), " ".join(text.split()))
    return text[:1].upper() + text[1:]
