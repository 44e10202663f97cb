"""Diversity measures (pure functions), the report section and `mals compare` on two tiny runs."""
from __future__ import annotations

import math

import numpy as np
import pytest

from mals_gen.diversity import metrics as M


def test_distinct_n_counts_unique_ngrams():
    toks = [M.words("a man in red"), M.words("a man in blue")]
    assert M.distinct_n(toks, 1) == pytest.approx(5 / 8)
    assert M.distinct_n(toks, 2) == pytest.approx(4 / 6)       # "a man", "man in" repeat
    assert M.distinct_n(toks, 3) == pytest.approx(3 / 4)
    assert math.isnan(M.distinct_n([["a"]], 2))


def test_style_entropy_is_uniformity():
    assert M.style_entropy([0, 1, 2, 3])["entropy_norm"] == pytest.approx(1.0)
    skewed = M.style_entropy([0, 0, 0, 1, -1])
    assert skewed["styles"] == 2 and skewed["styled_share"] == pytest.approx(0.8)
    assert skewed["entropy_bits"] == pytest.approx(-(0.75 * math.log2(0.75) + 0.25 * math.log2(0.25)))
    assert skewed["top_share"] == pytest.approx(0.75)
    assert M.style_entropy([-1, -1])["styles"] == 0


def test_mean_pairwise_cosine_matches_the_pair_loop():
    rng = np.random.default_rng(0)
    v = rng.normal(size=(7, 5))
    u = v / np.linalg.norm(v, axis=1, keepdims=True)
    loop = np.mean([u[i] @ u[j] for i in range(7) for j in range(7) if i != j])
    assert M.mean_pairwise_cosine(v) == pytest.approx(loop)
    assert M.mean_pairwise_cosine(np.ones((3, 4))) == pytest.approx(1.0)


def test_summarize_lengths_vocabulary_coverage():
    labels = np.array([[0, -1], [1, -1]])
    out = M.summarize(["a b c", "a b c d e"], [0, 1], None, labels)
    assert out["vocabulary"] == 5 and out["length_mean"] == pytest.approx(4.0)
    assert out["attribute_coverage"] == pytest.approx(0.5) and math.isnan(out["mean_pairwise_cosine"])


def _captioned_run(root, styles=None):
    from mals_gen.caption.stage import CaptionConfig, run_caption

    from .test_caption import make_run

    make_run(root, n=6)          # no broken image (the report's contact sheet would meet it)
    run_caption(root, CaptionConfig(styles=str(styles) if styles else ""), progress=False, echo=None)
    return root


def test_report_section_and_compare(tmp_path):
    from typer.testing import CliRunner

    from mals_gen.cli import app
    from mals_gen.diversity.report import diversity_section
    from mals_gen.styles.mine import Style, write_styles

    styles = write_styles([Style(0, "the [person] is wearing a [colour] [upper] .", ("x",), 1),
                           Style(1, "[person] , [colour] [upper] , walking to the left .", ("y",), 1)],
                          tmp_path / "styles.json")
    plain = _captioned_run(tmp_path / "plain")
    styled = _captioned_run(tmp_path / "styled", styles)
    html = diversity_section(styled, tmp_path, encoder=None)
    assert "Caption diversity" in html and "distinct-2" in html and (tmp_path / "diversity_lengths.png").exists()
    res = CliRunner().invoke(app, ["compare", str(plain), str(styled), "--no-embeddings",
                                   "--out", str(tmp_path / "c.html")])
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if ln.startswith("styles used"))
    assert line.split()[-2:] == ["0", "2"]
    assert (tmp_path / "c.html").read_text().count("<tr>") == 3


def test_report_shows_the_section_with_real_embeddings(tmp_path):
    from mals_gen.report import build_report

    run = _captioned_run(tmp_path / "run")
    html = build_report(run).read_text()
    assert "Caption diversity" in html and "mean pairwise cosine" in html
    assert (run / "report" / "diversity_lengths.png").exists()
