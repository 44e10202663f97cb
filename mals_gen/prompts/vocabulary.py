"""Word lists for the prompt composer: people, hair, garments, footwear, accessories, scenes, cameras.

Everything here is data. Each entry that can contradict an attribute slot carries the slot
value it implies, so the composer can only pick words that agree with the attribute vector:
a "t-shirt" is always short-sleeved, "jeans" are always long pants, a "skirt" or "dress" is
always lower_type 0, "shorts" are short pants. Weighted lists are `(text, weight)` pairs; a
`{c}` in a garment entry is replaced by its colour. Gender tags: "f" only for women and girls,
"m" only for men and boys, "" for everybody.

Colour words: the listed colours (`contract.UPPER_COLOURS` / `LOWER_COLOURS`) are written
exactly as the contract spells them (gray may also be written "grey"). Colours outside those
lists (orange, navy, beige, ...) must not contain any listed colour word, or a keyword miner
would read them as the listed colour.
"""
from __future__ import annotations

from ..contract import LOWER_COLOURS, UPPER_COLOURS

# ---------------------------------------------------------------------------------------------
# People. (noun, weight); adults are "over 18" (age slot 1), children "under 18" (age slot 0).
ADULT_NOUNS = {
    "f": (("woman", 10), ("young woman", 4), ("lady", 3), ("young lady", 1), ("middle-aged woman", 1.2),
          ("older woman", 0.6), ("elderly woman", 0.4), ("female pedestrian", 1), ("adult woman", 0.3),
          ("female", 0.6)),
    "m": (("man", 10), ("young man", 4), ("guy", 1.5), ("gentleman", 1), ("middle-aged man", 1.2),
          ("older man", 0.6), ("elderly man", 0.4), ("male pedestrian", 1), ("adult man", 0.3),
          ("male", 0.6)),
}
CHILD_NOUNS = {
    "f": (("girl", 6), ("little girl", 3), ("young girl", 2), ("teenage girl", 3), ("schoolgirl", 1.5)),
    "m": (("boy", 6), ("little boy", 3), ("young boy", 2), ("teenage boy", 3), ("schoolboy", 1.5)),
}
# (subject, object, possessive)
PRONOUNS = {"f": ("she", "her", "her"), "m": ("he", "him", "his")}

# ---------------------------------------------------------------------------------------------
# Hair. {h} is an optional hair colour ("black ", "" ...). Index 0 = short (hair slot 0), 1 = long.
HAIR_COLOURS = (("", 6), ("black ", 5), ("dark ", 2), ("brown ", 2), ("dark brown ", 1), ("blonde ", 0.6))
HAIR = (
    # short hair
    (("short {h}hair", "", 10), ("short {h}hair", "", 4), ("cropped {h}hair", "", 1),
     ("a buzz cut", "m", 1), ("short, neat {h}hair", "", 1), ("a short bob", "f", 1.5),
     ("short curly {h}hair", "", 0.7)),
    # long hair
    (("long {h}hair", "", 10), ("long {h}hair tied in a ponytail", "", 3), ("long straight {h}hair", "", 2),
     ("long curly {h}hair", "", 1), ("a long ponytail", "", 1.5), ("long {h}hair worn loose", "", 1),
     ("long {h}hair in a bun", "f", 0.7)),
)

# ---------------------------------------------------------------------------------------------
# Upper garments: (noun, sleeve, gender, weight); sleeve "short" (slot 7 = 1), "long" (slot 7 = 0)
# or "any" (the composer adds the sleeve wording).
UPPER_GARMENTS = (
    ("t-shirt", "short", "", 8), ("tee", "short", "", 1.5), ("polo shirt", "short", "", 1.5),
    ("tank top", "short", "", 0.6), ("short-sleeved shirt", "short", "", 1.5),
    ("sweater", "long", "", 2), ("jumper", "long", "", 0.4), ("hoodie", "long", "", 2),
    ("sweatshirt", "long", "", 1), ("jacket", "long", "", 4), ("coat", "long", "", 2.5),
    ("blazer", "long", "", 0.6), ("cardigan", "long", "", 0.6), ("windbreaker", "long", "", 0.4),
    ("down jacket", "long", "", 0.6), ("parka", "long", "", 0.3), ("long-sleeved shirt", "long", "", 1.5),
    ("shirt", "any", "", 5), ("top", "any", "", 3), ("blouse", "any", "f", 2.5),
    ("button-up shirt", "any", "", 0.6),
)
# Sleeve wording: prefixes ("a red short-sleeved shirt") and suffixes ("a red shirt with short sleeves").
SLEEVE_PREFIX = {
    "short": (("short-sleeved", 6), ("short sleeve", 2), ("short-sleeve", 1), ("sleeveless", 0.5)),
    "long": (("long-sleeved", 6), ("long sleeve", 2), ("long-sleeve", 1)),
}
SLEEVE_SUFFIX = {
    "short": (("with short sleeves", 4), ("with no sleeves", 0.3)),
    "long": (("with long sleeves", 4),),
}

