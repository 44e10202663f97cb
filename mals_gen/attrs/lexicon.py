"""The word lists of the attribute miner: every word it knows, with its role and what it implies.

One table `LEX: word -> (kind, payload)` drives the miner (`miner.py`); `PHRASES` joins multi-word
terms ("t shirt", "back pack", "short sleeved") into one token before tokenisation. The decisions
behind the lists (which colours count as which, what "girl" means, what a dress is) are written
down in tests/data/attrs_dev/LABELLING_RULES.md; keep the two in step.
"""
from __future__ import annotations

import re

from ..contract import ATTR, LOWER_COLOURS, UPPER_COLOURS

# --- token kinds --------------------------------------------------------------------------------
COLOUR, TONE, LEN, PATTERN, SLEEVED, SLEEVELESS, NOUN, AND, LINK, SKIP = range(1, 11)
WEARV, CARRYV, NEG, END, STOP, DET, PRON, BOUND, COMMA, IN = range(11, 21)

# --- noun classes ---------------------------------------------------------------------------------
(PERSON, HAIR, HAIRLONG, BALD, UPPER, LOWER, DRESS, BOTH, SLEEVE, HAT, BACKPACK, HANDBAG, BAG,
 DETAIL, STRIPES, ABSORB, ANYTHING, BAREHEAD) = range(18)
GARMENTS = frozenset((UPPER, LOWER, DRESS, BOTH))
LEGWEAR = frozenset(("leggings", "tights", "stockings"))

# --- label shorthands -------------------------------------------------------------------------------
G, AGE, HAIR_S, SLV, LLEN, LTYPE = (ATTR["gender"], ATTR["age"], ATTR["hair"], ATTR["sleeve"],
                                    ATTR["lower_length"], ATTR["lower_type"])
FEMALE, MALE = 0, 1
CHILD, ADULT = 0, 1
SHORT_HAIR, LONG_HAIR = 0, 1
LONG_SLEEVE, SHORT_SLEEVE = 0, 1
LONG_LOWER, SHORT_LOWER = 0, 1
SKIRT_TYPE, PANTS_TYPE = 0, 1
LEN_LONG, LEN_SHORT, LEN_VAGUE = 0, 1, 2

# --- colours ----------------------------------------------------------------------------------------
# word -> canonical colour. Canonicals outside a group's list are "other colours" of that group.
_COLOUR_WORDS = {
    "black": "black", "white": "white", "red": "red", "purple": "purple", "yellow": "yellow",
    "blue": "blue", "green": "green", "gray": "gray", "grey": "gray", "pink": "pink", "brown": "brown",
    "navy": "blue", "violet": "purple", "lavender": "purple", "lilac": "purple", "plum": "purple",
    "charcoal": "gray", "scarlet": "red", "crimson": "red", "orange": "orange", "khaki": "beige",
    "khakis": None, "tan": "beige", "beige": "beige", "camel": "beige", "cream": "cream",
    "ivory": "cream", "offwhite": "cream", "silver": "silver", "gold": "gold", "golden": "gold",
    "maroon": "maroon", "burgundy": "maroon", "wine": "maroon", "teal": "teal", "turquoise": "teal",
    "aqua": "teal", "cyan": "teal", "magenta": "magenta", "fuchsia": "magenta", "olive": "olive",
    "coral": "coral", "salmon": "coral", "peach": "coral", "blonde": "blonde", "blond": "blonde",
}
_COLOUR_WORDS.pop("khakis")
# Listed colours a non-listed colour could be mistaken for: those slots stay -1 instead of 1.
NEAR = {
    "upper": {"pink": ("red", "purple"), "brown": (), "orange": ("red", "yellow"),
              "beige": ("white", "yellow", "gray"), "cream": ("white", "yellow"),
              "silver": ("gray", "white"), "gold": ("yellow",), "maroon": ("red", "purple"),
              "teal": ("blue", "green"), "magenta": ("purple", "red"), "olive": ("green", "gray"),
              "coral": ("red",), "blonde": ("yellow", "white")},
    "lower": {"red": ("pink",), "orange": ("yellow", "brown"), "beige": ("brown", "white", "yellow", "gray"),
              "cream": ("white", "yellow"), "silver": ("gray", "white"), "gold": ("yellow", "brown"),
              "maroon": ("purple", "brown", "pink"), "teal": ("blue", "green"),
              "magenta": ("pink", "purple"), "olive": ("green", "brown", "gray"), "coral": ("pink",),
              "blonde": ("yellow", "white", "brown")},
}


