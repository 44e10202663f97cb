"""The trainer end to end on aptm-tiny with tiny images: loss falls, export, kill + resume, 2 processes,
and one-line user errors."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from aptm_train.train.cli_options import overrides
from aptm_train.train.config import resolve
from aptm_train.train.loop import train
from mals_gen.errors import UserError

from ._train_shards import train_keys, write_shards

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model-size", "aptm-tiny", "--batch-size", "8", "--lr", "5e-4", "--log-every", "1",
        "--set", "model_overrides.vision.img_size=[96,32]", "--set", "schedule.warmup_steps=2"]
STEPS = 12


def tiny_cfg(shards: Path, out: Path, **flags):
    args = {"shards": str(shards), "out": str(out), "model_size": "aptm-tiny", "batch_size": 8, "lr": 5e-4,
            "log_every": 1, "max_steps": STEPS, "save_every": 4, "workers": 2} | flags
    over = overrides(["model_overrides.vision.img_size=[96,32]", "schedule.warmup_steps=2"], **args)
    return resolve("pretrain", None, over)


def losses(run: Path) -> list[float]:
    return [r["loss"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]


@pytest.fixture(scope="module")
def shards(tmp_path_factory) -> Path:
    return write_shards(tmp_path_factory.mktemp("shards"), n=40)


@pytest.fixture(scope="module")
def single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic as the OMP_NUM_THREADS=1 subprocess below
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def full_run(shards, tmp_path_factory, single_thread) -> Path:
    run = tmp_path_factory.mktemp("full")
    train(tiny_cfg(shards, run))
    return run


def test_pretrain_loss_falls_and_exports(full_run):
    from aptm_train.model.checkpoint import load_model

    curve = losses(full_run)
    assert len(curve) == STEPS
    assert sum(curve[-3:]) / 3 < sum(curve[:3]) / 3 - 0.3, curve
    model = load_model(full_run / "model")                  # the exported folder rebuilds itself
    assert model.config.vision.img_size == (96, 32)
    assert (full_run / "best" / "best.json").is_file() and (full_run / "config.yaml").is_file()
    record = json.loads((full_run / "log.jsonl").read_text().splitlines()[0])
    assert {"lr", "samples_per_s", "data_wait_s", "data_wait_share", "itc_loss", "itm_loss", "mlm_loss",
            "iac_loss", "iam_loss", "mam_loss"} <= set(record)
    assert 0 <= record["data_wait_share"] <= 1 and record["data_wait_s"] >= 0
    assert any((full_run / "tb").iterdir())
    kept = sorted(p.name for p in (full_run / "checkpoints").iterdir())
    assert kept == ["step-00000004", "step-00000008", "step-00000012"]   # keep_last = 3


def test_sigkill_then_resume_matches_uninterrupted(shards, full_run, tmp_path, single_thread):
    run = tmp_path / "killed"
    cmd = [sys.executable, "-m", "aptm_train", "pretrain", "--shards", str(shards), "--out", str(run), *TINY,
           "--max-steps", str(STEPS), "--save-every", "4", "--workers", "2"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    marker = run / "checkpoints" / "step-00000008" / "trainer_state.json"
    deadline = time.time() + 150
    while not marker.exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert marker.exists() and not (run / "model").exists(), "the run was not killed mid-way"
    result = train(tiny_cfg(shards, run), resume=True)
    assert result["step"] == STEPS
    steps = [r["step"] for r in map(json.loads, (run / "log.jsonl").read_text().splitlines()) if "loss" in r]
    assert steps == list(range(1, STEPS + 1))          # the steps redone after the kill are logged once
    assert losses(run)[-1] == pytest.approx(losses(full_run)[-1], abs=1e-6)
    from safetensors.torch import load_file
    a, b = load_file(full_run / "model" / "model.safetensors"), load_file(run / "model" / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)


# ITC + ITM only, ITM from step 2 (the CPU demo's shape): the MLM head never gets a gradient and the
# fusion none before step 2, which DDP must be told (without it the second step fails)
ITC_ITM_LATE = [a for k in ("mlm", "iac", "iam", "mam") for a in ("--set", f"loss.weights.{k}=0")] + [
    "--set", "loss.itm_start=2"]


def test_two_processes_see_each_pair_once(shards, tmp_path):
    run = tmp_path / "ddp"
    # On CPU, accelerate's torchrun launcher (--multi_gpu) starts the 2 processes; --cpu alone starts one.
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "-m", "aptm_train", "pretrain", "--shards", str(shards), "--out", str(run), *TINY,
           "--epochs", "1", "--batch-size", "4", "--workers", "1", "--set", "data.log_sample_keys=true",
           *ITC_ITM_LATE, "--no-progress"]
    done = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, OMP_NUM_THREADS="1"), capture_output=True,
                          text=True, timeout=240, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "step/s" not in done.stderr and "s/step" not in done.stderr   # --no-progress: no tqdm bar
    seen = [k for f in sorted((run / "sample_keys").glob("epoch-0000-rank-*.txt")) for k in f.read_text().split()]
    assert len({f.name for f in (run / "sample_keys").iterdir()}) == 2
    assert len(seen) == len(set(seen)) and set(seen) == train_keys(40)
    assert (run / "model" / "model.safetensors").is_file()


def one_line(err: UserError) -> str:
    text = str(err)
    assert "\n" not in text
    return text


def test_user_errors_are_one_line(shards, full_run, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError) as err:
        train(tiny_cfg(tmp_path / "empty", tmp_path / "r1"))
    assert "no .tar shards" in one_line(err.value)
    bare = write_shards(tmp_path / "bare", n=20, with_attrs=False)
    with pytest.raises(UserError) as err:
        train(tiny_cfg(bare, tmp_path / "r2"))
    assert "carry no attributes" in one_line(err.value)
    with pytest.raises(UserError) as err:
        resolve("pretrain", None, {"data": {"shards": "x", "shufle_buffer": 3}, "out": "o"})
    assert "unknown key 'shufle_buffer'" in one_line(err.value)
    with pytest.raises(UserError) as err:          # resume with another model size
        train(tiny_cfg(shards, full_run, model_size="aptm-mini"), resume=True)
    assert "aptm-tiny" in one_line(err.value) and "aptm-mini" in str(err.value)
    with pytest.raises(UserError) as err:          # fine-tune a checkpoint of another size
        over = overrides(None, shards=str(shards), out=str(tmp_path / "r3"), init=str(full_run / "model"),
                         model_size="aptm-mini")
        train(resolve("finetune", None, over))
    assert "holds an aptm-tiny model" in one_line(err.value)


def test_cli_prints_one_line_for_a_user_error(tmp_path):
    (tmp_path / "empty").mkdir()
    done = subprocess.run([sys.executable, "-m", "aptm_train", "pretrain", "--shards", str(tmp_path / "empty"),
                           "-o", str(tmp_path / "run"), "--model-size", "aptm-tiny"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0 and "no .tar shards" in done.stderr


def test_finetune_from_an_exported_model_uses_eda(shards, full_run, tmp_path, single_thread):
    over = overrides(["data.num_workers=0"], shards=str(shards), out=str(tmp_path / "ft"),
                     init=str(full_run / "model"), max_steps=2, batch_size=8, log_every=1)
    result = train(resolve("finetune", None, over))
    record = json.loads((tmp_path / "ft" / "log.jsonl").read_text().splitlines()[0])
    assert result["step"] == 2 and {"itc_eda_loss", "itm_eda_loss"} <= set(record)
    assert "iac_loss" not in record                       # the attribute stream is off in fine-tuning


def test_recipe_presets_batch_sizes_and_original_settings():
    from aptm_train.losses import RECIPES
    from aptm_train.train.config import PRESETS

    assert set(PRESETS) == set(RECIPES)                  # one list of recipes: presets and loss tasks agree
    base = {"data": {"shards": "s"}, "out": "o"}
    pre, ft = resolve("pretrain", None, base), resolve("finetune", None, base)
    pa = resolve("finetune", None, {**base, "recipe": "pa100k"})
    assert (pre.recipe, pre.data.batch_size, pre.schedule.kind, pre.data.eda) == ("mals-pretrain", 150, "linear", False)
    assert (ft.recipe, ft.data.batch_size, ft.data.id_by, ft.data.eda) == ("finetune", 120, "person", True)
    assert ft.data.eda_style == "original" and pre.data.eda_style == "ours"  # the paper's EDA where EDA is used
    assert (pa.recipe, pa.data.batch_size, pa.data.eda, pa.optim.lr_x2, pa.epochs) == ("pa100k", 200, False, "finetune", 30)
    for cfg in (pre, ft, pa):
        assert cfg.optim.no_decay == "names" and cfg.data.randaug_magnitudes == "original" and cfg.loss == {}
    flags = resolve("pretrain", None, overrides(["optim.no_decay=modules", "loss.itc_gradient=global"],
                                                shards="s", out="o", batch_size=16))
    assert (flags.data.batch_size, flags.optim.no_decay, flags.loss) == (16, "modules", {"itc_gradient": "global"})
    with pytest.raises(UserError) as err:
        resolve("pretrain", None, {**base, "loss": {"itc_gradient": "sideways"}})
    assert "loss.itc_gradient" in one_line(err.value)
    with pytest.raises(UserError) as err:
        resolve("pretrain", None, {**base, "recipe": "cuhk"})
    assert "recipe 'cuhk' is unknown" in one_line(err.value)
    with pytest.raises(UserError) as err:                # one text length: the model's text.max_len
        resolve("pretrain", None, {"data": {"shards": "s", "max_len": 40}, "out": "o"})
    assert "unknown key 'max_len'" in one_line(err.value)


def test_grad_accum_warning_is_one_line():
    from aptm_train.train.loop import warn_grad_accum

    text = warn_grad_accum(8, 4, 3)
    assert "\n" not in text and "ITC and ITM" in text and "32 pairs" in text and "96 pairs" in text


def test_weight_decay_rules():
    from aptm_train.model.aptm import APTM
    from aptm_train.model.config import named_config
    from aptm_train.train.optim import no_decay_names

    model = APTM.from_config(named_config("aptm-tiny"))
    ours, original = no_decay_names(model, "modules"), no_decay_names(model, "names")
    tables = {n for n, _ in model.named_parameters() if n.endswith("relative_position_bias_table")}
    assert tables and tables <= original and not tables & ours
    assert "itm_head.1.weight" in ours and "itm_head.1.weight" not in original   # a LayerNorm named by index
    assert "temp" not in ours | original
    names = {n for n, _ in model.named_parameters()}          # (ours also lists a tied alias, decoder.bias)
    assert original - ours == tables and (ours - original) & names == {"itm_head.1.weight"}


def test_collate_follows_the_task():
    from aptm_train.losses import task_config
    from aptm_train.model.config import named_config
    from aptm_train.text import build_tokenizer
    from aptm_train.train import setup

    cfg = resolve("finetune", None, {"data": {"shards": "s"}, "out": "o", "recipe": "pa100k"})
    tok = build_tokenizer(named_config("aptm-tiny"))
    pairs = [{"caption": c, "source": "pa100k", "pixels": torch.zeros(3, 8, 4), "person_id": i, "attrs": [1] * 26,
              "key": f"k{i}", "caption_index": 0, "seed": i} for i, c in enumerate(["a man in a red shirt", "a woman"])]
    ours = setup.collate_fn(cfg, tok, task_config("pa100k"), max_len=40)(pairs)
    assert ours["attrs"].shape == (2, 26) and ours["input_ids"].shape[1] < 40
    padded = setup.collate_fn(cfg, tok, task_config("pa100k", {"masking": {"count": "padded"}}), max_len=40)(pairs)
    assert padded["input_ids"].shape == padded["mlm_labels"].shape == (2, 40)     # padded to max_len
    assert ((padded["mlm_labels"] != -100).sum(1) == 10).all()                     # round(0.25 * 40) = 10
    mals = setup.collate_fn(cfg, tok, task_config("mals-pretrain"), max_len=40)(pairs)
    assert (mals["attrs"] == -1).all() and mals["attrs"].shape == (2, 27)         # 26 labels do not fit 27


def test_timed_reports_each_wait_and_yields_everything():
    from aptm_train.train.logging import timed

    def slow():
        for i in range(3):
            time.sleep(0.02 * i)
            yield i

    waits = []
    assert list(timed(slow(), waits.append)) == [0, 1, 2]
    assert len(waits) == 3 and waits[2] >= 0.04 > waits[0]


def test_log_averages_a_loss_over_the_steps_that_computed_it(tmp_path):
    from aptm_train.train.logging import RunLogger
    log = RunLogger(tmp_path, total_steps=4, start_step=0, enabled=True, tensorboard=False, progress=False)
    log.accumulate({"loss": 2.0, "itc_loss": 2.0}, 8)                    # ITM not yet on (loss.itm_start)
    log.accumulate({"loss": 3.0, "itc_loss": 1.0, "itm_loss": 2.0}, 8)
    log.accumulate({"loss": 2.0, "itc_loss": 1.0, "itm_loss": 1.0}, 8)
    record = log.flush(3, 0, 1e-4)
    log.close()
    assert record["itc_loss"] == pytest.approx(4 / 3) and record["itm_loss"] == pytest.approx(1.5)
    assert record["loss"] == pytest.approx(7 / 3)