# ---------------------------------------------------------------------------------------------
# Lower garments: (template, plural, gender, weight). Keyed by (lower_type, lower_length):
# lower_type 1 = pants/shorts, 0 = dress/skirt; lower_length 0 = long, 1 = short.
LOWER_GARMENTS = {
    (1, 0): (("{c} pants", True, "", 6), ("{c} trousers", True, "", 6), ("{c} jeans", True, "", 6),
             ("{c} slacks", True, "", 0.6), ("{c} sweatpants", True, "", 1), ("{c} joggers", True, "", 0.6),
             ("{c} leggings", True, "f", 1.2), ("{c} cargo pants", True, "", 0.5),
             ("long {c} pants", True, "", 2), ("{c} track pants", True, "", 0.4),
             ("{c} long trousers", True, "", 0.8)),
    (1, 1): (("{c} shorts", True, "", 8), ("{c} short pants", True, "", 2.5), ("{c} denim shorts", True, "", 0.6),
             ("{c} cargo shorts", True, "m", 0.4), ("{c} sports shorts", True, "", 0.5),
             ("short {c} pants", True, "", 0.8)),
    (0, 0): (("long {c} skirt", False, "", 6), ("{c} maxi skirt", False, "", 1), ("{c} ankle-length skirt", False, "", 0.8),
             ("long {c} pleated skirt", False, "", 0.6), ("{c} long skirt", False, "", 2)),
    (0, 1): (("short {c} skirt", False, "", 6), ("{c} miniskirt", False, "", 1.2), ("{c} mini skirt", False, "", 0.8),
             ("short {c} pleated skirt", False, "", 0.6), ("{c} short skirt", False, "", 2)),
}
# One-piece dresses (lower_type 0), keyed by lower_length; the composer adds sleeve wording.
DRESSES = {
    0: (("long {c} dress", 6), ("{c} maxi dress", 1.2), ("{c} long dress", 2), ("{c} ankle-length dress", 0.6)),
    1: (("short {c} dress", 6), ("{c} mini dress", 1), ("{c} short dress", 2), ("short {c} summer dress", 0.8)),
}
# Jeans come in these colours only; other colours get trousers instead.
JEANS_COLOURS = frozenset({"blue", "black", "gray", "grey", "white", "navy"})

# ---------------------------------------------------------------------------------------------
# Colour rendering. Listed colours may get a shade prefix; gray may be written grey.
SHADES = {"blue": ("dark ", "light "), "green": ("dark ", "light ", "olive "), "gray": ("dark ", "light "),
          "red": ("dark ",), "purple": ("dark ", "light "), "brown": ("dark ", "light "), "pink": ("light ",)}
GREY_SPELLING = "grey"
# Unlisted colours the composer falls back to when the config gives none (all slots of a garment = 1).
DEFAULT_UNLISTED = {
    "upper": ("orange", "pink", "brown", "navy", "beige", "khaki", "maroon"),
    "lower": ("red", "orange", "navy", "beige", "khaki", "tan"),
}

# ---------------------------------------------------------------------------------------------
# Footwear (noun, gender, weight) and its colours; hats; bags with where they are carried.
SHOES = (("sneakers", "", 8), ("shoes", "", 6), ("boots", "", 1.5), ("sandals", "", 1.5),
         ("leather shoes", "", 2), ("running shoes", "", 1.5), ("canvas shoes", "", 1),
         ("high heels", "f", 1), ("flats", "f", 0.7), ("slippers", "", 0.3), ("trainers", "", 0.8))