def _colour_resolution(group: str, names: tuple[str, ...]) -> dict[str, tuple[int | None, tuple[int, ...]]]:
    """canonical -> (listed slot or None, slots left unknown) for one garment group."""
    slot = {c: ATTR[f"{group}_{c}"] for c in names}
    out = {}
    for canon in set(_COLOUR_WORDS.values()):
        if canon in slot:
            out[canon] = (slot[canon], ())
        else:
            out[canon] = (None, tuple(slot[c] for c in NEAR[group].get(canon, ())))
    return out


UPPER_RES = _colour_resolution("upper", UPPER_COLOURS)
LOWER_RES = _colour_resolution("lower", LOWER_COLOURS)
UPPER_SLOTS = tuple(ATTR[f"upper_{c}"] for c in UPPER_COLOURS)
LOWER_SLOTS = tuple(ATTR[f"lower_{c}"] for c in LOWER_COLOURS)

# Words that say "some colour" without naming it: the garment counts as described but uncertain.
_TONES = ("dark", "light", "bright", "pale", "deep", "pastel", "neon", "hot", "royal", "sky", "baby",
          "dull", "faded", "dusty", "muted", "vivid", "darker", "lighter", "colorful", "colourful",
          "multicolored", "multicoloured", "neutral", "solid", "plain")
# Pattern adjectives: 1 = stripes-like (colours named with it are the garment's colours),
# 2 = decoration (the garment may carry colours the text does not name).
_PATTERNS = {"striped": 1, "stripped": 1, "stripe": 1, "plaid": 1, "checkered": 1, "checked": 1,
             "check": 1, "checker": 1, "gingham": 1, "tartan": 1, "floral": 2, "flowered": 2,
             "flowery": 2, "printed": 2, "print": 2, "patterned": 2, "graphic": 2, "camo": 2,
             "camouflage": 2, "polka": 2, "dotted": 2, "spotted": 2, "leopard": 2, "paisley": 2,
             "embroidered": 2, "tiedye": 2, "sequined": 2, "designed": 2, "lettered": 2}

# --- nouns ------------------------------------------------------------------------------------------
# Implications are (slot, value, explicit). Explicit evidence beats implied evidence; conflicting
# evidence of the same strength leaves the slot at -1.
_SHORT_SLV = ((SLV, SHORT_SLEEVE, False),)
_LONG_SLV = ((SLV, LONG_SLEEVE, False),)
_PANTS = ((LTYPE, PANTS_TYPE, True), (LLEN, LONG_LOWER, False))
_SHORTS = ((LTYPE, PANTS_TYPE, True), (LLEN, SHORT_LOWER, True))
_SKIRT = ((LTYPE, SKIRT_TYPE, True),)

