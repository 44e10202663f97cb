"""`mals styles`: attribute words blanked, deterministic clusters for a seed, the style file round-trips."""
from __future__ import annotations

import json

import numpy as np
import pytest

from mals_gen.errors import UserError
from mals_gen.styles.blank import blank_attributes
from mals_gen.styles.mine import (
    Style,
    cluster_styles,
    draw_style,
    draw_template,
    mine_styles,
    read_styles,
    style_instruction,
    style_templates,
    write_styles,
)

CORPUS = [
    "A woman in a red coat carries a black handbag.",
    "A man wearing a blue shirt and grey jeans.",
    "The girl has long hair and wears a white dress.",
    "This young man is walking with a green backpack on his back.",
    "She is wearing a yellow top, black shorts and white sneakers.",
    "A pedestrian with short hair in a purple hoodie and brown pants.",
    "The lady holds a pink bag; her skirt is long and navy blue.",
    "He wears a black jacket over a white t-shirt and blue jeans.",
    "An older woman with a hat, a beige coat and dark trousers.",
    "A boy in shorts and a striped polo shirt.",
    "Woman, red top, black pants, carrying a backpack.",
    "Man, grey hoodie, jeans, no bag.",
]


def test_attribute_words_are_blanked():
    out = blank_attributes("A woman in a dark red T-shirt carries a black handbag; her long hair is tied.")
    assert out == "a [person] in a [colour] [upper] carries a [colour] [bag] ; [pronoun] [length] [hair] is tied ."
    for word in ("woman", "red", "dark", "black", "handbag", "shirt", "her", "long"):
        assert word not in out.split()


class _BagOfWords:
    """A deterministic stand-in encoder (the real MiniLM is tested in test_styles_encoder)."""
    def encode(self, texts, progress=False):
        vocab = sorted({w for t in texts for w in t.split()})
        vecs = np.array([[t.split().count(w) for w in vocab] for t in texts], np.float32)
        return vecs / np.linalg.norm(vecs, axis=1, keepdims=True)


def test_clusters_are_deterministic_for_a_seed():
    a = mine_styles(CORPUS, k=4, seed=3, encoder=_BagOfWords())
    b = mine_styles(CORPUS, k=4, seed=3, encoder=_BagOfWords())
    assert a == b
    assert sum(s.size for s in a) == len(CORPUS) and len(a) == 4
    assert [s.size for s in a] == sorted((s.size for s in a), reverse=True)
    for s in a:
        assert 1 <= len(s.examples) <= 3 and all(e in CORPUS for e in s.examples)
        assert "[" in s.template


def test_clusters_separate_sentence_shapes():
    """Comma lists and full sentences land in different clusters whatever their attributes."""
    texts = [f"{g}, {c} top, {d} pants." for g, c, d in [("Woman", "red", "black"), ("Man", "blue", "grey"),
                                                          ("Girl", "green", "white")]]
    texts += [f"The {g} is wearing a {c} jacket and walks down the street." for g, c in
              [("man", "black"), ("woman", "white"), ("boy", "yellow")]]
    vecs = _BagOfWords().encode([blank_attributes(t) for t in texts])
    styles = cluster_styles(texts, vecs, k=2, seed=0)
    assert sorted(s.size for s in styles) == [3, 3]
    assert {frozenset(s.examples) <= frozenset(texts[:3]) or frozenset(s.examples) <= frozenset(texts[3:])
            for s in styles} == {True}


def test_style_file_round_trips(tmp_path):
    styles = [Style(0, "a [person] in a [colour] [upper] .", ("A man in a red coat.", "A girl in a blue top."), 7),
              Style(1, "[person] , [colour] [lower] .", ("Woman, black pants.",), 2)]
    path = write_styles(styles, tmp_path / "s" / "styles.json", {"k": 2})
    assert read_styles(path) == styles
    assert json.loads(path.read_text())["source"] == {"k": 2}
    assert draw_style(styles, 11) == draw_style(styles, 11)
    assert {draw_style(styles, s).id for s in range(50)} == {0, 1}   # uniform over styles, not by size
    assert styles[0].template in style_instruction(styles[0])


def test_bad_style_file_is_one_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    with pytest.raises(UserError, match="not a style file"):
        read_styles(bad)
    with pytest.raises(UserError, match="does not exist"):
        read_styles(tmp_path / "missing.json")


def test_mals_styles_cli_with_the_bundled_encoder(tmp_path):
    from typer.testing import CliRunner

    from mals_gen.cli import app

    src = tmp_path / "descriptions.jsonl"
    src.write_text("".join(json.dumps({"caption": c}) + "\n" for c in CORPUS))
    out = tmp_path / "styles.json"
    res = CliRunner().invoke(app, ["styles", "--from", str(src), "--out", str(out), "--k", "3", "--no-progress"])
    assert res.exit_code == 0, res.output
    styles = read_styles(out)
    assert len(styles) == 3 and sum(s.size for s in styles) == len(CORPUS)


def test_clusters_with_one_sentence_shape_are_merged():
    """"a young [person] wearing ..." writes what "a [person] wearing ..." writes: one style, sizes summed."""
    texts = ["A woman wearing a red top and black pants.", "A young man wearing a blue top and grey pants.",
             "The man has short hair."]
    styles = cluster_styles(texts, np.eye(3), k=3, seed=0)
    assert [(s.id, s.size) for s in styles] == [(0, 2), (1, 1)]
    assert set(styles[0].examples) == set(texts[:2])


def test_a_styles_examples_are_drawn_as_templates_too():
    style = Style(0, "a [person] in a [colour] [upper] .", ("The man has a red coat on.", "Woman, red top.",
                                                           "A girl in a blue top."), 3)
    templates = style_templates(style)
    assert templates == ("a [person] in a [colour] [upper] .", "the [person] has a [colour] [upper] on .",
                         "[person] , [colour] [upper] .")
    assert {draw_template(templates, seed) for seed in range(60)} == set(templates)
