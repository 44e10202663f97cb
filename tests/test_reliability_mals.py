"""`mals` under hostile conditions: corrupt images at every stage boundary, kills, two processes.

Each test is the one that would have caught a failure seen in a hostile trial: a report crash on an
unreadable image, a corrupt JPEG copied into shards, a traceback on a broken imported image, workers
left hanging after `kill -9`, temp files left for good, tars rewritten after a kill, and two
processes on one run deleting each other's files.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from mals_gen import layout
from mals_gen.cli import app
from mals_gen.contract import ShardSample
from mals_gen.errors import UserError
from mals_gen.importers.common import import_dataset
from mals_gen.locks import PartLock
from mals_gen.manifest import load_manifest
from mals_gen.runner import run_stage, split_into_parts
from mals_gen.shard import dataset
from mals_gen.shard.dataset import Sample, write_dataset
from mals_gen.shard.images import ImageSpec, PreparedImage, decode_problem
from mals_gen.shard.select import ShardConfig, run_shard
from mals_gen.shard.verify import verify_shards

from ._run_fixtures import write_run
from ._shard_fixtures import jpeg_bytes, tar_samples

REPO = Path(__file__).resolve().parents[1]
GOOD = jpeg_bytes(0, (64, 32))
TRUNCATED = GOOD[: len(GOOD) // 2]
NOT_AN_IMAGE = b"this is not an image at all" * 10


def _sample(i: int, image: bytes, split: str = "train") -> Sample:
    fields = ShardSample(key=f"s_{i:05d}", split=split, source="test", captions=[f"person {i}"], image=image)
    return Sample(fields)


def make_samples(n: int, seed_size=(64, 32)) -> list[Sample]:
    """n decodable in-memory samples (also imported by the subprocess scripts below)."""
    return [_sample(i, jpeg_bytes(i, seed_size)) for i in range(n)]


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


# ---------------------------------------------------------------------------------------------
# Corrupt and truncated images

def test_decode_problem_catches_truncated_and_non_images():
    assert decode_problem(GOOD) is None and decode_problem(GOOD, fast=False) is None
    for bad in (TRUNCATED, NOT_AN_IMAGE, b""):
        assert decode_problem(bad) and decode_problem(bad, fast=False)


@pytest.mark.parametrize("spec", [ImageSpec(crop=False, height=None), ImageSpec(height=48)],
                         ids=["passthrough", "reencode"])
def test_writer_never_writes_an_undecodable_image(tmp_path, spec, capsys):
    samples = make_samples(6)
    samples[1] = _sample(1, TRUNCATED)
    samples[4] = _sample(4, NOT_AN_IMAGE, split="test")
    summary = write_dataset(samples, tmp_path / "out", spec=spec, samples_per_shard=4, progress=False)
    assert summary.samples == 4 and summary.rejected == 2
    keys = {s.key for tar in (tmp_path / "out").glob("*.tar") for s in tar_samples(tar)}
    assert keys == {"s_00000", "s_00002", "s_00003", "s_00005"}
    rejects = pq.read_table(tmp_path / "out" / "rejects.parquet").to_pylist()
    assert [(r["key"], r["split"]) for r in rejects] == [("s_00001", "train"), ("s_00004", "test")]
    assert all(r["reason"].startswith("image does not decode (") and "0x" not in r["reason"] for r in rejects)
    warned = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    assert len(warned) == 2 and "s_00001" in warned[0]
    assert "Rejected images" in (tmp_path / "out" / "README.md").read_text()
    assert verify_shards(tmp_path / "out", decode=True) == []


def test_a_tar_whose_every_image_is_rejected_is_not_listed(tmp_path):
    samples = make_samples(2) + [_sample(9, NOT_AN_IMAGE, split="test")]
    summary = write_dataset(samples, tmp_path / "out", spec=ImageSpec(height=None), samples_per_shard=4,
                            progress=False, warn=None)
    assert summary.shards == 1 and json.loads((tmp_path / "out" / "splits.json").read_text())["test"] == []
    assert verify_shards(tmp_path / "out") == []


def test_plain_verify_catches_what_the_writer_would_refuse(tmp_path, monkeypatch):
    # Force a truncated JPEG past the writer (as a shard written by an older version would hold).
    monkeypatch.setattr(dataset, "_image_of", lambda s, h, spec: PreparedImage(TRUNCATED, 32, 64, False))
    write_dataset(make_samples(3), tmp_path / "out", spec=ImageSpec(), samples_per_shard=4, progress=False)
    problems = verify_shards(tmp_path / "out")
    assert len(problems) == 3 and all("does not decode" in p for p in problems)


def _run_with_images(run: Path, images: list[bytes], *, filtered: bool) -> Path:
    samples = [{"image": img, "caption": f"a person {i} walks",
                "filter": {"keep": decode_problem(img) is None,
                           "reason": "ok" if decode_problem(img) is None else "unreadable_image",
                           "person_box": None, "clip_score": 25.0, "phash": "0" * 16, "blur": 100.0,
                           "colourfulness": 10.0}} for i, img in enumerate(images)]
    stages = ("plan", "generate", "caption", "attrs") + (("filter",) if filtered else ())
    write_run(run, samples, part_size=3, size=(64, 32), stages=stages)
    return run


@pytest.mark.parametrize("filtered", [True, False], ids=["after-filter", "without-filter"])
def test_corrupt_generate_member_downstream_shard_and_report(tmp_path, filtered):
    from mals_gen.inspect_run import inspect_run
    from mals_gen.report import build_report

    images = [jpeg_bytes(i, (64, 32)) for i in range(6)]
    images[2] = TRUNCATED
    run = _run_with_images(tmp_path / "run", images, filtered=filtered)
    out = tmp_path / "shards"
    summary = run_shard(run, out, ShardConfig(samples_per_shard=10, workers=1, resize=False),
                        progress=False, echo=None)
    assert summary.totals["kept"] == 5
    reason = "filter:unreadable_image" if filtered else "unreadable_image"
    assert summary.totals["dropped"] == {reason: 1}
    assert (out / "rejects.parquet").exists() != filtered
    assert verify_shards(out, decode=True) == []
    report = build_report(run)  # used to crash on the rejected sample's thumbnail
    assert report.exists()
    assert inspect_run(run, echo=lambda line: None).exists()  # its contact sheet skips the image


def test_caption_reads_a_truncated_member_as_no_image(tmp_path, capsys):
    from mals_gen.caption.stage import _read_image
    from mals_gen.tario import PartTar, add_member

    path = tmp_path / "part.tar"
    with tarfile.open(path, "w") as tar:
        add_member(tar, "a.jpg", GOOD)
        add_member(tar, "b.jpg", TRUNCATED)
    with PartTar(path) as tar:
        assert _read_image(tar, "a.jpg") is not None and _read_image(tar, "b.jpg") is None
    err = capsys.readouterr().err
    assert "b.jpg" in err and str(path) in err


def _cuhk(root: Path, broken: bytes) -> None:
    records = [{"split": "train", "captions": [f"person {i} walks"], "file_path": f"cam/{i}.jpg", "id": i}
               for i in range(4)]
    for i, r in enumerate(records):
        (root / "imgs" / "cam").mkdir(parents=True, exist_ok=True)
        (root / "imgs" / r["file_path"]).write_bytes(broken if i == 1 else jpeg_bytes(i))
    (root / "reid_raw.json").write_text(json.dumps(records))


@pytest.mark.parametrize("broken", [TRUNCATED, NOT_AN_IMAGE], ids=["truncated", "not-an-image"])
def test_import_skips_a_broken_image_and_lists_it(tmp_path, broken):
    _cuhk(tmp_path / "cuhk", broken)
    result = CliRunner().invoke(app, ["import", "cuhk-pedes", str(tmp_path / "cuhk"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output and "skipped 1 image(s)" in result.output
    rejects = pq.read_table(tmp_path / "out" / "rejects.parquet").to_pylist()
    assert [r["source"] for r in rejects] == [str(tmp_path / "cuhk" / "imgs" / "cam" / "1.jpg")]
    assert verify_shards(tmp_path / "out", decode=True) == []
    again = import_dataset("cuhk-pedes", tmp_path / "cuhk", tmp_path / "out", progress=False, echo=None)
    assert again.skipped and again.rejected == 1


def test_unreadable_source_file_is_a_reject(tmp_path):
    folder = tmp_path / "dir.jpg"
    folder.mkdir()  # open() fails with IsADirectoryError
    samples = make_samples(2) + [Sample(ShardSample(key="x", split="train", source="t", captions=["c"]),
                                        dataset.ImageRef(str(folder)))]
    summary = write_dataset(samples, tmp_path / "out", spec=ImageSpec(), samples_per_shard=4,
                            progress=False, warn=None)
    assert summary.rejected == 1 and summary.samples == 2


# ---------------------------------------------------------------------------------------------
# Kills

_KILL_SEQUENTIAL = """
import os, signal, sys
from mals_gen.shard import dataset
from mals_gen.shard.images import ImageSpec
from tests.test_reliability_mals import make_samples
calls = [0]
real = dataset.prepare_image
def dying(*a, **k):
    calls[0] += 1
    if calls[0] == 10:   # inside the third tar (4 samples per tar)
        os.kill(os.getpid(), signal.SIGKILL)
    return real(*a, **k)
