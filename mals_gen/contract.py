"""The data contract shared by `mals` and `aptm-train`.

Everything a consumer of our shards needs to agree on lives here and nowhere else: the 27 MALS
attributes with their 54 prompts (byte-identical to what APTM checkpoints were trained with), the
label semantics, PA-100K's 26 attributes, the manifest schemas, the shard sample layout and the
key format. `aptm_train` imports it, with the few dependency-light helpers that
`tests/test_boundaries.py` lists; `mals_gen` never imports `aptm_train`.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import pyarrow as pa

# ---------------------------------------------------------------------------------------------
# Label semantics (docs/attributes.md): 0 = the first prompt of the pair is true, 1 = the second
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
# Which label means "present" for the binary presence slots (polarity differs, see docs/attributes.md).
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

def describe_mals_attrs(vec) -> str:
    """Short words for a 27-slot vector: 'man, adult, backpack, upper red, lower blue'."""
    if vec is None:
        return ""
    vec = [int(v) for v in vec]
    words = []
    names = {"gender": ("woman", "man"), "age": ("child", "adult"), "hair": ("short hair", "long hair"),
             "sleeve": ("long sleeves", "short sleeves"), "lower_length": ("long lower", "short lower"),
             "lower_type": ("dress/skirt", "pants/shorts")}
    for i, name in enumerate(MALS_ATTRIBUTE_NAMES[:10]):
        if vec[i] < 0:
            continue
        if name in names:
            words.append(names[name][vec[i]])
        elif vec[i] == 0:  # presence slots: 0 = has it
            words.append(name)
    for colours, offset, garment in ((UPPER_COLOURS, 10, "upper"), (LOWER_COLOURS, 18, "lower")):
        worn = [c for j, c in enumerate(colours) if vec[offset + j] == 0]
        if worn:
            words.append(f"{garment} {'/'.join(worn)}")
    return ", ".join(words)


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
# The shard sample (WebDataset), defined here once: KEY.jpg the image, KEY.txt the first caption,
# KEY.json the fields of `ShardSample` below (shards/README.md documents them). Every writer builds
# its members with `sample_members`, every reader parses them with `read_sample`, and the manifest
# row comes from `ShardSample.manifest_row`; nothing else spells the layout out.
SHARD_IMAGE_EXT = "jpg"
SHARD_TEXT_EXT = "txt"
SHARD_META_EXT = "json"
SHARD_EXTS = (SHARD_IMAGE_EXT, SHARD_META_EXT, SHARD_TEXT_EXT)   # tar member order: sorted by extension
SHARD_META_FIELDS = (
    "key", "captions", "mals_attrs", "attr_source", "prompt", "person_id", "image_id", "split",
    "source", "scores", "provenance",
)
SPLITS = ("train", "val", "test")


class SampleError(ValueError):
    """A shard sample that cannot be read (a member missing, damaged JSON, a wrong key)."""


def _labels(values) -> tuple[int, ...] | None:
    return None if values is None else tuple(int(v) for v in values)


@dataclass(frozen=True)
class ShardSample:
    """One sample of a shard: the image bytes and the KEY.json fields.

    `image` may stay empty while a writer has not read the source image yet. `mals_attrs` holds the
    27 MALS labels (mined from captions, or the dataset's own; `attr_source` says which);
    `pa100k_attrs` (the 26 PA-100K labels, 1 = present) is written to KEY.json only when set.
    """
    key: str
    split: str
    source: str
    captions: tuple[str, ...] = ()
    person_id: str = ""            # "" = the key (generated images are each their own person)
    image_id: str = ""             # "" = the key
    mals_attrs: tuple[int, ...] | None = None
    attr_source: str | None = None
    prompt: str | None = None
    scores: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)
    pa100k_attrs: tuple[int, ...] | None = None
    image: bytes = field(default=b"", repr=False)

    def __post_init__(self) -> None:
        # normalised once, so equal samples compare equal and encode to equal bytes
        object.__setattr__(self, "captions", tuple(self.captions))
        object.__setattr__(self, "person_id", str(self.person_id or self.key))
        object.__setattr__(self, "image_id", str(self.image_id or self.key))
        object.__setattr__(self, "mals_attrs", _labels(self.mals_attrs))
        object.__setattr__(self, "pa100k_attrs", _labels(self.pa100k_attrs))

    @property
    def caption(self) -> str:
        """The first caption ("" when there is none, as for PA-100K)."""
        return self.captions[0] if self.captions else ""

    def meta(self) -> dict:
        """The KEY.json object."""
        meta = {name: getattr(self, name) for name in SHARD_META_FIELDS}
        meta["captions"], meta["mals_attrs"] = list(self.captions), _list(self.mals_attrs)
        if self.pa100k_attrs is not None:
            meta["pa100k_attrs"] = list(self.pa100k_attrs)
        return meta

    def meta_json(self) -> bytes:
        return json.dumps(self.meta(), sort_keys=True, ensure_ascii=False, allow_nan=False).encode("utf-8")

    def manifest_row(self, shard: str, width: int, height: int) -> dict:
        """This sample's row of manifest.parquet (SHARD_MANIFEST_SCHEMA)."""
        return {"key": self.key, "shard": shard, "split": self.split, "caption": self.caption,
                "captions": list(self.captions), "mals_attrs": _list(self.mals_attrs), "person_id": self.person_id,
                "image_id": self.image_id, "source": self.source, "width": width, "height": height,
                "pa100k_attrs": _list(self.pa100k_attrs)}


def _list(values) -> list | None:
    return None if values is None else list(values)


def sample_members(sample: ShardSample, image: bytes | None = None) -> dict[str, bytes]:
    """The tar members of a sample, name -> bytes, in tar order; `image` replaces `sample.image`."""
    data = sample.image if image is None else image
    if not data:
        raise SampleError(f"sample {sample.key} has no image bytes")
    if not is_valid_key(sample.key):
        raise SampleError(f"sample key {sample.key!r} is not a valid key (letters, digits, _ and - only)")
    return {f"{sample.key}.{SHARD_IMAGE_EXT}": data, f"{sample.key}.{SHARD_META_EXT}": sample.meta_json(),
            f"{sample.key}.{SHARD_TEXT_EXT}": sample.caption.encode("utf-8")}


def read_sample(files: Mapping[str, bytes]) -> ShardSample:
    """A sample from its WebDataset members: extension -> bytes, plus `__key__` when known.

    Fields missing from KEY.json (shards of older builds) take the dataclass defaults; the split
    defaults to train; builds before the rename called `mals_attrs` "attrs". Raises `SampleError` naming the key and what is wrong.
    """
    key = files.get("__key__")
    raw, image = files.get(SHARD_META_EXT), files.get(SHARD_IMAGE_EXT)
    if raw is None or image is None:
        lacking = SHARD_META_EXT if raw is None else SHARD_IMAGE_EXT
        raise SampleError(f"sample {key} lacks its .{lacking} member")
    try:
        meta = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise SampleError(f"sample {key} has a damaged .{SHARD_META_EXT} ({err})") from None
    if not isinstance(meta, dict) or (key is not None and meta.get("key", key) != key):
        found = meta.get("key") if isinstance(meta, dict) else type(meta).__name__
        raise SampleError(f"sample {key} has key {found!r} in its .{SHARD_META_EXT}")
    try:
        return ShardSample(
            key=str(meta.get("key", key)), split=meta.get("split") or "train", source=meta.get("source") or "",
            captions=meta.get("captions") or (), person_id=meta.get("person_id") or "",
            image_id=meta.get("image_id") or "", mals_attrs=meta.get("mals_attrs", meta.get("attrs")),
            attr_source=meta.get("attr_source"),
            prompt=meta.get("prompt"), scores=meta.get("scores") or {}, provenance=meta.get("provenance") or {},
            pa100k_attrs=meta.get("pa100k_attrs"), image=image)
    except (TypeError, ValueError) as err:
        raise SampleError(f"sample {key} has a malformed .{SHARD_META_EXT} ({err})") from None


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
    # Known at creation (null when not): the person's box in this image (sketch renders, import
    # crops), the 27 labels the image shows exactly (sketch renders), and for imports the source file, the crop's box in it and the detector's score.
    ("known_box", pa.list_(pa.int32(), 4)), ("known_attrs", ATTR_LIST), ("source_image", pa.string()),
    ("source_box", pa.list_(pa.int32(), 4)), ("detect_score", pa.float32()),
])
#: One caption of an image with its provenance: which captioner, which mined style (-1: none) and
#: the instruction it was asked (or the style template it followed).
CAPTION_ENTRY = pa.struct([("text", pa.string()), ("captioner", pa.string()), ("style", pa.int32()),
                           ("instruction", pa.string())])
