"""The miner's pass (mals_gen/attrs/scan.py) compiled by the install and as plain Python."""
from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mals_gen.attrs import codes as C
from mals_gen.attrs import lexicon as L
from mals_gen.attrs import miner

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "tests" / "data" / "attrs_dev" / "dev.jsonl"
SAMPLE = ["a man in a red t-shirt and blue jeans without a hat", "A woman with long hair, a bag on her back.",
          "she is not carrying anything; black and white striped tank top over a pink skirt", "", "zork"]


def _texts() -> list[str]:
    """Dev captions, and word salad over every word the lexicon knows (reaches the rare branches)."""
    dev = [json.loads(line)["text"] for line in DEV.read_text().splitlines() if line.strip()]
    words = [*L.LEX, *(w for p in L.PHRASES for w in p.split()), ",", ".", "and", "not", "T-Shirt", "caf\u00e9"]
    r = random.Random(0)
    salad = [" ".join(r.choice(words) for _ in range(r.randint(0, 40))) for _ in range(3000)]
    return SAMPLE + dev + salad


def test_compiled_and_plain_pass_give_identical_labels():
    if not miner.COMPILED:
        if os.environ.get("CI"):  # CI installs as the Makefile does: the build must be there
            pytest.fail("the install did not build the compiled pass (setup.py, mypyc)")
        pytest.skip("scan.py is not compiled here (no install build): nothing to compare")
    plain = miner.source_pass()
    assert plain.__file__.endswith("scan.py") and miner.mine_codes is not plain.mine_codes
    texts = _texts()
    for text in texts:
        codes = C.text_codes(text)
        assert miner.mine_codes(list(codes)) == plain.mine_codes(list(codes)), text
    batch = C.batch_codes(texts[:500])
    start = 0
    for text in texts[:500]:  # the batch path too: its codes differ (multi-word terms unjoined)
        end = batch.index(C.SEP, start) + 1
        assert miner.mine_codes(batch[start:end]) == plain.mine_codes(batch[start:end]), text
        start = end


def _copy_package(dest: Path, with_build: bool) -> Path:
    """The modules the miner imports, in a source tree of their own; with the compiled build or not."""
    (dest / "mals_gen" / "attrs").mkdir(parents=True)
    (dest / "setup.py").write_text("")  # marks a source tree, as in this repository
    for rel in ("mals_gen/__init__.py", "mals_gen/contract.py"):
        shutil.copy2(ROOT / rel, dest / rel)
    for src in (ROOT / "mals_gen" / "attrs").iterdir():
        if src.suffix == ".py" or (with_build and src.suffix == ".so"):
            shutil.copy2(src, dest / "mals_gen" / "attrs" / src.name)
    return dest / "mals_gen" / "attrs" / "scan.py"


def _mine_in(tree: Path) -> tuple[bool, list, str]:
    code = ("import json; from mals_gen.attrs import miner; "
            f"print(json.dumps([miner.COMPILED, miner.mine_many({SAMPLE!r}).tolist()]))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(tree)})
    compiled, labels = json.loads(out.stdout)
    return compiled, labels, out.stderr


def test_plain_python_without_a_build_or_with_a_stale_or_broken_one(tmp_path):
    want = miner.mine_many(SAMPLE).tolist()
    scan_py = _copy_package(tmp_path / "bare", with_build=False)
    assert _mine_in(tmp_path / "bare")[:2] == (False, want)
    if not miner.COMPILED:
        pytest.skip("no compiled build here to copy")
    scan_py = _copy_package(tmp_path / "built", with_build=True)
    build = next(scan_py.parent.glob("scan.*.so"))
    os.utime(scan_py, (build.stat().st_mtime - 60,) * 2)
    assert _mine_in(tmp_path / "built")[:2] == (True, want)
    os.utime(scan_py, (build.stat().st_mtime + 60,) * 2)  # scan.py edited after the build
    compiled, labels, err = _mine_in(tmp_path / "built")
    assert (compiled, labels) == (False, want)
    assert "older than scan.py" in err
    for lib in scan_py.parent.glob("scan__mypyc*.so"):  # half a build: the runtime library gone
        lib.unlink()
        os.utime(scan_py, (build.stat().st_mtime - 60,) * 2)
        compiled, labels, err = _mine_in(tmp_path / "built")
        assert (compiled, labels) == (False, want)
        assert "does not load" in err
