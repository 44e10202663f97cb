"""`mals generate`: plan, sketch and diffusers backends, ranks, kill/resume, clear errors."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mals_gen.config import from_mapping
from mals_gen.errors import UserError
from mals_gen.generate.config import GenerateConfig
from mals_gen.generate.stage import run_generate
from mals_gen.manifest import load_manifest
from mals_gen.plan import load_plan
from mals_gen.prompts.composer import ComposerConfig
from mals_gen.ranks import Ranks
from mals_gen.tario import read_members

from .conftest import REPO, run_cli


def _tar_names(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


def test_sketch_run_writes_every_sample_with_its_manifest(tmp_path):
    run = tmp_path / "run"
    result = run_cli("generate", "--n", "300", "--backend", "sketch", "--part-size", "100", "--out", str(run))
    assert result.returncode == 0, result.stderr
    assert "generate: 3 part(s) done now" in result.stdout
    frame = pd.read_parquet(sorted((run / "generate").glob("part-*.parquet")))  # plain pandas, no code of ours
    assert len(frame) == 300 and (frame.status == "ok").all()
    manifest = load_manifest(run)
    assert {"key", "prompt", "seed", "prompt_attrs", "image_path", "image_member", "status"} <= set(manifest.columns)
    assert manifest.key.is_unique and len(manifest) == 300
    assert all(len(v) == 27 and set(v) <= {0, 1} for v in manifest.prompt_attrs)
    row = manifest.iloc[123]
    members = read_members(run / row.image_path)
    assert members[row.image_member][:3] == b"\xff\xd8\xff"  # a JPEG


def test_dry_run_plans_one_and_a_half_million_without_work(tmp_path):
    run = tmp_path / "big"
    started = time.perf_counter()
    summary = run_generate(run, GenerateConfig(n=1_500_000), dry_run=True, echo=None)
    assert time.perf_counter() - started < 5
    assert summary["samples"] == 1_500_000 and summary["parts"] == 1500
    assert not run.exists()  # a dry run writes nothing, so it can never lock a folder with a plan


def test_dry_run_of_a_huge_n_stays_small_and_absurd_n_is_refused(tmp_path):
    """--n 1e10 plans ten million parts arithmetically; 1e12 is refused in one line, nothing written."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over exec from the forked (large) pytest process
    probe = ("import re, sys; from mals_gen.cli import main; sys.argv = ['mals', 'generate', '--n', '1e10', "
             f"'--backend', 'sketch', '--dry-run', '--out', {str(tmp_path / 'r')!r}]\n"
             "try: main()\nexcept SystemExit: pass\n"
             "print('peak_kb', re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, check=False)
    assert "10,000,000,000 samples in 10,000,000 parts" in done.stdout, done.stderr
    assert int(done.stdout.split("peak_kb")[1]) < 200_000  # the plan does not grow with N
    with pytest.raises(UserError, match=r"--n 1,000,000,000,000 is more than 10,000,000,000 samples"):
        run_generate(tmp_path / "r", GenerateConfig(n=10**12, backend="sketch"), dry_run=True, echo=None)
    assert not (tmp_path / "r").exists()


def test_composer_priors_are_typed_and_checked_before_plan_json(tmp_path):
    with pytest.raises(UserError, match=r"generate\.composer: unknown key 'p_mal'; known keys: .*p_male"):
        GenerateConfig(n=4, backend="sketch", composer={"p_mal": 0.5}).resolved()
    with pytest.raises(UserError, match="not a probability"):
        from_mapping(GenerateConfig, {"composer": {"p_male": 1.5}}, "generate")
    cfg = GenerateConfig(n=4, part_size=2, backend="sketch", composer={"p_male": 1.0}).resolved()
    assert isinstance(cfg.composer, ComposerConfig) and cfg.composer.p_male == 1.0
    run_generate(tmp_path / "men", cfg, progress=False, echo=None)
    assert load_plan(tmp_path / "men").source == {"kind": "composer", "composer": {"p_male": 1.0}}
    assert all(v[0] == 1 for v in load_manifest(tmp_path / "men").prompt_attrs)  # every sample is a man
    # Default priors are recorded as {}: what plan.json held before the priors were typed, so those runs resume.
    run_generate(tmp_path / "default", GenerateConfig(n=4, part_size=2, backend="sketch"), progress=False, echo=None)
    assert load_plan(tmp_path / "default").source["composer"] == {}


def test_yaml_key_and_flag_are_named_in_value_errors():
    for field, flag in (("part_size", "--part-size"), ("batch_size", "--batch-size")):
        with pytest.raises(UserError, match=rf"generate\.{field} \({flag}\) must be positive, got -5"):
            GenerateConfig(backend="sketch", **{field: -5}).resolved()


def test_plan_is_reproducible_and_keys_are_valid(tmp_path):
    cfg = GenerateConfig(n=30, part_size=10, backend="sketch")
    run_generate(tmp_path / "a", cfg, progress=False, echo=None)
    run_generate(tmp_path / "b", cfg, progress=False, echo=None)
    a, b = load_manifest(tmp_path / "a"), load_manifest(tmp_path / "b")
    pd.testing.assert_frame_equal(a[["key", "prompt", "seed"]], b[["key", "prompt", "seed"]])
    assert (tmp_path / "a/images/part-00001.tar").read_bytes() == (tmp_path / "b/images/part-00001.tar").read_bytes()
    assert not any("." in k for k in a.key)


def _tiny_diffusion_cfg(folder: Path, **kw) -> GenerateConfig:
    return GenerateConfig(backend="diffusers", model=str(folder), steps=2, guidance=0.0, height=64, width=32,
                          device="cpu", **kw)


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory):
    from mals_gen.testing import save_tiny_sd_pipeline

    return save_tiny_sd_pipeline(tmp_path_factory.mktemp("tiny_sd"))


