"""The data contract shared by `mals` and `aptm-train`.

Everything a consumer of our shards needs to agree on lives here and nowhere else: the 27 MALS
attributes with their 54 prompts (byte-identical to what APTM checkpoints were trained with), the
label semantics, PA-100K's 26 attributes, the manifest schemas, the shard sample layout and the
key format. `aptm_train` may import this module (and only this one) from `mals_gen`.
"""
from __future__ import annotations

import re

import pyarrow as pa

# ---------------------------------------------------------------------------------------------
# Label semantics (spec/attributes.md): 0 = the first prompt of the pair is true, 1 = the second
# is true, -1 = unknown (ignored by every loss). Attribute i uses prompts 2i and 2i+1.
LABEL_FIRST = 0
LABEL_SECOND = 1
LABEL_UNKNOWN = -1

UPPER_COLOURS = ("black", "white", "red", "purple", "yellow", "blue", "green", "gray")
LOWER_COLOURS = ("black", "white", "purple", "yellow", "blue", "green", "pink", "gray", "brown")

MALS_ATTRIBUTE_NAMES: tuple[str, ...] = (
    "gender", "age", "hair", "hat", "backpack", "handbag", "bag", "sleeve", "lower_length",
    "lower_type",
    *(f"upper_{c}" for c in UPPER_COLOURS),
    *(f"lower_{c}" for c in LOWER_COLOURS),
)


def _mals_prompt_pairs() -> tuple[tuple[str, str], ...]:
    pairs = [
        ("the person is a woman", "the person is a man"),
        ("the person is younger than 18 years old", "the person is older than 18 years old"),
        ("the person with short hair", "the person with long hair"),
        ("the person with a hat", "the person without a hat"),
        ("the person with a backpack", "the person without a backpack"),
        ("the person with a handbag", "the person without a handbag"),
        ("the person with a bag", "the person without a bag"),
        ("the person wears long sleeved upper clothes", "the person wears short sleeved upper clothes"),
        ("the person wears long dress or long pants", "the person wears short dress or short pants"),
        ("the person wears dress or skirt", "the person wears pants or shorts"),
    ]
    pairs += [(f"the person wears {c} upper clothes", f"the person does not wear {c} upper clothes")
              for c in UPPER_COLOURS]
    pairs += [(f"the person wears {c} lower clothes", f"the person does not wear {c} lower clothes")
              for c in LOWER_COLOURS]
    return tuple(pairs)


MALS_PROMPT_PAIRS = _mals_prompt_pairs()
#: The 54 prompts in checkpoint order: prompt 2i is label 0 of attribute i, 2i+1 is label 1.
MALS_PROMPTS: tuple[str, ...] = tuple(p for pair in MALS_PROMPT_PAIRS for p in pair)
NUM_MALS_ATTRIBUTES = len(MALS_ATTRIBUTE_NAMES)  # 27

# Index helpers so code says ATTR["hat"] instead of a magic 3.
ATTR = {name: i for i, name in enumerate(MALS_ATTRIBUTE_NAMES)}
UPPER_COLOUR_SLOTS = {c: ATTR[f"upper_{c}"] for c in UPPER_COLOURS}
LOWER_COLOUR_SLOTS = {c: ATTR[f"lower_{c}"] for c in LOWER_COLOURS}
# Which label means "present" for the binary presence slots (polarity differs, see attributes.md).
PRESENT = 0
ABSENT = 1
# Meaning of label 0/1 for the first ten slots, for readable reports.
MALS_LABEL_WORDS: dict[str, tuple[str, str]] = {
    "gender": ("female", "male"), "age": ("under 18", "over 18"), "hair": ("short", "long"),
    "hat": ("hat", "no hat"), "backpack": ("backpack", "no backpack"),
    "handbag": ("handbag", "no handbag"), "bag": ("bag", "no bag"),
    "sleeve": ("long sleeves", "short sleeves"), "lower_length": ("long", "short"),
    "lower_type": ("dress/skirt", "pants/shorts"),
}

# ---------------------------------------------------------------------------------------------
# PA-100K: 26 attributes in the dataset's label order; label 1 = present = the SECOND prompt.
PA100K_ATTRIBUTE_NAMES: tuple[str, ...] = (
    "Female", "AgeOver60", "Age18-60", "AgeLess18", "Front", "Side", "Back", "Hat", "Glasses",
    "HandBag", "ShoulderBag", "Backpack", "HoldObjectsInFront", "ShortSleeve", "LongSleeve",
    "UpperStride", "UpperLogo", "UpperPlaid", "UpperSplice", "LowerStripe", "LowerPattern",
    "LongCoat", "Trousers", "Shorts", "Skirt&Dress", "boots",
)
NUM_PA100K_ATTRIBUTES = len(PA100K_ATTRIBUTE_NAMES)  # 26

