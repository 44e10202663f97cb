"""`mals run PRESET.yaml`: overrides, the resolved config, stage switches, resume; the quickstart."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from mals_gen.cli import app
from mals_gen.errors import UserError
from mals_gen.pipeline import build_configs, resolve, run_pipeline
from mals_gen.shard.verify import verify_shards

from ._shard_fixtures import build_run

REPO = Path(__file__).resolve().parents[1]
PRESETS = sorted((REPO / "pipelines").glob("*.yaml"))


def test_presets_exist_and_resolve():
    assert {p.name for p in PRESETS} >= {"quickstart.yaml", "mals-1.5m.yaml", "mals-faithful.yaml", "mllm-real.yaml",
                                         "ham-style.yaml"}
    for preset in PRESETS:
        data = resolve(preset)
        first = "import" if data.get("import", {}).get("source") else "generate"   # where the images come from
        assert data["out"] and data["shard_out"] and (first == "import" or data["generate"]["n"])
        # every key is a real Config field of its stage
        assert set(build_configs(data)) == {first, "caption", "attrs", "filter", "shard", "report"} | (
            {"import"} if first == "generate" else set())
    configs = build_configs(resolve(REPO / "pipelines/mllm-real.yaml"))
    assert len(configs["caption"].captioners) == 2 and configs["caption"].captions_per_image == 2
    assert build_configs(resolve(REPO / "pipelines/ham-style.yaml"))["caption"].styles == "styles/cuhk.json"
    quick = resolve(REPO / "pipelines/quickstart.yaml", ["generate.n=40", "filter.enabled=false"])
    assert quick["generate"]["n"] == 40 and quick["generate"]["backend"] == "sketch"
    assert quick["filter"]["enabled"] is False and quick["shard"]["samples_per_shard"] == 1000


def test_bad_preset_keys_are_one_line_errors(tmp_path):
    preset = tmp_path / "p.yaml"
    preset.write_text("out: runs/x\nshards: 3\n")
    with pytest.raises(UserError, match="unknown key 'shards'"):
        resolve(preset)
    preset.write_text("generate: {enabled: false}\n")
    with pytest.raises(UserError, match="set `out:`"):
        resolve(preset)


def _shard_only_preset(tmp_path: Path, run: Path) -> Path:
    preset = tmp_path / "shard-only.yaml"
    preset.write_text(yaml.safe_dump({
        "out": str(run), "shard_out": str(tmp_path / "shards"),
        **{name: {"enabled": False} for name in ("import", "generate", "caption", "attrs", "filter", "report")},
        "shard": {"samples_per_shard": 7, "workers": 1},
    }))
    return preset


def test_pipeline_with_stages_switched_off_shards_an_existing_run(tmp_path):
    run = build_run(tmp_path / "run", n=20, part_size=10, filtered={2})
    preset = _shard_only_preset(tmp_path, run)
    results = run_pipeline(preset, ["shard.height=48"], progress=False, echo=None)
    assert set(results) == {"shard"} and results["shard"].totals["kept"] == 19
    resolved = yaml.safe_load((run / "pipeline.yaml").read_text())
    assert resolved["shard"]["height"] == 48 and resolved["shard"]["jpeg_quality"] == 95  # defaults filled
    assert resolved["filter"] == {"enabled": False}
    assert verify_shards(tmp_path / "shards") == []
    card = (tmp_path / "shards" / "README.md").read_text()
    assert "height: 48" in card and "enabled: false" in card  # the resolved pipeline is on the card
    # rerunning resumes: nothing is rewritten
    again = CliRunner().invoke(app, ["run", str(preset), "--set", "shard.height=48", "--no-progress"])
    assert again.exit_code == 0, again.output
    sizes = json.loads((tmp_path / "shards" / "sizes.json").read_text())
    assert f"{len(sizes)} already done" in again.output and "0 part(s) done now" in again.output


def test_generate_then_shard_with_later_stages_off(tmp_path):
    out, shards = tmp_path / "run", tmp_path / "shards"
    off = [f"{s}.enabled=false" for s in ("caption", "attrs", "filter", "report")]
    run_pipeline(REPO / "pipelines/quickstart.yaml",
                 [f"out={out}", f"shard_out={shards}", "generate.n=12", "generate.part_size=6",
                  "shard.samples_per_shard=5", "shard.workers=1", *off], progress=False, echo=None)
    assert verify_shards(shards) == []
    assert sum(json.loads((shards / "sizes.json").read_text()).values()) == 12


def test_quickstart_end_to_end_tiny(tmp_path):
    import webdataset as wds

    out, shards = tmp_path / "run", tmp_path / "shards"
    run_pipeline(REPO / "pipelines/quickstart.yaml",
                 [f"out={out}", f"shard_out={shards}", "generate.n=40", "generate.part_size=20",
                  "shard.samples_per_shard=16", "shard.workers=1"], progress=False, echo=None)
    assert (out / "pipeline.yaml").exists()
    assert verify_shards(shards) == []
    sizes = json.loads((shards / "sizes.json").read_text())
    urls = [str(shards / n) for n in sorted(sizes)]
    assert sum(1 for _ in wds.WebDataset(urls, shardshuffle=False)) == sum(sizes.values()) > 0


def test_stage_settings_are_checked_before_the_run_folder_is_made(tmp_path):
    run = tmp_path / "run"
    with pytest.raises(UserError, match=r"generate.composer: unknown key 'p_mal'; known keys: .*p_male"):
        run_pipeline(REPO / "pipelines/quickstart.yaml", [f"out={run}", "generate.composer.p_mal=0.5"],
                     progress=False, echo=None)
    with pytest.raises(UserError, match=r"report: takes no settings \(only `enabled` in a pipeline\), got \['pages'\]"):
        run_pipeline(REPO / "pipelines/quickstart.yaml", [f"out={run}", "report.pages=3"], progress=False, echo=None)
    assert not run.exists()
