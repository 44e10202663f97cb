"""EDA's two styles: `original` behaves as the official code (docs/method.md), `ours` where it differs."""
from __future__ import annotations

import random

import pytest

from mals_gen.eda import (
    STOP_WORDS,
    EdaConfig,
    check_style,
    clean_words,
    eda,
    make_eda,
    random_insertion,
    random_swap,
    synonym_replacement,
)
from mals_gen.errors import UserError

TABLE = {"red": ("crimson", "ruby"), "shirt": ("top", "tee"), "woman": ("lady",), "the": ("thee",),
         "s": ("second",)}


def syn(word: str) -> tuple[str, ...]:
    return TABLE.get(word, ())


class Scripted(random.Random):
    """A Random whose randrange answers come from a list (to check the swap's redraws exactly)."""

    def __init__(self, answers):
        super().__init__(0)
        self.answers = list(answers)

    def randrange(self, *args):
        return self.answers.pop(0)


def test_cleaning_drops_digits_only_in_the_original_style():
    text = "A man, 25, wears a T-shirt & the man's bag."
    assert clean_words(text, "original") == ["a", "man", "wears", "a", "t", "shirt", "the", "mans", "bag"]
    assert clean_words(text, "ours") == ["a", "man", "25", "wears", "a", "t", "shirt", "the", "mans", "bag"]
    originals = {eda("number 23 on the shirt", syn, random.Random(s), style="original") for s in range(40)}
    assert not any(c.isdigit() for o in originals for c in o)
    assert any("23" in eda("number 23 on the shirt", syn, random.Random(s)) for s in range(40))


def test_original_insertion_puts_the_first_synonym_before_the_last_word():
    words = ["red", "shirt"]
    outs = [random_insertion(words, 1, syn, random.Random(s), "original") for s in range(200)]
    inserted = {w for out in outs for w in out} - set(words)
    assert inserted == {"crimson", "top"}                    # never "ruby" or "tee"
    assert all(out[-1] == "shirt" and len(out) == 3 for out in outs)
    ours = [random_insertion(words, 1, syn, random.Random(s)) for s in range(200)]
    assert {w for out in ours for w in out} - set(words) == {"crimson", "ruby", "top", "tee"}
    assert any(out[-1] != "shirt" for out in ours)           # ours may append at the end


def test_original_swap_redraws_until_two_different_positions():
    words = ["a", "b", "c"]
    assert random_swap(words, 1, Scripted([0, 0, 0, 2]), "original") == ["c", "b", "a"]   # 2 redraws
    assert random_swap(words, 1, Scripted([1, 1, 1, 1]), "original") == words               # gives up
    for seed in range(100):                                  # ours: always two different positions
        out = random_swap(["x", "y"], 1, random.Random(seed))
        assert out == ["y", "x"]


def test_stop_words_are_nltks_english_list():
    assert len(STOP_WORDS) == 127
    assert {"s", "t", "don", "now", "the", "yourselves"} <= STOP_WORDS
    words = ["the", "woman", "s", "red"]
    for seed in range(30):                                   # "the" and "s" have synonyms but stay
        out = synonym_replacement(words, 4, syn, random.Random(seed))
        assert out[0] == "the" and out[2] == "s" and out[1] == "lady"


def test_config_and_style_errors():
    assert EdaConfig() == EdaConfig(alpha=0.1, style="ours")
    assert check_style("original") == "original"
    with pytest.raises(UserError, match="data.eda_style 'paper' is unknown; choose one of ours, original"):
        check_style("paper", "data.eda_style")
    with pytest.raises(UserError, match="eda style"):
        eda("a red shirt", syn, random.Random(0), style="nltk")


def test_both_styles_reproducible_from_the_seed():
    for style in ("ours", "original"):
        a = [eda("A woman in a red shirt.", syn, random.Random(s), style=style) for s in range(10)]
        b = [eda("A woman in a red shirt.", syn, random.Random(s), style=style) for s in range(10)]
        assert a == b and len(set(a)) > 3


def test_original_synonyms_keep_base_forms_and_make_eda_pickles():
    import pickle

    from mals_gen.wordnet import WordNet, find_wordnet_dir

    wn = WordNet(find_wordnet_dir())
    assert "shirt" in wn.synonyms("shirts", "original") and "shirt" not in wn.synonyms("shirts")
    assert "shoe" in wn.synonyms("shoes", "original") and "horseshoe" in wn.synonyms("shoes")
    fn = pickle.loads(pickle.dumps(make_eda(EdaConfig(style="original"), wn)))    # DataLoader workers
    outs = {fn("A woman in 2 red shirts and black shoes.", random.Random(s)) for s in range(30)}
    assert len(outs) > 3 and not any(c.isdigit() for o in outs for c in o)
    inserted = {fn("shirts", random.Random(s)) for s in range(30)}
    assert "shirt shirts" in inserted                 # the first synonym, inserted before the word
    with pytest.raises(UserError, match="choose one of ours, original"):
        make_eda(EdaConfig(style="faithful"), wn)


def test_the_finetune_recipe_trains_with_the_original_eda(monkeypatch):
    """setup.eda_fn builds the style the config names (the finetune preset: the original's)."""
    from aptm_train.train import setup
    from aptm_train.train.config import resolve

    built = {}
    monkeypatch.setattr("mals_gen.wordnet.find_wordnet_dir", lambda folder: folder)
    monkeypatch.setattr("mals_gen.wordnet.WordNet", lambda folder: "wordnet")
    monkeypatch.setattr("mals_gen.eda.make_eda", lambda cfg, wordnet: built.setdefault("cfg", cfg))
    setup.eda_fn(resolve("finetune", None, {"data": {"shards": "s"}, "out": "o"}))
    assert (built["cfg"].style, built["cfg"].alpha) == ("original", 0.1)
    with pytest.raises(UserError, match="data.eda_style must be one of ours, original"):
        resolve("finetune", None, {"data": {"shards": "s", "eda_style": "paper"}, "out": "o"})
