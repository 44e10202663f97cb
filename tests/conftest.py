"""Shared pytest set-up: offline hubs, quiet progress bars, a `mals` runner for subprocess tests."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]


def run_cli(*args: str, env: dict | None = None, timeout: int = 300, module: str = "mals_gen") -> subprocess.CompletedProcess:
    """Run `python -m <module> ARGS` the way a user runs the console script."""
    full_env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    full_env.pop("MALS_DEBUG", None)
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True, check=False,
                          env=full_env, timeout=timeout, cwd=REPO)


@pytest.fixture
def mals():
    return run_cli