_PERSON_WORDS = {
    # word: (gender or None, age or None). "girl"/"boy" carry no age: in CUHK-PEDES they name
    # young adults as often as children (see LABELLING_RULES.md).
    "man": (MALE, ADULT), "men": (MALE, ADULT), "gentleman": (MALE, ADULT), "gentlemen": (MALE, ADULT),
    "guy": (MALE, ADULT), "guys": (MALE, ADULT), "dude": (MALE, ADULT), "businessman": (MALE, ADULT),
    "father": (MALE, ADULT), "dad": (MALE, ADULT), "husband": (MALE, ADULT), "grandpa": (MALE, ADULT),
    "grandfather": (MALE, ADULT), "boy": (MALE, None), "boys": (MALE, None), "male": (MALE, None),
    "males": (MALE, None), "lad": (MALE, None), "son": (MALE, None), "brother": (MALE, None),
    "woman": (FEMALE, ADULT), "women": (FEMALE, ADULT), "lady": (FEMALE, ADULT),
    "ladies": (FEMALE, ADULT), "businesswoman": (FEMALE, ADULT), "mother": (FEMALE, ADULT),
    "mom": (FEMALE, ADULT), "wife": (FEMALE, ADULT), "grandma": (FEMALE, ADULT),
    "grandmother": (FEMALE, ADULT), "girl": (FEMALE, None), "girls": (FEMALE, None),
    "female": (FEMALE, None), "females": (FEMALE, None), "gal": (FEMALE, None),
    "daughter": (FEMALE, None), "sister": (FEMALE, None),
    "child": (None, CHILD), "children": (None, CHILD), "kid": (None, CHILD), "kids": (None, CHILD),
    "baby": (None, CHILD), "toddler": (None, CHILD), "infant": (None, CHILD),
    "teenager": (None, CHILD), "teen": (None, CHILD), "teenage": (None, CHILD),
    "schoolgirl": (FEMALE, CHILD), "schoolboy": (MALE, CHILD), "littlegirl": (FEMALE, CHILD),
    "littleboy": (MALE, CHILD), "adult": (None, ADULT), "adults": (None, ADULT),
    "elderly": (None, ADULT), "senior": (None, ADULT), "middleaged": (None, ADULT),
    "oldman": (MALE, ADULT), "oldwoman": (FEMALE, ADULT), "oldlady": (FEMALE, ADULT),
    "person": (None, None), "people": (None, None), "pedestrian": (None, None),
    "individual": (None, None), "someone": (None, None), "figure": (None, None),
}
_GARMENTS = {
    # upper
    "shirt": (UPPER, ()), "shirts": (UPPER, ()), "tshirt": (UPPER, _SHORT_SLV),
    "tshirts": (UPPER, _SHORT_SLV), "tee": (UPPER, _SHORT_SLV), "tanktop": (UPPER, _SHORT_SLV),
    "camisole": (UPPER, _SHORT_SLV), "singlet": (UPPER, _SHORT_SLV), "polo": (UPPER, _SHORT_SLV),
    "top": (UPPER, ()), "tops": (UPPER, ()), "blouse": (UPPER, ()), "vest": (UPPER, ()),
    "tunic": (UPPER, ()), "jersey": (UPPER, ()), "jacket": (UPPER, _LONG_SLV),
    "jackets": (UPPER, _LONG_SLV), "coat": (UPPER, _LONG_SLV), "overcoat": (UPPER, _LONG_SLV),
    "raincoat": (UPPER, _LONG_SLV), "trenchcoat": (UPPER, _LONG_SLV), "sweater": (UPPER, _LONG_SLV),
    "hoodie": (UPPER, _LONG_SLV), "hoody": (UPPER, _LONG_SLV), "sweatshirt": (UPPER, _LONG_SLV),
    "cardigan": (UPPER, _LONG_SLV), "blazer": (UPPER, _LONG_SLV), "parka": (UPPER, _LONG_SLV),
    "pullover": (UPPER, _LONG_SLV), "windbreaker": (UPPER, _LONG_SLV), "anorak": (UPPER, _LONG_SLV),
    "fleece": (UPPER, _LONG_SLV),
    # lower
    "pants": (LOWER, _PANTS), "trousers": (LOWER, _PANTS), "jeans": (LOWER, _PANTS),
    "slacks": (LOWER, _PANTS), "sweatpants": (LOWER, _PANTS), "sweats": (LOWER, _PANTS),
    "joggers": (LOWER, _PANTS),
    "chinos": (LOWER, _PANTS), "khakis": (LOWER, _PANTS), "cargos": (LOWER, _PANTS),
    "trouser": (LOWER, _PANTS), "shorts": (LOWER, _SHORTS), "skirt": (LOWER, _SKIRT),
    "skirts": (LOWER, _SKIRT), "miniskirt": (LOWER, _SKIRT + ((LLEN, SHORT_LOWER, True),)),
    "capris": (LOWER, ((LTYPE, PANTS_TYPE, True),)), "bottoms": (LOWER, ()),
    "leggings": (LOWER, "legwear"), "tights": (LOWER, "legwear"), "stockings": (LOWER, "legwear"),
    # one-piece
    "dress": (DRESS, _SKIRT), "dresses": (DRESS, _SKIRT), "sundress": (DRESS, _SKIRT),
    "gown": (DRESS, _SKIRT + ((LLEN, LONG_LOWER, False),)),
    "suit": (BOTH, _LONG_SLV), "tracksuit": (BOTH, _LONG_SLV + _PANTS), "uniform": (BOTH, ()),
    "outfit": (BOTH, ()), "clothes": (BOTH, ()), "clothing": (BOTH, ()), "attire": (BOTH, ()),
    "overalls": (BOTH, ((LTYPE, PANTS_TYPE, True),)), "jumpsuit": (BOTH, ((LTYPE, PANTS_TYPE, True),)),
    "romper": (BOTH, ()),
}
_SIMPLE_NOUNS = {
    HAIR: "hair haircut hairstyle hairdo",
    HAIRLONG: "ponytail ponytails pigtails pigtail braid braids braided bun",
    BALD: "bald",
    BAREHEAD: "bareheaded",
    SLEEVE: "sleeve sleeves",
    HAT: "hat hats cap caps beanie helmet beret fedora visor sunhat baseballcap",
    BACKPACK: "backpack backpacks rucksack knapsack schoolbag bookbag bagonback",
    HANDBAG: "handbag handbags purse purses clutch pocketbook",
    BAG: "bag bags satchel tote shoulderbag duffel duffle sack sling",
    DETAIL: ("logo logos letters letter lettering writing words text design designs picture pictures "
             "image images graphic graphics print prints flowers flower dots trim buttons button collar "
             "stars emblem symbol badge numbers number pattern patterns decoration"),
    STRIPES: "stripes stripe checks squares plaid",
    ANYTHING: "anything nothing",
    ABSORB: ("shoes shoe sneakers sneaker boots boot heels sandals slippers loafers trainers flats "
             "footwear socks sock glasses sunglasses eyeglasses scarf belt watch umbrella phone cellphone "
             "mask gloves glove necklace earrings bracelet headphones tie strap straps skin face head "
             "eyes arms arm hands hand legs leg feet foot knees shoulder shoulders back waist body chest "
             "background street road sidewalk wall building car bike bicycle motorcycle scooter floor "
             "ground grass tree door crowd photo camera box bottle cup book paper folder luggage suitcase "
             "briefcase stroller cart dog sign store hood pocket pockets zipper lining bottom "
             "shade tone"),
}