def test_diffusers_backend_end_to_end_same_seed_same_image(tmp_path, tiny_sd):
    run_generate(tmp_path / "a", _tiny_diffusion_cfg(tiny_sd, n=6, part_size=3, batch_size=3), progress=False, echo=None)
    run_generate(tmp_path / "b", _tiny_diffusion_cfg(tiny_sd, n=6, part_size=3, batch_size=2), progress=False, echo=None)
    a = load_manifest(tmp_path / "a")
    assert (a.status == "ok").all() and (a.model == str(tiny_sd)).all() and (a.width == 32).all()
    for part in ("part-00000", "part-00001"):
        ta = read_members(tmp_path / "a/images" / f"{part}.tar")
        tb = read_members(tmp_path / "b/images" / f"{part}.tar")
        assert ta.keys() == tb.keys()
        for name in ta:  # batch composition differs, the image of a seed does not
            ia = np.asarray(_decode(ta[name]), np.int16)
            ib = np.asarray(_decode(tb[name]), np.int16)
            assert np.abs(ia - ib).max() <= 2, name
    images = [np.asarray(_decode(v)) for v in read_members(tmp_path / "a/images/part-00000.tar").values()]
    assert not np.array_equal(images[0], images[1])  # different seeds, different images


def _decode(data: bytes):
    from io import BytesIO

    from PIL import Image

    return Image.open(BytesIO(data)).convert("RGB")


