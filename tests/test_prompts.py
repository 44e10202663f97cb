"""Prompt sources: the attribute-driven composer (priors, consistency, wording) and description files."""
from __future__ import annotations

import json
import math
import re

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mals_gen.config import from_mapping
from mals_gen.contract import ATTR, LOWER_COLOURS, NUM_MALS_ATTRIBUTES, UPPER_COLOURS
from mals_gen.errors import UserError
from mals_gen.prompts import ComposerConfig, DescriptionFile, PromptComposer, expected_marginals

N = 3000


@pytest.fixture(scope="module")
def samples():
    composer = PromptComposer()
    rng = np.random.default_rng(1234)
    return [composer.compose(rng) for _ in range(N)]


def _has(pattern: str, text: str) -> bool:
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


# ---------------------------------------------------------------------------------------------
# Determinism and attribute consistency
def test_same_rng_state_same_output():
    a, b = PromptComposer(), PromptComposer()
    out_a = [a.compose(np.random.default_rng(7)) for _ in range(3)]
    out_b = [b.compose(np.random.default_rng(7)) for _ in range(3)]
    assert all(ta == tb and np.array_equal(xa, xb) for (ta, xa), (tb, xb) in zip(out_a, out_b))
    rng_a, rng_b = np.random.default_rng(99), np.random.default_rng(99)
    seq_a = [a.compose(rng_a)[0] for _ in range(200)]
    seq_b = [b.compose(rng_b)[0] for _ in range(200)]
    assert seq_a == seq_b
    attrs = a.sample_attributes(np.random.default_rng(3))
    assert a.describe(attrs, np.random.default_rng(5)) == b.describe(attrs, np.random.default_rng(5))
    assert a.compose(np.random.default_rng(8))[0] != a.compose(np.random.default_rng(9))[0]


def test_attrs_are_consistent_vectors(samples):
    for _, attrs in samples:
        assert attrs.shape == (NUM_MALS_ATTRIBUTES,) and attrs.dtype == np.int8
        assert set(attrs.tolist()) <= {0, 1}
        # at most one colour per garment: one slot 0, or none (a colour without a slot)
        assert (attrs[10:18] == 0).sum() <= 1 and (attrs[18:27] == 0).sum() <= 1


def _assert_marginals(attrs: np.ndarray, expected: np.ndarray):
    n = len(attrs)
    observed = attrs.mean(axis=0)
    for i, (o, e) in enumerate(zip(observed, expected)):
        tol = 4.5 * math.sqrt(max(e * (1 - e), 1e-4) / n) + 0.005
        assert abs(o - e) <= tol, f"slot {i}: observed {o:.3f}, expected {e:.3f}"


def test_marginals_follow_default_priors(samples):
    attrs = np.stack([a for _, a in samples])
    expected = expected_marginals(ComposerConfig())
    _assert_marginals(attrs, expected)
    # the documented defaults: ~55% men, ~95% adults, few hats, ~25% backpacks, ~18% unlisted tops
    assert 0.5 < expected[ATTR["gender"]] < 0.6 and expected[ATTR["age"]] > 0.9
    assert 0.05 < 1 - expected[ATTR["hat"]] < 0.12 and 0.15 < 1 - expected[ATTR["backpack"]] < 0.3
    assert 0.1 < (attrs[:, 10:18] == 1).all(axis=1).mean() < 0.26


def test_marginals_and_conditionals_follow_custom_priors():
    cfg = from_mapping(ComposerConfig, {
        "p_male": 0.3, "p_hat": 0.5, "p_adult": 0.5, "p_skirt_male": 0.0, "p_skirt_female": 0.6,
        "p_dress": 1.0, "upper_colour_weights": {"red": 1, "orange": 1}, "lower_colour_weights": {"pink": 1},
    }, "composer")
    composer = PromptComposer(cfg)
    rng = np.random.default_rng(0)
    attrs = np.stack([composer.sample_attributes(rng) for _ in range(2000)])
    _assert_marginals(attrs, expected_marginals(cfg))
    men, skirts = attrs[:, ATTR["gender"]] == 1, attrs[:, ATTR["lower_type"]] == 0
    assert not (men & skirts).any()
    # every skirt is a dress here: its colour fills the lower slots too (red/orange have no lower slot)
    assert (attrs[skirts, 18:27] == 1).all()
    assert (attrs[~skirts, ATTR["lower_pink"]] == 0).all()
    assert set(np.flatnonzero((attrs[:, 10:18] == 0).any(axis=0))) == {ATTR["upper_red"] - 10}


