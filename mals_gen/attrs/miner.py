"""Rule-based miner of the 27 MALS attributes from captions.

One left-to-right pass over the token codes of a caption (`codes.py`). Modifiers (colours, tones,
"long" / "short", patterns) wait in a pending phrase until the next noun takes them ("a red and
white striped shirt"); a phrase that meets a stop word first binds back to the noun it describes
("a shirt that is red") or, after "wearing" / "dressed in", to the whole outfit. Nouns give
evidence: explicit (the words say it) beats implied (t-shirt -> short sleeves); contradicting
evidence of the same strength leaves the slot at -1. Negation ("without a hat", "not carrying a
bag") flips presence slots for the next six tokens of its clause. A garment group (upper / lower)
whose every named garment has a stated colour gets "does not wear" for all its other listed
colours (`labels.py`).

Output: 27 int8 slots in `contract.MALS_ATTRIBUTE_NAMES` order, 0/1 as in docs/attributes.md,
-1 where the text does not decide.

Speed (the stage labels millions of captions on one core): the batch is tokenised by a few
C-level calls into int codes, and the pass (`scan.py`) is one flat function over locals and
lookup tables (no per-token objects or method calls), compiled by mypyc at install where a C
compiler is at hand (`COMPILED`); identical captions are mined once per call.
"""
from __future__ import annotations

import gc
import importlib.util
import os
import warnings
from collections.abc import Iterable
from importlib.machinery import EXTENSION_SUFFIXES
from types import ModuleType

import numpy as np

from ..contract import NUM_MALS_ATTRIBUTES
from . import codes as C

RULES_VERSION = "rules-v1"
_BATCH = 2048  # captions tokenised together: large enough to amortise, small enough for cache
_SCAN_PY = os.path.join(os.path.dirname(__file__), "scan.py")


def source_pass() -> ModuleType:
    """`scan.py` run as plain Python, even where a compiled build of it shadows the file."""
    spec = importlib.util.spec_from_file_location(f"{__package__}._scan_source", _SCAN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _load_pass() -> tuple[ModuleType, bool]:
    """The pass module and whether it is compiled: the mypyc build unless it is missing or stale."""
    try:
        from . import scan
    except ImportError as err:  # half a build (the module without its mypyc runtime library)
        warnings.warn(f"the compiled scan module does not load ({err}): mining with plain Python", stacklevel=2)
        return source_pass(), False
    if not scan.__file__.endswith(tuple(EXTENSION_SUFFIXES)):
        return scan, False
    # An editable install keeps the build beside the source (and setup.py stamps it): after
    # scan.py changed (an edit, a checkout) the old build would silently mine by the old rules.
    # An installed wheel has no setup.py above it, and its files' times say nothing.
    in_source_tree = os.path.exists(os.path.join(os.path.dirname(_SCAN_PY), "..", "..", "setup.py"))
    if in_source_tree and os.path.getmtime(_SCAN_PY) > os.path.getmtime(scan.__file__):
        warnings.warn(f"{os.path.basename(scan.__file__)} is older than scan.py: mining with plain Python "
                      "until the package is reinstalled (make venv, or pip install -e .)", stacklevel=2)
        return source_pass(), False
    return scan, True


_scan, COMPILED = _load_pass()
mine_codes = _scan.mine_codes


def _mine_batch(texts: list[str]) -> list[bytes]:
    codes = C.batch_codes(texts)
    if codes is None:  # a caption holds the separator character: tokenise one by one
        return [mine_codes(C.text_codes(t)) for t in texts]
    rows = []
    start = 0
    index = codes.index
    for _ in texts:
        end = index(C.SEP, start) + 1
        rows.append(mine_codes(codes[start:end]))
        start = end
    return rows


def mine_many(texts: Iterable[str]) -> np.ndarray:
    """(N, 27) int8 labels; identical captions are mined once (BLIP repeats itself a lot)."""
    texts = [t or "" for t in texts]
    if not texts:
        return np.zeros((0, NUM_MALS_ATTRIBUTES), dtype=np.int8)
    unique = list(dict.fromkeys(texts))
    rows: list[bytes] = []
    # The pass makes short-lived lists and dicts by the million and never a cycle: the cyclic
    # GC's passes over the memos would cost ~5% for nothing.
    gc_was_on = gc.isenabled()
    gc.disable()
    try:
        for s in range(0, len(unique), _BATCH):
            rows.extend(_mine_batch(unique[s:s + _BATCH]))
    finally:
        if gc_was_on:
            gc.enable()
    if len(unique) < len(texts):
        by_text = dict(zip(unique, rows))
        rows = [by_text[t] for t in texts]
    return np.frombuffer(b"".join(rows), dtype=np.int8).reshape(len(texts), NUM_MALS_ATTRIBUTES).copy()


def mine_attributes(text: str) -> np.ndarray:
    """The 27 labels (int8: 0, 1 or -1) that `text` decides (the same as `mine_many([text])[0]`)."""
    return mine_many([text])[0]