def test_unloadable_model_is_one_line_naming_the_flags(tmp_path):
    result = run_cli("generate", "--n", "4", "--model", str(tmp_path / "no-such-model"), "--out", str(tmp_path / "r"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--model FOLDER" in lines[0] and "--backend sketch" in lines[0]


def test_two_processes_split_the_plan_disjointly(tmp_path):
    run = tmp_path / "run"
    env = {"WORLD_SIZE": "2"}
    procs = [subprocess.Popen([sys.executable, "-m", "mals_gen", "generate", "--n", "50", "--part-size", "10",
                               "--backend", "sketch", "--out", str(run), "--no-progress"],
                              env={**os.environ, **env, "RANK": str(r)}, cwd=REPO,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE) for r in range(2)]
    for p in procs:
        assert p.wait(timeout=120) == 0, p.stderr.read().decode()
    by_rank = [sorted(json.loads(m.read_text())["part"] for m in (run / "state" / "generate").glob("*.done.json"))]
    parts = by_rank[0]
    assert parts == [0, 1, 2, 3, 4]
    keys = load_manifest(run).key
    assert keys.is_unique and len(keys) == 50
    # each rank took exactly its round-robin share
    assert [p % 2 for p in parts].count(0) == 3


def test_sigkill_mid_run_then_rerun_completes_without_redoing_parts(tmp_path):
    run = tmp_path / "run"
    args = [sys.executable, "-m", "mals_gen", "generate", "--n", "400", "--part-size", "50", "--batch-size", "10",
            "--backend", "sketch", "--out", str(run), "--no-progress"]
    proc = subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and len(list((run / "state" / "generate").glob("*.done.json"))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = {m.name: m.stat().st_mtime_ns for m in (run / "state" / "generate").glob("*.done.json")}
    assert 2 <= len(finished) < 8, "the kill should land mid-run"
    result = subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stderr
    assert {m.name: m.stat().st_mtime_ns for m in (run / "state" / "generate").glob("*.done.json")
            if m.name in finished} == finished  # finished parts not redone
    manifest = load_manifest(run)
    assert len(manifest) == 400 and manifest.key.is_unique
    for tar in sorted((run / "images").glob("*.tar")):
        names = _tar_names(tar)
        assert len(names) == 50 and len(set(names)) == 50
    assert not list(run.rglob("*.tmp-*"))


@pytest.mark.parametrize("args, expected", [
    (["--n", "0"], "must be positive"),
    (["--n", "-5"], "must be positive"),
    (["--n", "ten"], "expected a whole number"),
    (["--n", "10", "--backend", "dalle"], "unknown backend"),
    (["--n", "10", "--backend", "sketch", "--prompts", "/no/such/prompts.txt"], "prompts.txt"),
])
def test_bad_input_is_one_clear_line(tmp_path, args, expected):
    result = run_cli("generate", *args, "--out", str(tmp_path / "r"))
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


def test_empty_prompt_file_and_unwritable_folder(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("\n\n")
    result = run_cli("generate", "--n", "5", "--backend", "sketch", "--prompts", str(empty), "--out", str(tmp_path / "r"))
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1 and "empty.txt" in result.stderr
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = run_cli("generate", "--n", "5", "--backend", "sketch", "--out", str(blocker / "run"))
    assert result.returncode != 0 and result.stderr.startswith("mals: error: cannot write to output folder")


def test_prompt_file_drives_the_plan(tmp_path):
    prompts = tmp_path / "p.txt"
    prompts.write_text("a man in a red shirt and black pants\na woman in a blue dress with a handbag\n")
    run_generate(tmp_path / "r", GenerateConfig(n=5, part_size=5, backend="sketch", prompts=str(prompts)),
                 progress=False, echo=None)
    manifest = load_manifest(tmp_path / "r")
    assert list(manifest.prompt[:3]) == ["a man in a red shirt and black pants",
                                         "a woman in a blue dress with a handbag",
                                         "a man in a red shirt and black pants"]


def test_ranks_come_from_flags_or_environment():
    from mals_gen.ranks import resolve_ranks

    assert resolve_ranks(env={}) == Ranks(0, 1)
    assert resolve_ranks(env={"RANK": "3", "WORLD_SIZE": "4"}) == Ranks(3, 4)
    assert resolve_ranks(env={"SLURM_PROCID": "1", "SLURM_NTASKS": "2"}) == Ranks(1, 2)
    assert resolve_ranks(1, 2, env={"RANK": "0", "WORLD_SIZE": "8"}) == Ranks(1, 2)


def test_reused_descriptions_become_eda_edited_prompts(tmp_path):
    """SDA's expanded prompts: first use verbatim, every reuse an EDA-edited copy seeded per sample."""
    prompts = tmp_path / "captions.txt"
    texts = ["a man in a red shirt and black pants walking", "a woman in a blue dress with a white handbag",
             "a young man wearing a green jacket and gray jeans"]
    prompts.write_text("\n".join(texts) + "\n")
    cfg = GenerateConfig(n=12, part_size=6, backend="sketch", prompts=str(prompts), prompt_eda=0.3)
    for name in ("a", "b"):
        run_generate(tmp_path / name, cfg, progress=False, echo=None)
    first, second = (load_manifest(tmp_path / name).prompt.tolist() for name in ("a", "b"))
    assert first == second                                      # seeded per sample: resumable, reproducible
    assert first[:3] == texts                                    # the first pass is the file itself
    reused = first[3:]
    assert sum(p != texts[i % 3] for i, p in zip(range(3, 12), reused)) >= 6   # reuses are edited
    assert len(set(reused)) == len(reused)                       # and differ from each other
    assert load_plan(tmp_path / "a").source["eda"] == 0.3
    with pytest.raises(UserError, match=r"--prompt-eda\) edits descriptions from a file"):
        GenerateConfig(n=4, backend="sketch", prompt_eda=0.2).resolved()