LEX: dict[str, tuple[int, object]] = {}


def _add(kind: int, words, payload=None) -> None:
    for w in (words.split() if isinstance(words, str) else words):
        LEX[w] = (kind, payload)


for _w, _c in _COLOUR_WORDS.items():
    LEX[_w] = (COLOUR, _c)
_add(TONE, _TONES)
for _w, _p in _PATTERNS.items():
    LEX[_w] = (PATTERN, _p)
_add(LEN, "long longer maxi ankle floorlength anklelength", LEN_LONG)
_add(LEN, "short shorter mini half cropped", LEN_SHORT)
_add(LEN, "kneelength midlength midi calflength medium capri threequarter", LEN_VAGUE)
_add(SLEEVED, "sleeved")
_add(SLEEVELESS, "sleeveless strapless")
for _cls, _words in _SIMPLE_NOUNS.items():
    for _w in _words.split():
        LEX[_w] = (NOUN, (_cls, _w, None))
for _w, (_g, _a) in _PERSON_WORDS.items():
    LEX[_w] = (NOUN, (PERSON, _w, (_g, _a)))
for _w, (_cls, _impl) in _GARMENTS.items():
    LEX[_w] = (NOUN, (_cls, _w.rstrip("s") if _w.endswith("shirts") else _w, _impl))
_add(AND, "and or nor &")
_add(COMMA, ",")
_add(LINK, "is are was were be been being that which appears appear looks look seems seem both also all "
           "mostly mainly entirely completely fully totally cut kept worn very quite")
_add(SKIP, "colored coloured toned tinted hued of color colour pair")
_add(IN, "in")
_add(WEARV, "wearing wears wear wore dressed clad donning dons sporting hason")
_add(CARRYV, "carrying carries carry holding holds hold held carried")
_add(NEG, "no not without never doesn don isn aren wasn didn neither none")
_add(END, ". ; ! ? : ( )")
_add(BOUND, "but while though although yet whereas")
_add(STOP, "with on at to over under inside near by from for has have having walking standing "
           "looking going waiting talking riding sitting crossing using into onto around behind "
           "underneath beneath as he she they it who there this these those one")
_add(DET, "a an the some their its")
_add(DET, "his", MALE)
_add(DET, "her", FEMALE)
_add(PRON, "he him himself", MALE)
_add(PRON, "she hers herself", FEMALE)