@pytest.mark.parametrize("mapping, needle", [
    ({"p_hat": 1.5}, "p_hat"),
    ({"p_hatt": 0.1}, "p_hatt"),
    ({"upper_colour_weights": {"grey": 1.0}}, "gray"),
    ({"lower_colour_weights": {"navyblue": 1.0}}, "navyblue"),
    ({"lower_colour_weights": {"black": -1}}, ">= 0"),
    ({"upper_colour_weights": {}}, "empty"),
])
def test_bad_composer_config_is_a_user_error(mapping, needle):
    with pytest.raises(UserError, match=re.escape(needle)):
        from_mapping(ComposerConfig, mapping, "composer")


# ---------------------------------------------------------------------------------------------
# Wording agrees with the attributes
_FEMALE = r"\b(woman|lady|girl|schoolgirl|female|she|her)\b"
_MALE = r"\b(man|gentleman|guy|boy|schoolboy|male|he|him|his)\b"
_COLOUR = r"(black|white|red|purple|yellow|blue|green|gray|grey|pink|brown|orange|navy|beige|khaki|maroon|tan)"
_UPPER_G = r"(t-shirt|tee|polo shirt|tank top|shirt|top|blouse|sweater|jumper|hoodie|sweatshirt|jacket|coat|" \
           r"blazer|cardigan|windbreaker|parka)"
_LOWER_G = r"(jeans|trousers|pants|leggings|slacks|sweatpants|joggers|shorts|skirt|miniskirt)"
_BIND = r"\b{c}\s+(?:(?!and\b|with\b|or\b)[\w-]+\s+){{0,3}}?{g}\b"  # colour, up to 3 words, garment


def _colour_fits(word: str, slots: np.ndarray, listed: tuple[str, ...]) -> bool:
    word = "gray" if word == "grey" else word
    return slots[listed.index(word)] == 0 if word in listed else bool((slots == 1).all())


def _check_text(text: str, a: np.ndarray):
    t = text.lower()
    rules = [  # (pattern, condition on the attributes)
        (r"\b(t-shirt|tee|polo shirt|tank top|short-sleeved|short sleeves?|short-sleeve|sleeveless)\b", a[7] == 1),
        (r"\b(hoodie|sweater|jacket|coat|sweatshirt|cardigan|blazer|long-sleeved|long sleeves?|long-sleeve)\b",
         a[7] == 0),
        (r"\b(jeans|trousers|leggings|slacks|sweatpants|joggers)\b", a[8] == 0 and a[9] == 1),
        (r"\b(pants)\b", a[9] == 1),
        (r"\bshorts\b|\bshort (?:\w+ )?pants\b", a[8] == 1 and a[9] == 1),
        (r"\b(skirt|miniskirt|dress)\b", a[9] == 0),
        (r"\b(short|mini)\s+(?:\w+\s+){0,1}?(skirt|dress)\b|\bminiskirt\b", a[8] == 1),
        (r"\b(long|maxi|ankle-length)\s+(?:\w+\s+){0,1}?(skirt|dress)\b", a[8] == 0),
        (r"\b(hat|cap|beanie)\b", a[3] == 0),
        (r"\b(backpack|rucksack)\b", a[4] == 0),
        (r"\b(handbag|hand bag|purse|briefcase)\b", a[5] == 0),
        (r"(?<!hand )\bbag\b", a[6] == 0),
        (r"\b(boy|girl|schoolboy|schoolgirl)\b", a[1] == 0),
        (r"\blong,?(?: (?!long\b|short\b)[a-z]+){0,2}? hair\b|\bponytail\b", a[2] == 1),
        (r"\bshort,?(?: (?!long\b|short\b)[a-z]+){0,2}? hair\b|\bbuzz cut\b|\bbob\b", a[2] == 0),
    ]
    for pattern, ok in rules:
        assert ok or not _has(pattern, t), f"{pattern!r} contradicts {a.tolist()}: {text}"
    # gender is always said, and only one gender is said
    female, male = _has(_FEMALE, t), _has(_MALE, t)
    assert (female and not male) if a[0] == 0 else (male and not female), text
    # every bag present is named
    assert a[4] == 1 or _has(r"\b(backpack|rucksack)\b", t), text
    assert a[5] == 1 or _has(r"\b(handbag|hand bag|purse|briefcase)\b", t), text
    assert a[6] == 1 or _has(r"(?<!hand )\bbag\b", t), text
    # every colour word bound to a garment agrees with that garment's slots; both garments get a colour
    upper = re.findall(_BIND.format(c=_COLOUR, g=_UPPER_G), t)
    lower = re.findall(_BIND.format(c=_COLOUR, g=_LOWER_G), t)
    dress = re.findall(_BIND.format(c=_COLOUR, g="(dress)"), t)
    for colour, _ in upper + dress:
        assert _colour_fits(colour, a[10:18], UPPER_COLOURS), f"upper {colour} vs {a.tolist()}: {text}"
    for colour, _ in lower + dress:
        assert _colour_fits(colour, a[18:27], LOWER_COLOURS), f"lower {colour} vs {a.tolist()}: {text}"
    assert (upper and lower) or dress, f"garment colours missing: {text}"


