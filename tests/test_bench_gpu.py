"""scripts/bench_gpu.py must not rot: `--tiny` runs every row's code path on CPU, `--check` lists packages.

The full-size rows need a GPU; the tiny profile differs only in configs and device, so a tiny
run that produces every row with finite numbers exercises the same code the GPU run takes.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "scripts" / "bench_gpu.py"


def run_script(*args: str, timeout: int = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
    env.pop("PYTHONPATH", None)  # the script must find our packages by itself (no pip install)
    # run from another folder: the script puts the repo root on sys.path itself
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
        timeout=timeout,
        cwd="/",
    )


@pytest.fixture(scope="module")
def script_module():
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import bench_gpu
        from gpu_bench.core import TINY

        yield bench_gpu, TINY
    finally:
        sys.path.remove(str(SCRIPT.parent))


def expected_rows(bench_gpu, profile) -> list[str]:
    return [name for _, _, names in bench_gpu.families(profile) for name in names]


def test_families_cover_every_row_the_issue_asks_for(script_module):
    from gpu_bench.core import FULL

    bench_gpu, tiny = script_module
    full = expected_rows(bench_gpu, FULL)
    for name in (
        "gen.sd-turbo.1step.eager.bare",
        "gen.sd-turbo.4step.eager.ours",
        "gen.sd-turbo.1step.compiled.ours",
        "gen.sd15.25step-cfg.eager.ours",
        "train.aptm-base.fp32",
        "train.aptm-base.bf16",
        "loader.webdataset",
        "caption.blip-large.bare",
        "caption.blip-large.ours",
        "clip.vit-b-32.ours",
        "eval.itc-images",
        "eval.itc-texts",
        "eval.rerank.batched",
        "eval.rerank.per-query",
    ):
        assert name in full
    assert len(full) == len(set(full)) == len(expected_rows(bench_gpu, tiny))
    # generation and training come first: the numbers that matter most survive a short run
    assert full[0].startswith("gen.sd-turbo") and full[4].startswith("train.")


def test_tiny_run_produces_every_row_with_finite_numbers(tmp_path, script_module):
    bench_gpu, tiny = script_module
    proc = run_script("--tiny", "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads((tmp_path / "bench_gpu.json").read_text())
    rows = {r["row"]: r for r in report["rows"]}
    assert list(rows) == expected_rows(bench_gpu, tiny)
    for name, row in rows.items():
        assert row["status"] == "ok", (name, row.get("note"))
        for key in ("samples_per_s", "seconds", "peak_mem_gib"):
            assert math.isfinite(row[key]) and row[key] > 0, (name, key, row[key])
        assert row["items"] > 0 and row["setting"]
        if "ratio" in row:
            assert math.isfinite(row["ratio"]) and row["ratio"] > 0
    for ours in (
        "gen.sd-turbo.1step.eager.ours",
        "caption.blip-large.ours",
        "clip.vit-b-32.ours",
        "eval.rerank.batched",
    ):
        assert "ratio" in rows[ours]
    assert rows["gen.sd-turbo.1step.compiled.ours"]["first_batch_s"] > 0
    assert rows["eval.rerank.per-query"]["extrapolated_full_s"] > 0
    # the table comes last: a header, then one line per row in run order
    tail = proc.stdout.strip().splitlines()[-len(rows) - 1 :]
    assert tail[0].startswith("row") and [line.split()[0] for line in tail[1:]] == list(rows)


def test_spent_budget_reports_rows_as_skipped(tmp_path, script_module):
    proc = run_script("--tiny", "--out", str(tmp_path), "--budget-s", "0", "--only", "loader,clip")
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads((tmp_path / "bench_gpu.json").read_text())["rows"]
    assert [r["row"] for r in rows] == ["loader.webdataset", "clip.vit-b-32.bare", "clip.vit-b-32.ours"]
    assert all(r["status"] == "skipped" and "budget" in r["note"] for r in rows)


def test_check_lists_packages_and_cuda():
    proc = run_script("--check", timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    for dist in ("diffusers", "open_clip_torch", "webdataset", "transformers", "torch"):
        assert dist in proc.stdout
    assert "CUDA" in proc.stdout


def test_check_names_missing_packages_and_the_wheel_command(script_module, monkeypatch):
    bench_gpu, _ = script_module
    monkeypatch.setattr(
        bench_gpu,
        "PACKAGES",
        [
            ("torch", "torch", None),
            ("no_such_module_xyz", "no-such-dist", "1.2.3"),
            ("no_other_module_xyz", "other-dist", None),
        ],
    )
    lines: list[str] = []
    missing = bench_gpu.check_packages(echo=lines.append)
    text = "\n".join(lines)
    assert [m[1] for m in missing] == ["no-such-dist", "other-dist"]
    assert "pip download" in text and "no-such-dist==1.2.3" in text and "--python-version 3.12" in text
    assert "other-dist" in text.splitlines()[-1]