# ---------------------------------------------------------------------------------------------
# Keys. WebDataset splits a sample's file name at the first dot, so keys never contain one.
KEY_PATTERN = re.compile(r"^[A-Za-z0-9_\-]+$")
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_\-]+")


def make_key(prefix: str, index: int) -> str:
    """Key of sample `index` of a generated run: `<prefix>_<index, 9 digits>`, e.g. `s_000001234`."""
    return f"{sanitize_key(prefix)}_{index:09d}"


def sanitize_key(text: str) -> str:
    """Turn any identifier (an image path, an image id) into a valid key: no dots, no slashes."""
    key = _KEY_UNSAFE.sub("_", text).strip("_")
    if not key:
        raise ValueError(f"cannot make a sample key from {text!r}")
    return key


def is_valid_key(key: str) -> bool:
    return bool(KEY_PATTERN.match(key))


# ---------------------------------------------------------------------------------------------
# Shard sample layout (WebDataset): KEY.jpg image, KEY.txt first caption, KEY.json metadata with
# the fields below. Training expands `captions` to one pair per caption.
SHARD_IMAGE_EXT = "jpg"
SHARD_TEXT_EXT = "txt"
SHARD_META_EXT = "json"
SHARD_META_FIELDS = (
    "key", "captions", "attrs", "attr_source", "prompt", "person_id", "image_id", "split",
    "source", "scores", "provenance",
)
SPLITS = ("train", "val", "test")

# ---------------------------------------------------------------------------------------------
# Manifest schemas. Each stage writes its own parquet parts holding `key` plus the columns it
# adds; readers join them on `key`. Upstream columns are never rewritten.
ATTR_LIST = pa.list_(pa.int8(), NUM_MALS_ATTRIBUTES)

PLAN_SCHEMA = pa.schema([
    ("key", pa.string()), ("index", pa.int64()), ("part", pa.int32()), ("prompt", pa.string()),
    ("seed", pa.int64()), ("prompt_attrs", ATTR_LIST), ("prompt_source", pa.string()),
])
GENERATE_SCHEMA = pa.schema([
    ("key", pa.string()), ("image_path", pa.string()), ("image_member", pa.string()),
    ("width", pa.int32()), ("height", pa.int32()), ("image_bytes", pa.int64()),
    ("backend", pa.string()), ("model", pa.string()), ("status", pa.string()),
    ("error", pa.string()),
])
CAPTION_SCHEMA = pa.schema([
    ("key", pa.string()), ("caption", pa.string()), ("captioner", pa.string()),
    ("caption_settings", pa.string()),
])
ATTRS_SCHEMA = pa.schema([
    ("key", pa.string()), ("attrs", ATTR_LIST), ("attr_source", pa.string()),
    ("attr_agreement", pa.float32()),
])
FILTER_SCHEMA = pa.schema([
    ("key", pa.string()), ("keep", pa.bool_()), ("reason", pa.string()),
    ("clip_score", pa.float32()), ("person_box", pa.list_(pa.int32(), 4)),
    ("phash", pa.string()), ("blur", pa.float32()), ("colourfulness", pa.float32()),
    # Added by the filter stage (mals_gen/filter/stage.py documents each measure).
    ("file_bytes", pa.int64()), ("pixel_std", pa.float32()), ("n_persons", pa.int32()),
    ("person_score", pa.float32()), ("attr_disagreement", pa.float32()), ("duplicate_of", pa.string()),
])
SHARD_MANIFEST_SCHEMA = pa.schema([
    ("key", pa.string()), ("shard", pa.string()), ("split", pa.string()),
    ("caption", pa.string()), ("captions", pa.list_(pa.string())),
    ("attrs", ATTR_LIST), ("person_id", pa.string()), ("image_id", pa.string()),
    ("source", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
    # PA-100K's own 26 labels (1 = present); null for every other source.
    ("pa100k_attrs", pa.list_(pa.int8(), NUM_PA100K_ATTRIBUTES)),
])
STAGE_SCHEMAS = {
    "plan": PLAN_SCHEMA, "generate": GENERATE_SCHEMA, "caption": CAPTION_SCHEMA,
    "attrs": ATTRS_SCHEMA, "filter": FILTER_SCHEMA,
}
STAGE_ORDER = ("plan", "generate", "caption", "attrs", "filter")
