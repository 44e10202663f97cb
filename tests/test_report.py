"""`mals report`: builds from a fixture run, the HTML references PNGs that exist, and partial runs work."""
from __future__ import annotations

import re
import shutil

from PIL import Image

from mals_gen.filter.stage import FilterConfig, run_filter
from mals_gen.report import build_report
from tests.test_filter import fixture_samples, make_run


def _pngs(html_path):
    names = re.findall(r'<img src="([^"]+)"', html_path.read_text())
    return [html_path.parent / n for n in names]


def test_report_after_filter_references_existing_pngs(tmp_path):
    run = make_run(tmp_path / "run", fixture_samples())
    run_filter(run, FilterConfig(), progress=False, echo=None)
    path = build_report(run)
    assert path == run / "report" / "report.html"
    pngs = _pngs(path)
    assert {p.name for p in pngs} == {"attributes.png", "reasons.png", "histograms.png", "kept.png", "rejected.png",
                                       "diversity_lengths.png"}  # the caption diversity section
    for p in pngs:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.width > 200 and im.height > 100
    text = path.read_text()
    assert "filter" in text and "duplicate" in text


def test_report_works_before_the_filter(tmp_path):
    run = make_run(tmp_path / "run", fixture_samples()[:4], part_size=2)
    shutil.rmtree(run / "attrs")
    path = build_report(run)
    names = {p.name for p in _pngs(path)}
    assert names == {"attributes.png", "samples.png", "diversity_lengths.png"}
    assert all(p.exists() for p in _pngs(path))