ACCESSORY_COLOURS = (("", 5), ("black ", 6), ("white ", 3), ("brown ", 2), ("gray ", 1), ("red ", 0.7),
                     ("blue ", 0.7), ("dark ", 0.5))
HATS = (("cap", 3), ("baseball cap", 3), ("hat", 3), ("sun hat", 1), ("beanie", 1), ("bucket hat", 0.6),
        ("straw hat", 0.5), ("peaked cap", 0.4))
BACKPACKS = (("backpack", 10), ("rucksack", 1), ("school backpack", 0.5))
BACKPACK_PLACES = (("", 6), (" on {p} back", 3), (" over {p} shoulders", 1.5))
HANDBAGS = {"f": (("handbag", 8), ("purse", 3), ("hand bag", 1), ("small handbag", 1)),
            "m": (("handbag", 8), ("hand bag", 1), ("briefcase", 1))}
HANDBAG_PLACES = (("", 5), (" in {p} hand", 3), (" in {p} left hand", 1), (" in {p} right hand", 1))
BAGS = (("shoulder bag", 6), ("bag", 4), ("messenger bag", 1.5), ("crossbody bag", 1.5), ("tote bag", 1),
        ("sling bag", 0.7), ("plastic bag", 0.7), ("paper bag", 0.4))
BAG_PLACES = (("", 6), (" over {p} shoulder", 2), (" on {p} shoulder", 2), (" across {p} body", 0.6))
CARRY_VERBS = (("carries", 4), ("is carrying", 4), ("has", 2))
NOTHING_CARRIED = ("{S} is not carrying anything.", "{S} carries nothing.", "{S} has nothing in {p} hands.",
                   "{P}{s} hands are empty.")
# Harmless extras (no attribute slot), as (phrase, verb): they add variety only.
EXTRAS = (("glasses", "wears", 4), ("sunglasses", "wears", 1.5), ("a face mask", "is wearing", 1.5),
          ("a wristwatch", "wears", 1), ("earphones", "is wearing", 0.6), ("a phone in {p} hand", "has", 1.5),
          ("an umbrella", "is holding", 1), ("a water bottle", "is holding", 0.6))

# ---------------------------------------------------------------------------------------------
# Where and how: scenes, poses by viewpoint, view tags, camera styles.
SCENES = ("on the street", "on a city street", "on a sidewalk", "at a crosswalk", "in a shopping mall",
          "on a university campus", "in a parking lot", "near a bus stop", "in a subway station", "in a park",
          "in front of a building", "in a plaza", "on a rainy street", "at a train station",
          "near a supermarket entrance", "along a road", "on a campus path", "in a busy square",
          "under some trees", "next to a bicycle rack", "in a corridor", "outside an office building",
          "at an intersection", "on a pedestrian bridge", "near a shop window", "in a courtyard")
POSES = {
    "front": ("walking toward the camera", "facing the camera", "walking forward", "standing and facing the camera",
              "approaching the camera"),
    "back": ("walking away from the camera", "standing with {p} back to the camera", "walking away",
             "seen from behind while walking"),
    "side": ("walking past the camera", "walking to the left", "walking to the right", "crossing the street",
             "walking sideways past the camera"),
    "any": ("walking", "standing", "strolling", "waiting", "walking briskly", "standing still", "walking alone"),
}
VIEWS = {
    "front": ("front view", "frontal view", "facing the camera"),
    "back": ("back view", "rear view", "seen from behind"),
    "side": ("side view", "seen from the side", "profile view"),
    "any": ("full body", "whole body visible", "standing pose"),
}
CAMERAS = ("surveillance camera view", "CCTV footage", "security camera footage", "street photo",
           "pedestrian photo", "high angle view", "low resolution surveillance image", "candid photo",
           "photo taken from above", "realistic photo", "35mm street photography", "daylight", "overcast day",
           "person re-identification image", "natural lighting")
PHOTO_LEADS = ("full body photo", "a photo", "a full-body shot", "a CCTV image", "a surveillance photo",
               "a street photo", "a pedestrian image", "an image", "a picture", "a candid shot")


def listed_colours(garment: str) -> tuple[str, ...]:
    """The colours that have a slot for `garment` ("upper" or "lower")."""
    return UPPER_COLOURS if garment == "upper" else LOWER_COLOURS
