"""What the benchmark scripts share: their command line of whole-number options, and a timer."""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable


def int_options(doc: str, **defaults: int) -> argparse.ArgumentParser:
    """A parser described by the script's docstring, one `--name` (underscores as dashes) per default."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    for name, value in defaults.items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=int, default=value)
    return parser


def seconds(fn: Callable, *args, **kwargs) -> float:
    """Wall seconds of one call of `fn(*args, **kwargs)`."""
    started = time.perf_counter()
    fn(*args, **kwargs)
    return time.perf_counter() - started
