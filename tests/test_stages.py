"""The stage registry, the one `--config` handling of the stage commands, typed nested configs."""
from __future__ import annotations

import dataclasses
import inspect
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from mals_gen import contract
from mals_gen.commands._options import stage_config
from mals_gen.errors import UserError
from mals_gen.stages import BY_NAME, MANIFEST_STAGES, PART_STAGES, RUN_STAGES, STAGES, get_stage

from ._run_fixtures import write_run
from .conftest import REPO

QUICKSTART = str(REPO / "pipelines" / "quickstart.yaml")


def test_registry_lists_every_stage_in_order_and_every_reference_resolves():
    assert [s.name for s in STAGES] == ["import", "generate", "caption", "attrs", "filter", "shard", "report"]
    assert [s.name for s in PART_STAGES] == ["import", "generate", "caption", "attrs", "filter"]
    assert MANIFEST_STAGES == contract.STAGE_ORDER  # the manifest join order agrees with the registry
    for stage in STAGES:
        cls = stage.config_cls
        assert dataclasses.is_dataclass(cls) and cls.__dataclass_params__.frozen, stage.name
        assert stage.requires is None or stage.requires in BY_NAME
        assert callable(stage.run)


@pytest.mark.parametrize("stage", PART_STAGES, ids=lambda s: s.name)
def test_every_part_stage_has_the_one_signature(stage):
    params = inspect.signature(stage.run).parameters
    names = list(params)
    assert names[:2] == ["run_dir", "cfg"]
    for name in ("ranks", "progress", "echo"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, (stage.name, name)


@pytest.mark.parametrize("stage", RUN_STAGES, ids=lambda s: s.name)
def test_whole_run_stages_take_their_inputs_by_keyword(stage):
    params = inspect.signature(stage.run).parameters
    assert next(iter(params)) == "run_dir"
    assert {"cfg", "progress", "echo", *stage.inputs} <= set(params)


def test_unknown_stage_is_one_line():
    with pytest.raises(UserError, match="unknown stage 'gen'; stages: import, generate, caption"):
        get_stage("gen")


def test_the_cli_and_the_registry_import_no_stage_module_and_no_torch():
    code = ("import sys, mals_gen.cli, mals_gen.stages; "
            "print([m for m in sys.modules if m == 'torch' or m.endswith('.stage') or m == 'mals_gen.report'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True)
    assert out.stdout.strip() == "[]"


def test_stage_config_layers_yaml_flags_and_set(tmp_path):
    own = tmp_path / "own.yaml"
    own.write_text("n: 30\npart_size: 10\ncomposer: {p_male: 0.4}\n")
    cfg = stage_config("generate", str(own), {"n": 20, "seed": None}, ["composer.p_hat=0.1"])
    assert (cfg.n, cfg.part_size, cfg.seed) == (20, 10, 0)            # flag > YAML; a None flag is not set
    assert (cfg.composer.p_male, cfg.composer.p_hat) == (0.4, 0.1)    # nested YAML and --set merge
    assert cfg.model == "stabilityai/sd-turbo"                        # resolved against the preset
    pipeline = tmp_path / "pipeline.yaml"
    pipeline.write_text("out: runs/x\ngenerate: {n: 7, enabled: true}\nattrs: {agreement: false}\n")
    assert stage_config("generate", str(pipeline), {}, ["generate.seed=3"]).n == 7
    assert stage_config("generate", str(pipeline), {}, ["generate.seed=3"]).seed == 3
    assert stage_config("attrs", str(pipeline), {}, []).agreement is False
    assert stage_config("attrs", str(pipeline), {}, ["agreement=true"]).agreement is True
    assert stage_config("filter", str(pipeline), {}, ["min_blur=5"]).thresholds.min_blur == 5.0
    with pytest.raises(UserError, match="attrs: unknown key 'agree'; known keys: agreement"):
        stage_config("attrs", None, {}, ["agree=false"])


def test_composer_typo_is_one_line_before_anything_is_written_then_the_fix_runs(tmp_path, mals):
    run = tmp_path / "run"
    base = ["generate", "--out", str(run), "--backend", "sketch", "--n", "4", "--part-size", "2", "--no-progress"]
    bad = mals(*base, "--set", "composer.p_mal=0.5")
    assert bad.returncode != 0
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "generate.composer: unknown key 'p_mal'" in lines[0] and "p_male" in lines[0]
    assert not run.exists()
    good = mals(*base, "--set", "composer.p_male=0.5")
    assert good.returncode == 0, good.stderr
    assert json.loads((run / "plan.json").read_text())["source"]["composer"] == {"p_male": 0.5}
    assert "generate: 2 part(s) done now" in good.stdout


def test_composer_typo_through_mals_run_then_the_fix_resumes_the_same_folder(tmp_path, mals):
    run = tmp_path / "run"
    args = ["run", QUICKSTART, "--no-progress", "--set", f"out={run}", "--set", f"shard_out={tmp_path / 's'}",
            "--set", "generate.n=4", "--set", "generate.part_size=2",
            *[f"--set={s}.enabled=false" for s in ("caption", "attrs", "filter", "shard", "report")]]
    bad = mals(*args, "--set", "generate.composer.p_mal=0.5")
    assert bad.returncode != 0
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "unknown key 'p_mal'" in lines[0] and "p_male" in lines[0], bad.stderr
    assert not run.exists()
    preset = tmp_path / "p.yaml"  # the same typo in a preset file
    preset.write_text(yaml.safe_dump({**yaml.safe_load(Path(QUICKSTART).read_text()),
                                      "generate": {"backend": "sketch", "composer": {"p_mal": 0.5}}}))
    bad = mals("run", str(preset), *args[2:])
    assert bad.returncode != 0 and "unknown key 'p_mal'" in bad.stderr and not run.exists()
    good = mals(*args, "--set", "generate.composer.p_male=0.5")
    assert good.returncode == 0, good.stderr
    assert json.loads((run / "plan.json").read_text())["source"]["composer"] == {"p_male": 0.5}
    again = mals(*args, "--set", "generate.composer.p_male=0.5")
    assert again.returncode == 0 and "0 part(s) done now, 2 already done" in again.stdout, again.stderr


def _captioned_run(run: Path) -> Path:
    samples = [{"image": None, "caption": "a man in a red shirt and black pants", "prompt_attrs": [0] * 27}
               for _ in range(6)]
    write_run(run, samples, part_size=2, stages=("plan", "generate", "caption"))
    (run / "state" / "caption" / "part-00002.done.json").unlink()  # the last part is not captioned yet
    return run


def test_attrs_fails_while_parts_wait_for_captions_unless_partial(tmp_path, mals):
    run = _captioned_run(tmp_path / "run")
    result = mals("attrs", str(run), "--no-progress")
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "1 part(s) still wait for captions" in lines[0] and "--partial" in lines[0]
    assert "attrs: 2 part(s) done now" in result.stdout
    partial = mals("attrs", str(run), "--no-progress", "--partial")
    assert partial.returncode == 0, partial.stderr
    assert "0 part(s) done now, 2 already done" in partial.stdout


def test_attrs_takes_config_from_a_pipeline_yaml(tmp_path, mals):
    import pandas as pd

    default, run = _captioned_run(tmp_path / "default"), _captioned_run(tmp_path / "run")
    assert mals("attrs", str(default), "--no-progress", "--partial").returncode == 0
    assert pd.read_parquet(default / "attrs" / "part-00000.parquet")["attr_agreement"].notna().all()
    preset = tmp_path / "p.yaml"
    preset.write_text("out: somewhere\nattrs: {agreement: false, enabled: true}\n")
    result = mals("attrs", str(run), "--no-progress", "--partial", "--config", str(preset))
    assert result.returncode == 0, result.stderr
    assert pd.read_parquet(run / "attrs" / "part-00000.parquet")["attr_agreement"].isna().all()
    bad = mals("attrs", str(run), "--config", str(preset), "--set", "attrs.agreemnt=true")
    assert bad.returncode != 0 and "attrs: unknown key 'agreemnt'" in bad.stderr


def test_a_bad_value_from_yaml_names_its_key(tmp_path):
    own = tmp_path / "g.yaml"
    own.write_text("generate: {part_size: -5}\nout: runs/x\n")
    with pytest.raises(UserError, match=r"generate\.part_size .*must be positive, got -5"):
        stage_config("generate", str(own), {}, [])
