"""`mals report`: self-contained HTML (inlined PNGs, no file links), shard counts, partial runs."""
from __future__ import annotations

import base64
import io
import json
import re
import shutil

import pandas as pd
import yaml
from PIL import Image

from mals_gen.filter.stage import FilterConfig, run_filter
from mals_gen.report import SECTIONS, build_report
from mals_gen.shard.select import ShardConfig, run_shard
from mals_gen.shard.split import SplitFractions
from tests.test_filter import fixture_samples, make_run


def _images(html_text: str) -> dict[str, Image.Image]:
    """alt text -> decoded image of every <img>; fails on any image that is not inlined."""
    found = {}
    for src, alt in re.findall(r'<img src="([^"]+)" alt="([^"]+)"', html_text):
        assert src.startswith("data:image/png;base64,"), f"{alt} links {src[:60]}"
        found[alt] = Image.open(io.BytesIO(base64.b64decode(src.split(",", 1)[1])))
    return found


def test_report_after_filter_is_self_contained(tmp_path):
    run = make_run(tmp_path / "run", fixture_samples())
    run_filter(run, FilterConfig(), progress=False, echo=None)
    path = build_report(run)
    assert path == run / "report" / "report.html"
    text = path.read_text()
    images = _images(text)
    assert set(images) == {"Attribute prevalence: intended vs mined", "Reject reasons", "Score histograms",
                           "Kept samples", "Rejected samples", "caption diversity"}
    for im in images.values():
        assert im.format == "PNG" and im.width > 200 and im.height > 100
    assert text.count("<img") == len(images) and not re.search(r'(src|href)="(?!data:)', text)
    assert "filter_checks" in text and "duplicate" in text and "Shards" not in text
    # mailed alone: the page still shows everything once its folder is gone
    alone = tmp_path / "alone.html"
    shutil.copy(path, alone)
    shutil.rmtree(run / "report")
    assert len(_images(alone.read_text())) == 6


def test_report_counts_the_shards(tmp_path):
    run = make_run(tmp_path / "run", fixture_samples())
    run_filter(run, FilterConfig(), progress=False, echo=None)
    shards = tmp_path / "shards"
    run_shard(run, shards, ShardConfig(samples_per_shard=2, workers=1, split=SplitFractions(0.5, 0.25, 0.25)),
              progress=False, echo=None)
    # `mals run` records the shard folder in RUN/pipeline.yaml; the report finds it there
    (run / "pipeline.yaml").write_text(yaml.safe_dump({"out": str(run), "shard_out": str(shards)}))
    text = build_report(run).read_text()
    manifest = pd.read_parquet(shards / "manifest.parquet")
    splits = json.loads((shards / "splits.json").read_text())
    section = text.split("<h2>Shards:", 1)[1].split("</table>", 1)[0]
    for split, group in manifest.groupby("split"):
        row = (f"<tr><td>{split}</td><td>{len(group)}</td><td>{group['person_id'].nunique()}</td>"
               f"<td>{int(group['captions'].map(len).sum())}</td><td>{len(splits[split])}</td></tr>")
        assert row in section


def test_report_works_before_the_filter(tmp_path):
    run = make_run(tmp_path / "run", fixture_samples()[:4], part_size=2)
    shutil.rmtree(run / "attrs")
    images = _images(build_report(run).read_text())
    assert set(images) == {"Attribute prevalence: intended vs mined", "Samples", "caption diversity"}
    assert (run / "report" / "samples.png").is_file()  # the PNGs are kept beside the page too


def test_a_section_is_a_function_in_the_list(tmp_path, monkeypatch):
    run = make_run(tmp_path / "run", fixture_samples()[:4], part_size=2)
    monkeypatch.setattr("mals_gen.report.SECTIONS", [*SECTIONS, lambda r: f"<h2>Extra</h2><p>{len(r.frame)}</p>"])
    assert "<h2>Extra</h2><p>4</p>" in build_report(run).read_text()