# Multi-word terms, joined on the token list (hyphens split words like spaces do).
PHRASES = {
    "t shirt": "tshirt", "t shirts": "tshirts", "tee shirt": "tshirt", "tee shirts": "tshirts",
    "tank top": "tanktop", "tank tops": "tanktop", "polo shirt": "polo", "sweat shirt": "sweatshirt",
    "sweat pants": "sweatpants", "track suit": "tracksuit", "trench coat": "trenchcoat",
    "rain coat": "raincoat", "over coat": "overcoat", "wind breaker": "windbreaker",
    "jean shorts": "shorts", "jeans shorts": "shorts", "denim shorts": "shorts",
    "cargo pants": "pants", "capri pants": "capris", "yoga pants": "leggings",
    "mini skirt": "miniskirt", "sun dress": "sundress", "back pack": "backpack",
    "back bag": "backpack", "school bag": "schoolbag", "hand bag": "handbag",
    "shoulder bag": "shoulderbag", "messenger bag": "shoulderbag", "tote bag": "tote",
    "cross body bag": "shoulderbag", "crossbody bag": "shoulderbag", "sling bag": "shoulderbag",
    "baseball cap": "baseballcap", "baseball hat": "baseballcap", "sun hat": "sunhat",
    "high heels": "heels", "high heeled shoes": "heels", "cap sleeve": "half sleeve",
    "cap sleeves": "half sleeves", "cap sleeved": "half sleeved", "knee length": "kneelength",
    "knee high": "kneelength", "mid length": "midlength", "calf length": "calflength",
    "ankle length": "anklelength", "floor length": "floorlength", "three quarter": "threequarter",
    "off white": "offwhite", "middle aged": "middleaged",
    "little girl": "littlegirl", "little boy": "littleboy", "young child": "child",
    "small child": "child", "old man": "oldman", "old woman": "oldwoman", "old lady": "oldlady",
    "bare headed": "bareheaded", "has on": "hason", "have on": "hason", "on top": "ontop",
    "on his back": "onback", "on her back": "onback", "on the back": "onback",
    "on their back": "onback", "baby blue": "light blue", "baby pink": "light pink",
    "suit jacket": "jacket", "suit pants": "pants", "suit trousers": "trousers",
    "dress pants": "pants", "dress shirt": "shirt", "dress shoes": "shoes", "dress slacks": "slacks",
    "dress trousers": "trousers", "tie dye": "tiedye", "button up": "", "button down": "",
    "buttoned up": "", "buttoned down": "", "tied dyed": "tiedye", "polka dot": "polka dots",
    "polka dots": "polka dots", "hair bun": "bun",
}
LEX["onback"] = (STOP, "onback")
LEX["ontop"] = (STOP, None)

TOKEN_RE = re.compile(r"[a-z]+|[.,;:!?()&]")


def _phrase_table() -> dict[str, list[tuple[tuple[str, ...], list[str]]]]:
    """first word -> [(following words, replacement tokens)], longest phrases first."""
    table: dict[str, list] = {}
    for phrase, repl in sorted(PHRASES.items(), key=lambda kv: -len(kv[0].split())):
        first, *rest = phrase.split()
        table.setdefault(first, []).append((tuple(rest), repl.split()))
    return table


_PHRASE_TABLE = _phrase_table()
_PHRASE_FIRST = frozenset(_PHRASE_TABLE)


def tokenize(text: str) -> list[str]:
    """Lowercase, split into words and punctuation, join multi-word terms ("t shirt" -> tshirt)."""
    toks = TOKEN_RE.findall(text.lower())
    if _PHRASE_FIRST.isdisjoint(toks):
        return toks
    out: list[str] = []
    i, n = 0, len(toks)
    while i < n:
        tok = toks[i]
        for rest, repl in _PHRASE_TABLE.get(tok, ()):
            k = len(rest)
            if tuple(toks[i + 1:i + 1 + k]) == rest:
                out.extend(repl)
                i += 1 + k
                break
        else:
            out.append(tok)
            i += 1
    return out


_SPAN_TOKEN = re.compile(r"[A-Za-z]+|[.,;:!?()&]")


def tokenize_spans(text: str) -> list[tuple[str, int, int]]:
    """`tokenize` with each token's (start, end) in `text`; a joined term spans all its words.

    A term joined to nothing ("button up") stays as an empty token so that a phrase around it
    keeps its words (the caption styles quote the text by span: `mals_gen/styles/read.py`)."""
    raw = [(m.group().lower(), m.start(), m.end()) for m in _SPAN_TOKEN.finditer(text)]
    out: list[tuple[str, int, int]] = []
    i, n = 0, len(raw)
    while i < n:
        for rest, repl in _PHRASE_TABLE.get(raw[i][0], ()):
            k = len(rest)
            if tuple(w for w, _, _ in raw[i + 1:i + 1 + k]) == rest:
                span = (raw[i][1], raw[i + k][2])
                out.extend((t, *span) for t in repl or [""])
                i += 1 + k
                break
        else:
            out.append(raw[i])
            i += 1
    return out
