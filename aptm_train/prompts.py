"""Attribute prompt sets: MALS (27 attributes, 54 prompts, from the data contract) and PA-100K (26, 52).

Attribute i uses prompts 2i and 2i+1; label v in {0, 1} selects prompt 2i+v; -1 is unknown.
MALS strings come byte-identical from `mals_gen.contract`. The PA-100K pairs are ours (APTM's
exact strings were not released): (negative, positive), so the dataset's label 1 ("present")
selects the second prompt. Wording follows the MALS prompts ("the person with ...", "the person
wears ...") and negates naturally ("without", "does not wear", "is not").
"""
from __future__ import annotations

from dataclasses import dataclass

from mals_gen.contract import MALS_PROMPT_PAIRS, PA100K_ATTRIBUTE_NAMES
from mals_gen.errors import UserError

PA100K_PROMPT_PAIRS: tuple[tuple[str, str], ...] = (
    ("the person is a man", "the person is a woman"),                                    # Female
    ("the person is not older than 60 years old", "the person is older than 60 years old"),
    ("the person is not between 18 and 60 years old", "the person is between 18 and 60 years old"),
    ("the person is not younger than 18 years old", "the person is younger than 18 years old"),
    ("the person is not facing the camera", "the person is facing the camera"),          # Front
    ("the person is not seen from the side", "the person is seen from the side"),        # Side
    ("the person is not seen from the back", "the person is seen from the back"),        # Back
    ("the person without a hat", "the person with a hat"),
    ("the person without glasses", "the person with glasses"),
    ("the person without a handbag", "the person with a handbag"),
    ("the person without a shoulder bag", "the person with a shoulder bag"),
    ("the person without a backpack", "the person with a backpack"),
    ("the person holds nothing in front", "the person holds objects in front"),
    ("the person does not wear short sleeved upper clothes", "the person wears short sleeved upper clothes"),
    ("the person does not wear long sleeved upper clothes", "the person wears long sleeved upper clothes"),
    ("the person wears upper clothes without stripes", "the person wears upper clothes with stripes"),
    ("the person wears upper clothes without a logo", "the person wears upper clothes with a logo"),
    ("the person wears upper clothes without plaid", "the person wears plaid upper clothes"),
    ("the person wears upper clothes without splicing", "the person wears spliced upper clothes"),
    ("the person wears lower clothes without stripes", "the person wears lower clothes with stripes"),
    ("the person wears lower clothes without patterns", "the person wears lower clothes with patterns"),
    ("the person does not wear a long coat", "the person wears a long coat"),
    ("the person does not wear trousers", "the person wears trousers"),
    ("the person does not wear shorts", "the person wears shorts"),
    ("the person does not wear a skirt or dress", "the person wears a skirt or dress"),
    ("the person does not wear boots", "the person wears boots"),
)
assert len(PA100K_PROMPT_PAIRS) == len(PA100K_ATTRIBUTE_NAMES)

PROMPT_SETS: dict[str, tuple[str, ...]] = {
    "mals": tuple(p for pair in MALS_PROMPT_PAIRS for p in pair),
    "pa100k": tuple(p for pair in PA100K_PROMPT_PAIRS for p in pair),
}


def prompt_set(name: str) -> tuple[str, ...]:
    """The 2A prompts of attribute set `name` ("mals" or "pa100k") in label order."""
    if name not in PROMPT_SETS:
        raise UserError(f"unknown attribute set {name!r}; choose one of {', '.join(PROMPT_SETS)}")
    return PROMPT_SETS[name]


#: The shard sample field holding each attribute set's labels (see docs/datasets.md).
LABEL_FIELDS: dict[str, str] = {"mals": "attrs", "pa100k": "pa100k_attrs"}


@dataclass(frozen=True)
class AttributeSet:
    """What the trainer needs to know about an attribute set: its prompts and where its labels live."""
    name: str
    prompts: tuple[str, ...]
    label_field: str

    @property
    def num_attributes(self) -> int:
        return len(self.prompts) // 2


def attribute_set(name: str) -> AttributeSet:
    """The attribute set `name` ("mals" or "pa100k"): prompts, label field and attribute count."""
    return AttributeSet(name, prompt_set(name), LABEL_FIELDS[name])