# `caption` / `captioner` / `caption_settings` describe the first caption (what readers of one
# caption use); `captions` holds every caption of the image, the first included.
CAPTION_SCHEMA = pa.schema([
    ("key", pa.string()), ("caption", pa.string()), ("captioner", pa.string()),
    ("caption_settings", pa.string()), ("captions", pa.list_(CAPTION_ENTRY)),
])


def caption_entries(row: Mapping) -> list[dict]:
    """Every non-empty caption of a caption-manifest row as CAPTION_ENTRY dicts, in order.

    Rows written before `captions` existed (or joined without it) give their one `caption`."""
    entries = row.get("captions")
    if entries is not None and hasattr(entries, "__iter__") and not isinstance(entries, str):
        return [dict(e) for e in entries if e and e.get("text")]
    text = row.get("caption")
    if not isinstance(text, str) or not text:
        return []
    return [{"text": text, "captioner": row.get("captioner") or "", "style": -1, "instruction": None}]
# Label columns are named `mined_attrs` / `mals_attrs`, never `attrs`: pandas' DataFrame.attrs would
# shadow a column of that name (df.attrs is a metadata dict).
ATTRS_SCHEMA = pa.schema([
    ("key", pa.string()), ("mined_attrs", ATTR_LIST), ("attr_source", pa.string()),
    ("attr_agreement", pa.float32()), ("caption_agreement", pa.float32()),
])
FILTER_SCHEMA = pa.schema([
    ("key", pa.string()), ("keep", pa.bool_()), ("reason", pa.string()),
    ("clip_score", pa.float32()), ("person_box", pa.list_(pa.int32(), 4)),
    ("phash", pa.string()), ("blur", pa.float32()), ("colourfulness", pa.float32()),
    # Added by the filter stage (mals_gen/filter/stage.py documents each measure).
    ("file_bytes", pa.int64()), ("pixel_std", pa.float32()), ("n_persons", pa.int32()),
    ("person_score", pa.float32()), ("attr_disagreement", pa.float32()), ("duplicate_of", pa.string()),
    # The pose model's 17 COCO keypoints (x, y, score per keypoint, in this image's pixels) and how
    # many are visible; null when no pose model ran.
    ("keypoints", pa.list_(pa.float32(), 51)), ("pose_visible", pa.int32()),
])
SHARD_MANIFEST_SCHEMA = pa.schema([
    ("key", pa.string()), ("shard", pa.string()), ("split", pa.string()),
    ("caption", pa.string()), ("captions", pa.list_(pa.string())),
    ("mals_attrs", ATTR_LIST), ("person_id", pa.string()), ("image_id", pa.string()),
    ("source", pa.string()), ("width", pa.int32()), ("height", pa.int32()),
    # PA-100K's own 26 labels (1 = present); null for every other source.
    ("pa100k_attrs", pa.list_(pa.int8(), NUM_PA100K_ATTRIBUTES)),
])
STAGE_SCHEMAS = {
    "plan": PLAN_SCHEMA, "generate": GENERATE_SCHEMA, "caption": CAPTION_SCHEMA,
    "attrs": ATTRS_SCHEMA, "filter": FILTER_SCHEMA,
}
STAGE_ORDER = ("plan", "generate", "caption", "attrs", "filter")
