"""Attribute prompt sets: MALS (27 attributes, 54 prompts, from the data contract) and PA-100K (26, 52).

Attribute i uses prompts 2i and 2i+1; label v in {0, 1} selects prompt 2i+v; -1 is unknown.
MALS strings come byte-identical from `mals_gen.contract`. The PA-100K pairs are the official
ones, byte-identical (the released PA-100K checkpoint was trained and evaluated with them;
docs/attributes.md lists them): (negative, positive), so the dataset's label 1 ("present")
selects the second prompt. Their quirks are kept on purpose, since a model trained with these
strings is scored with the same ones: "a glasses", "the person hold", "stride" for stripe, and
LowerStripe's pair speaking of the "upper clothes".
"""
from __future__ import annotations

from dataclasses import dataclass

from mals_gen.contract import MALS_PROMPT_PAIRS, PA100K_ATTRIBUTE_NAMES
from mals_gen.errors import UserError

PA100K_PROMPT_PAIRS: tuple[tuple[str, str], ...] = (
    ("the person is a man", "the person is a woman"),                                    # Female
    ("the person is no more than 60 years old", "the person is older than 60 years old"),
    ("the person is a young or old one", "the person is of mid age, between 18 and 60 years old"),
    ("the person is older than 18", "the person is a baby or a teenager, younger than 18"),
    ("the picture is not the front of the person", "the picture shows the front of the person"),
    ("the picture is not the side of the person", "the picture shows the side of the person"),
    ("the picture is not the back of the person", "the picture shows the back of the person"),
    ("a person without a hat", "a person with a hat"),
    ("a person without a glasses", "a person with a glasses"),                           # sic
    ("a person without a handbag", "a person with a handbag"),
    ("a person without a shoulder bag", "a person with a shoulder bag"),
    ("a person without a backpack", "a person with a backpack"),
    ("the person does not hold an object in front", "the person hold an object in front"),   # sic
    ("the person does not wear short sleeved upper clothes", "the person wears short sleeved upper clothes"),
    ("the person does not wear long sleeved upper clothes", "the person wears long sleeved upper clothes"),
    ("there is no stride on the upper clothes of the person",                            # UpperStride, sic
     "there is stride on the upper clothes of the person"),
    ("there is no logo on the upper clothes of the person",
     "there is logo on the upper clothes of the person"),
    ("there is no plaid on the upper clothes of the person",
     "there is plaid on the upper clothes of the person"),
    ("there is no splice on the upper clothes of the person",
     "there is splice on the upper clothes of the person"),
    ("there is no stripe on the upper clothes of the person",                            # LowerStripe, sic
     "there is stripe on the upper clothes of the person"),
    ("there is no pattern on the lower part of the person",
     "there is pattern on the lower part of the person"),
    ("the person does not wear long coat", "the person wears long coat"),
    ("the person does not wear trousers", "the person wears trousers"),
    ("the person does not wear shorts", "the person wears shorts"),
    ("the person does not wear a skirt or a dress", "the person wears a skirt or a dress"),
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
LABEL_FIELDS: dict[str, str] = {"mals": "mals_attrs", "pa100k": "pa100k_attrs"}


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
