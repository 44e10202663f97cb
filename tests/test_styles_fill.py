"""Styles on the prompt captioner (`mals_gen/styles/read.py`, `fill.py`): the prompt said in a drawn
human sentence shape, in its own words, with nothing added and nothing lost."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from mals_gen.attrs.miner import mine_many
from mals_gen.caption.captioners import CaptionItem, PromptCaptioner
from mals_gen.diversity.metrics import words
from mals_gen.prompts.composer import PromptComposer
from mals_gen.styles.blank import blank_attributes
from mals_gen.styles.fill import fill_template
from mals_gen.styles.mine import read_styles
from mals_gen.styles.read import read_description
from mals_gen.styles.template import follow_up_frames, shape
from tests.test_styles import CORPUS

DEV_STYLES = Path(__file__).resolve().parents[1] / "pipelines" / "styles-dev.json"
# words a styled caption may say differently: function words, and "head" ("On his head is a cap"
# becomes "a cap": the hat says it)
_FREE = {"a", "an", "the", "is", "are", "he", "she", "his", "her", "him", "they", "their", "it", "its", "of", "and",
         "with", "in", "on", "at", "to", "there", "this", "also", "has", "have", "wearing", "wears", "wear", "dressed",
         "carrying", "carries", "holds", "holding", "head"}


def test_tokenize_spans_is_tokenize_with_where_each_token_came_from():
    from mals_gen.attrs import lexicon as L

    text = "A brown short-sleeved button-up Shirt, a black crossbody bag on his back; T-shirt."
    toks = L.tokenize_spans(text)
    assert [w for w, _, _ in toks if w] == L.tokenize(text)
    assert [text[a:b] for w, a, b in toks if w in ("shoulderbag", "onback", "tshirt", "")] == \
        ["button-up", "crossbody bag", "on his back", "T-shirt"]


def test_read_quotes_phrases_with_their_tails_and_keeps_the_context():
    r = read_description("A young man wears a brown short-sleeved button-up shirt. He carries a black backpack over "
                         "his shoulders. He has long hair tied in a ponytail. The picture was taken at a station.")
    assert (r.person, r.gender) == ("young man", 1)
    assert [p.text for p in r.phrases["[upper]"]] == ["brown short-sleeved button-up shirt"]
    assert [p.text for p in r.phrases["[bag]"]] == ["black backpack over his shoulders"]
    assert [p.text for p in r.phrases["[hair]"]] == ["long hair tied in a ponytail"]
    assert r.context == [("sentence", "The picture was taken at a station.")]


def test_read_splits_a_tag_list_into_phrases_pose_and_fragments():
    r = read_description("natural lighting, a man standing still, wearing gray jumper and black trousers, "
                         "red leather shoes, an umbrella, at a train station")
    assert [p.text for p in r.phrases["[other]"]] == ["gray jumper"]      # a garment the lexicon lacks
    assert [p.text for p in r.phrases["[lower]"]] == ["black trousers"]
    assert [p.text for p in r.phrases["[shoes]"]] == ["red leather shoes"]
    assert r.context == [("fragment", "natural lighting"), ("pose", "standing still"), ("fragment", "an umbrella"),
                         ("fragment", "at a train station")]


def test_fill_keeps_the_prompts_words_pose_scene_and_camera():
    out = fill_template("the [person] has [length] [hair] and wears a [colour] [upper] , [colour] [lower] and "
                        "[colour] shoes .", "natural lighting, a young man standing still, wearing gray long-sleeved "
                        "jumper and black trousers, short hair, red leather shoes, black crossbody bag, at a train station")
    assert out == ("The young man has short hair and wears a gray long-sleeved jumper, black trousers and red leather "
                   "shoes. He also carries a black crossbody bag. He is standing still at a train station. "
                   "Natural lighting.")


def test_fill_adds_nothing_the_prompt_does_not_say():
    out = fill_template("a young [person] in a [colour] [upper] and [colour] sandals , holding [pronoun] phone . "
                        "[pronoun] carries a [colour] [bag] on both shoulders .",
                        "A woman wears a red coat and blue jeans. She carries a black handbag in her hand.")
    assert out == "A woman in a red coat. She carries a black handbag in her hand. She also wears blue jeans."


def test_fill_keeps_subject_and_verb_when_a_slot_is_empty():
    coat = "A man in a red coat and blue jeans."
    assert fill_template("[pronoun] wears a [colour] [hat] , a [colour] [upper] and [colour] [lower] .", coat) == \
        "The man wears a red coat and blue jeans."
    assert fill_template("the [person] has [length] [hair] and wears a [colour] [upper] .", coat) == \
        "The man wears a red coat. He also wears blue jeans."
    assert fill_template("the [person] has [length] [hair] and is wearing a [colour] [upper] , [colour] [lower] and "
                         "carrying a [bag] .", coat[:-1] + " with a backpack.") == \
        "The man is wearing a red coat, blue jeans and carrying a backpack."


def test_follow_up_frames_have_a_subject_a_finite_verb_and_a_slot():
    frames = follow_up_frames(["a [person] wearing a [colour] [upper] . [pronoun] carries a [colour] [bag] .",
                               "the [person] has [length] [hair] . [pronoun] [length] [hair] is tied ."])
    assert frames == [["[pronoun]", "carries", "a", "[bag]"], ["[pronoun]", "has", "[hair]"]]


def test_an_absence_in_the_template_is_left_out_wherever_it_stands():
    prompt = "A man in a red coat and blue jeans with a cap."
    assert fill_template("a [person] without a [hat] , in a [colour] [upper] and [colour] [lower] .", prompt) == \
        "A man, in a red coat and blue jeans. He also wears a cap."
    assert fill_template("[pronoun] is a [person] in a [colour] [upper] , [pronoun] does not carry any [bag] or "
                         "[hat] .", prompt) == "He is a man in a red coat. He also wears blue jeans and a cap."


def test_shape_is_what_the_fill_writes():
    assert shape("a young [person] wearing a [colour] and [colour] [upper] with flowers on it .") == \
        shape("a [person] wearing a [colour] [upper] .") == "a [person] wearing a [upper]"
    assert shape("[pronoun] carries a [bag] . [pronoun] does not wear a [hat] .") == "[pronoun] carries a [bag]"


def test_a_colour_said_after_its_noun_leaves_the_sentence_to_the_closing_one():
    out = fill_template("the [person] s [upper] is [colour] and [pronoun] [lower] are [colour] .",
                        "A man in a red coat and blue jeans.")
    assert out == "The man wears a red coat and blue jeans."


def _composer_prompts(n: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    composer = PromptComposer()
    return [composer.compose(rng) for _ in range(n)]


def test_styled_quickstart_captions_lose_no_word_and_mine_as_the_prompt():
    """The shipped dev styles on composer prompts: every word of the prompt is still said, and the miner
    decides no slot against the composer's own labels that it did not decide so on the prompt."""
    pairs = _composer_prompts(400)
    prompts, truth = [p for p, _ in pairs], np.stack([a for _, a in pairs])
    captioner = PromptCaptioner(read_styles(DEV_STYLES))
    styled = [r.text for r in captioner.caption([CaptionItem(str(i), p, 1000 + i) for i, p in enumerate(prompts)])]
    for prompt, caption in zip(prompts, styled):
        said = set(words(caption))
        assert [w for w in words(prompt) if w not in _FREE and w not in said] == [], (prompt, caption)
    a, b = mine_many(prompts), mine_many(styled)
    def wrong(x):
        return ((x >= 0) & (x != truth)).sum()

    assert wrong(b) <= wrong(a)
    assert ((a >= 0) & (b < 0)).sum() <= 0.005 * (a >= 0).sum()      # decided slots lost
    assert (a == b).all(1).mean() > 0.97
    assert len(set(styled)) == len(styled)