dataset.prepare_image = dying
dataset.write_dataset(make_samples(14), sys.argv[1], spec=ImageSpec(height=48), samples_per_shard=4, progress=False)
"""


def test_killed_shard_resumes_per_tar_byte_identical_and_cleans_temp_files(tmp_path):
    killed, clean = tmp_path / "killed", tmp_path / "clean"
    proc = subprocess.run([sys.executable, "-c", _KILL_SEQUENTIAL, str(killed)], cwd=REPO, timeout=120,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    assert [p.name.split(".tmp-")[0] for p in killed.glob("*.tmp-*")] == ["000002.tar"]
    assert any("stray temporary file" in p for p in verify_shards(killed))
    finished = {n: (killed / n).stat() for n in ("000000.tar", "000001.tar")}
    spec = ImageSpec(height=48)
    summary = write_dataset(make_samples(14), killed, spec=spec, samples_per_shard=4, progress=False)
    assert summary.kept_shards == 2
    for name, before in finished.items():
        after = (killed / name).stat()
        assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)  # not rewritten
    assert not list(killed.rglob("*.tmp-*")) and verify_shards(killed) == []
    write_dataset(make_samples(14), clean, spec=spec, samples_per_shard=4, progress=False)
    assert _files(killed) == _files(clean)


_KILL_WORKERS = """
import sys
from mals_gen.shard import dataset
from mals_gen.shard.images import ImageSpec
from tests.test_reliability_mals import make_samples
dataset.write_dataset(make_samples(3000, (32, 16)), sys.argv[1], spec=ImageSpec(height=384, upscale=True),
                      samples_per_shard=20, workers=2, progress=False)