def test_descriptions_never_contradict_attrs(samples):
    for text, attrs in samples:
        _check_text(text, attrs)


def test_describe_handles_unlisted_multi_colour_and_dress():
    composer = PromptComposer()
    rng = np.random.default_rng(11)
    base = composer.sample_attributes(np.random.default_rng(0))
    cases = []
    unlisted = base.copy()
    unlisted[10:27] = 1  # colours without a slot on both garments
    cases.append(unlisted)
    two = base.copy()
    two[10:18] = 1
    two[[ATTR["upper_black"], ATTR["upper_white"]]] = 0
    cases.append(two)
    dress = base.copy()
    dress[[ATTR["gender"], ATTR["lower_type"], ATTR["lower_length"]]] = (0, 0, 0)
    dress[10:27] = 1
    dress[[ATTR["upper_black"], ATTR["lower_black"]]] = 0
    cases.append(dress)
    for attrs in cases:
        for _ in range(150):
            _check_text(composer.describe(attrs, rng), attrs)
    texts = [composer.describe(dress, rng) for _ in range(100)]
    assert any(" dress" in t for t in texts) and any("skirt" in t for t in texts)
    for bad in (np.zeros(26, np.int8), np.full(27, -1, np.int8)):
        with pytest.raises(ValueError):
            composer.describe(bad, rng)


def test_descriptions_are_varied(samples):
    texts = [t for t, _ in samples[:1000]]
    assert len(set(texts)) >= 900
    openings = {" ".join(t.split()[:3]).lower() for t in texts}
    assert len(openings) >= 100
    prompt_like = sum(not t.endswith(".") for t in texts)  # tag lists carry no final full stop
    assert 150 < prompt_like < 500  # both CUHK-PEDES-like sentences and short tag-list prompts
    words = {w for t in texts for w in re.findall(r"[a-z-]+", t.lower())}
    for word in ("t-shirt", "tee", "blouse", "hoodie", "jacket", "coat", "sweater", "jeans", "trousers",
                 "leggings", "shorts", "skirt", "dress", "sneakers", "backpack", "cctv", "surveillance"):
        assert word in words, word
    lengths = [len(t.split()) for t in texts]
    assert 8 <= min(lengths) and max(lengths) >= 40 and 15 <= np.mean(lengths) <= 40


# ---------------------------------------------------------------------------------------------
# Description files
def _cuhk_records():
    return [
        {"split": "train", "captions": ["A woman in a red  shirt.\n", "She carries a bag."],
         "file_path": "CUHK01/0363004.png", "processed_tokens": [["a", "woman"], ["she"]], "id": 1},
        {"split": "test", "captions": ["A man with a black backpack."], "file_path": "Market/0001_c1.jpg",
         "processed_tokens": [["a", "man"]], "id": 2},
    ]


def test_txt_jsonl_and_wrapping(tmp_path):
    txt = tmp_path / "captions.txt"
    txt.write_text("first one\n\n   \nsecond   one\nthird\n")
    f = DescriptionFile(txt)
    assert len(f) == 3 and f.name == "file:captions.txt"
    assert f.texts(0, 3) == ["first one", "second one", "third"]
    assert f.texts(2, 7) == ["third", "first one", "second one", "third", "first one"]
    assert f.texts(4, 4) == []
    jsonl = tmp_path / "c.jsonl"
    jsonl.write_text('{"caption": "a"}\n\n{"text": "b"}\n"c"\n{"caption": ["d", "e"]}\n{"caption": null}\n')
    assert DescriptionFile(jsonl).texts(0, 5) == ["a", "b", "c", "d", "e"]
    custom = tmp_path / "d.jsonl"
    custom.write_text('{"prompt": "x", "caption": "no"}\n{"prompt": "y"}\n')
    assert DescriptionFile(custom, field="prompt").texts(0, 2) == ["x", "y"]