def test_fill_keeps_each_colour_with_its_garment():
    template = blank_attributes("The woman is wearing a white skirt under a pink sweater.")
    out = fill_template(template, "A man in a red jacket and black pants, carrying a blue backpack.")
    assert out.startswith("The man is wearing black pants under a red jacket.")
    assert out.endswith("He also carries a blue backpack.")    # no slot for it in the template: appended, as written


def test_fill_drops_negated_template_clauses_and_keeps_the_descriptions_own():
    template = blank_attributes("He is a man in a grey coat, he does not carry any bag.")
    out = fill_template(template, "A woman wears a green top and jeans. She has nothing in her hands.")
    assert out == "She is a woman in a green top. She also wears jeans. She has nothing in her hands."


def test_filled_templates_mine_to_the_same_labels_as_the_prompt():
    """Over composer prompts and dev-set templates the miner decides (nearly) what it decided on the prompt."""
    rng = np.random.default_rng(0)
    composer = PromptComposer()
    prompts = [composer.compose(rng)[0] for _ in range(60)]
    templates = [blank_attributes(t) for t in CORPUS]
    filled = [fill_template(templates[i % len(templates)], p) for i, p in enumerate(prompts)]
    a, b = mine_many(prompts), mine_many(filled)                      # (60, 27) each
    both = (a >= 0) & (b >= 0)
    assert (a[both] == b[both]).mean() > 0.995
    assert both.sum() / (a >= 0).sum() > 0.95                        # few decided slots lost
    assert len(set(filled)) == len(filled)


def test_fill_takes_a_second_template_for_what_the_first_has_no_room_for():
    out = fill_template(["a [person] in a [colour] [upper] .", "[pronoun] carries a [colour] [bag] ."],
                        "A woman in a green top with a red handbag.")
    assert out == "A woman in a green top. She carries a red handbag."
    assert fill_template(["a [person] in a [colour] [upper] .", "[pronoun] carries a [colour] [bag] ."],
                         "A woman in a green top.") == "A woman in a green top."