"""


def _proc_stat(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) of a process from /proc, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return fields[0], int(fields[1])


def _descendants(pid: int) -> list[int]:
    parents = {int(p.name): _proc_stat(int(p.name)) for p in Path("/proc").iterdir() if p.name.isdigit()}
    found, frontier = [], [pid]
    while frontier:
        kids = [c for c, st in parents.items() if st and st[1] in frontier]
        found += kids
        frontier = kids
    return found


def _running(pid: int) -> bool:
    stat = _proc_stat(pid)
    return stat is not None and stat[0] != "Z"  # a zombie has exited; only its parent must reap it


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_sigkill_of_shard_with_workers_leaves_no_process(tmp_path):
    out = tmp_path / "out"
    proc = subprocess.Popen([sys.executable, "-c", _KILL_WORKERS, str(out)], cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline, children = time.time() + 180, []
    while time.time() < deadline and proc.poll() is None:
        # wait until a worker (not the parent) is writing a tar
        if any(not p.name.endswith(f".tmp-{proc.pid}") for p in out.glob("*.tar.tmp-*")):
            children = _descendants(proc.pid)
            break
        time.sleep(0.05)
    assert proc.poll() is None and children, "the kill should land while workers write"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.time() + 10
    while time.time() < deadline and any(_running(c) for c in children):
        time.sleep(0.2)
    left = [c for c in children if _running(c)]
    for pid in left:  # do not leave them to the rest of the suite, then fail
        os.kill(pid, signal.SIGKILL)
    assert not left, f"{len(left)} helper process(es) still alive 10 s after the parent was killed"
    summary = write_dataset(make_samples(3000, (32, 16)), out, spec=ImageSpec(height=384, upscale=True),
                            samples_per_shard=20, workers=1, progress=False)
    assert summary.samples == 3000 and not list(out.rglob("*.tmp-*"))


# ---------------------------------------------------------------------------------------------
# Two processes on one run

_HOLD_LOCK = """
import sys, time
from mals_gen.locks import PartLock
lock = PartLock(sys.argv[1])  # kept referenced: closing the file would free the lock
assert lock.acquire()
print("held", flush=True)
time.sleep(60)
"""


def _hold(path: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, str(path)], cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def _touch(ctx):
    with ctx.output(".txt") as tmp:
        tmp.write_text(str(ctx.part.index))
    return {"samples": ctx.part.size}


def test_a_part_locked_by_a_live_process_is_left_to_it(tmp_path):
    stage_dir = layout.state_dir(tmp_path, "s")  # where locks and non-manifest outputs live
    stage_dir.mkdir(parents=True)
    holder = _hold(stage_dir / "part-00001.lock")
    try:
        leftover = stage_dir / "part-00001.txt.tmp-1"  # the holder's temp file: must survive
        leftover.write_text("in progress")
        assert not PartLock(stage_dir / "part-00001.lock").acquire()
        summary = run_stage("s", tmp_path, split_into_parts(30, 10), _touch, progress=False)
        assert summary.parts_done_now == 2 and summary.parts_busy == 1 and leftover.exists()
        assert "left to another process" in summary.line()
        with pytest.raises(UserError, match=rf"pid {holder.pid} on host"):
            run_stage("s", tmp_path, split_into_parts(30, 10), _touch, progress=False)
    finally:
        holder.kill()
        holder.wait()
    # the kernel freed the lock with its holder: a rerun takes the part and cleans its leftover
    summary = run_stage("s", tmp_path, split_into_parts(30, 10), _touch, progress=False)
    assert summary.parts_done_now == 1 and not leftover.exists()
    assert not list(stage_dir.glob("*.lock"))  # removed with each release


def test_two_same_rank_generate_processes_give_the_result_of_one(tmp_path):
    args = ["generate", "--n", "120", "--part-size", "10", "--backend", "sketch", "--no-progress"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "SLURM_PROCID")}
    run = tmp_path / "twice"
    procs = [subprocess.Popen([sys.executable, "-m", "mals_gen", *args, "--out", str(run)], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=300)
        assert "Traceback" not in err, err
        assert p.returncode == 0 or "holds" in err, err
    once = tmp_path / "once"
    subprocess.run([sys.executable, "-m", "mals_gen", *args, "--out", str(once)], cwd=REPO, env=env,
                   check=True, capture_output=True, timeout=300)
    a, b = load_manifest(run), load_manifest(once)
    assert len(a) == 120 and a.drop(columns=["image_path"]).equals(b.drop(columns=["image_path"]))
    for tar in sorted((once / "generate").glob("*.tar")):
        assert (run / "generate" / tar.name).read_bytes() == tar.read_bytes()
    assert not list(run.rglob("*.tmp-*")) and not list(run.rglob("*.lock"))


def test_verify_reports_a_stray_temp_file_and_a_rerun_removes_it(tmp_path):
    out = tmp_path / "out"
    write_dataset(make_samples(3), out, spec=ImageSpec(), samples_per_shard=4, progress=False)
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True)
    stray = out / f"000000.tar.tmp-{int(dead.stdout)}"
    stray.write_bytes(b"half a tar")
    problems = verify_shards(out)
    assert len(problems) == 1 and problems[0].startswith(f"{stray.name}: stray temporary file")
    write_dataset(make_samples(3), out, spec=ImageSpec(), samples_per_shard=4, progress=False)
    assert not stray.exists() and verify_shards(out) == []
