"""The PA-100K prompt strings are the official ones, byte for byte (docs/attributes.md)."""
from __future__ import annotations

from aptm_train.prompts import PA100K_PROMPT_PAIRS, prompt_set
from mals_gen.contract import PA100K_ATTRIBUTE_NAMES

# (attribute, negative prompt = label 0, positive prompt = label 1), in the label vector's order,
# as the official PA-100K training script has them; data, so written out here rather than imported.
OFFICIAL = (
    ('Female', 'the person is a man', 'the person is a woman'),
    ('AgeOver60', 'the person is no more than 60 years old', 'the person is older than 60 years old'),
    ('Age18-60', 'the person is a young or old one', 'the person is of mid age, between 18 and 60 years old'),
    ('AgeLess18', 'the person is older than 18', 'the person is a baby or a teenager, younger than 18'),
    ('Front', 'the picture is not the front of the person', 'the picture shows the front of the person'),
    ('Side', 'the picture is not the side of the person', 'the picture shows the side of the person'),
    ('Back', 'the picture is not the back of the person', 'the picture shows the back of the person'),
    ('Hat', 'a person without a hat', 'a person with a hat'),
    ('Glasses', 'a person without a glasses', 'a person with a glasses'),
    ('HandBag', 'a person without a handbag', 'a person with a handbag'),
    ('ShoulderBag', 'a person without a shoulder bag', 'a person with a shoulder bag'),
    ('Backpack', 'a person without a backpack', 'a person with a backpack'),
    ('HoldObjectsInFront',
     'the person does not hold an object in front',
     'the person hold an object in front'),
    ('ShortSleeve',
     'the person does not wear short sleeved upper clothes',
     'the person wears short sleeved upper clothes'),
    ('LongSleeve',
     'the person does not wear long sleeved upper clothes',
     'the person wears long sleeved upper clothes'),
    ('UpperStride',
     'there is no stride on the upper clothes of the person',
     'there is stride on the upper clothes of the person'),
    ('UpperLogo',
     'there is no logo on the upper clothes of the person',
     'there is logo on the upper clothes of the person'),
    ('UpperPlaid',
     'there is no plaid on the upper clothes of the person',
     'there is plaid on the upper clothes of the person'),
    ('UpperSplice',
     'there is no splice on the upper clothes of the person',
     'there is splice on the upper clothes of the person'),
    ('LowerStripe',
     'there is no stripe on the upper clothes of the person',
     'there is stripe on the upper clothes of the person'),
    ('LowerPattern',
     'there is no pattern on the lower part of the person',
     'there is pattern on the lower part of the person'),
    ('LongCoat', 'the person does not wear long coat', 'the person wears long coat'),
    ('Trousers', 'the person does not wear trousers', 'the person wears trousers'),
    ('Shorts', 'the person does not wear shorts', 'the person wears shorts'),
    ('Skirt&Dress', 'the person does not wear a skirt or a dress', 'the person wears a skirt or a dress'),
    ('boots', 'the person does not wear boots', 'the person wears boots'),
)


def test_the_52_strings_are_the_official_ones_in_order():
    expected = tuple(p for _, neg, pos in OFFICIAL for p in (neg, pos))
    assert len(expected) == 52
    got = prompt_set("pa100k")
    for i, (ours, theirs) in enumerate(zip(got, expected)):
        assert ours.encode() == theirs.encode(), f"prompt {i}: {ours!r} != {theirs!r}"
    assert got == expected


def test_pairs_follow_the_dataset_label_order():
    names = tuple(name for name, _, _ in OFFICIAL)
    assert names == tuple(PA100K_ATTRIBUTE_NAMES)
    assert PA100K_PROMPT_PAIRS[25] == ("the person does not wear boots", "the person wears boots")