def test_parquet(tmp_path):
    path = tmp_path / "p.parquet"
    pq.write_table(pa.table({"key": ["k1", "k2", "k3"], "text": ["one", None, "three"]}), path)
    assert DescriptionFile(path).texts(0, 2) == ["one", "three"]
    path2 = tmp_path / "q.parquet"
    pq.write_table(pa.table({"caption": [["a", "b"], ["c"]], "desc": ["x", "y"]}), path2)
    assert DescriptionFile(path2).texts(0, 3) == ["a", "b", "c"]
    assert DescriptionFile(path2, field="desc").texts(0, 2) == ["x", "y"]


def test_dataset_json_files(tmp_path):
    cuhk = tmp_path / "reid_raw.json"
    cuhk.write_text(json.dumps(_cuhk_records()))
    f = DescriptionFile(cuhk)
    assert f.texts(0, 3) == ["A woman in a red shirt.", "She carries a bag.", "A man with a black backpack."]
    assert f.name == "file:reid_raw.json"
    icfg = tmp_path / "ICFG-PEDES.json"
    icfg.write_text(json.dumps([{"id": 7, "file_path": "test/0001/x.jpg", "split": "test",
                                 "captions": ["The man wears a gray coat."], "processed_tokens": [["the"]]}]))
    assert DescriptionFile(icfg).texts(0, 1) == ["The man wears a gray coat."]
    rstp = tmp_path / "data_captions.json"
    rstp.write_text(json.dumps([{"id": 0, "img_path": "0000_c14_0031.jpg", "captions": ["cap one", "cap two"],
                                 "split": "train"}]))
    assert DescriptionFile(rstp).texts(0, 2) == ["cap one", "cap two"]
    strings = tmp_path / "list.json"
    strings.write_text(json.dumps(["x", "y"]))
    assert len(DescriptionFile(strings)) == 2
    aptm = tmp_path / "aptm_train.json"
    aptm.write_text(json.dumps([{"image": "a.jpg", "caption": "one", "image_id": 3},
                                {"image": "b.jpg", "caption": ["two", "three"], "image_id": 4}]))
    assert DescriptionFile(aptm).texts(0, 3) == ["one", "two", "three"]


def _error(tmp_path, name: str, content: str | bytes | None, field: str | None = None) -> str:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    with pytest.raises(UserError) as info:
        DescriptionFile(path, field=field)
    message = str(info.value)
    assert "\n" not in message and name in message
    return message


def test_file_errors(tmp_path):
    assert "does not exist" in _error(tmp_path, "missing.txt", None)
    assert "no descriptions" in _error(tmp_path, "empty.txt", "\n  \n")
    assert "no descriptions" in _error(tmp_path, "empty.json", "[]")
    assert "line 3" in _error(tmp_path, "bad.jsonl", '{"caption": "a"}\n\n{"caption": "b"\n')
    msg = _error(tmp_path, "nofield.jsonl", '{"caption": "a"}\n{"prompt": "b"}\n')
    assert "line 2" in msg and "field" in msg
    assert "line 1" in _error(tmp_path, "trunc.json", '[{"captions": ["a"]}, {"capt')
    records = _cuhk_records()
    del records[1]["captions"]
    msg = _error(tmp_path, "reid_raw.json", json.dumps(records))
    assert "record 1" in msg and "Market/0001_c1.jpg" in msg and "captions" in msg
    assert "list" in _error(tmp_path, "dict.json", '{"annotations": []}')
    msg = _error(tmp_path, "wrongtype.json", json.dumps([{"captions": 5, "img_path": "x.jpg"}]))
    assert "record 0" in msg and "x.jpg" in msg
    pq.write_table(pa.table({"prompt": ["a"]}), tmp_path / "nocol.parquet")
    msg = _error(tmp_path, "nocol.parquet", None)
    assert "'caption' or 'text'" in msg and "prompt" in msg
    assert "parquet" in _error(tmp_path, "broken.parquet", b"not parquet at all")
    assert "UTF-8" in _error(tmp_path, "latin.txt", "caf\xe9 au lait\n".encode("latin-1"))
    assert ".jsonl" in _error(tmp_path, "captions.csv", "a,b\n")
