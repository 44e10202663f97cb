"""Resume discipline: the run continues under the config it was saved with, and its log stays single.

`config_changes` compares the config a checkpoint was saved with (its train_config.yaml) with the
one given now. Settings that cannot change what is trained (ALLOWED: how often to log, save or
keep checkpoints, and where the run folder is) may change freely; any other change is refused
with one line listing `key: old -> new`, unless `--allow-config-change`, which records the
changes in RUN/config_changes.jsonl and log.jsonl. `truncate_log` drops the log records written
after the checkpoint (the steps a killed run did again after resuming).
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import yaml

from mals_gen.errors import UserError
from mals_gen.fsutil import atomic_path

#: config keys (train.*) that change neither the data, the model nor the optimisation
ALLOWED = ("log_every", "save_every", "keep_last", "out", "data.log_sample_keys")


def _flat(node, prefix: str = "") -> dict:
    if not isinstance(node, dict):
        return {prefix: node}
    out = {}
    for k, v in node.items():
        out |= _flat(v, f"{prefix}.{k}" if prefix else str(k))
    return out


def config_changes(checkpoint: Path, config_text: str) -> dict:
    """{key: [old, new]} of the settings that differ from the checkpoint's (allowed ones left out)."""
    path = checkpoint / "train_config.yaml"
    if not path.is_file():
        return {}
    old, new = (yaml.safe_load(t) or {} for t in (path.read_text(), config_text))
    old = _flat({k: old.get(k) for k in ("train", "task")})
    new = _flat({k: new.get(k) for k in ("train", "task")})
    changed = {}
    for key in sorted(old.keys() | new.keys()):
        short = key.removeprefix("train.")
        if short not in ALLOWED and old.get(key) != new.get(key):
            changed[short] = [old.get(key), new.get(key)]
    return changed


def describe(changes: dict) -> str:
    return "; ".join(f"{k}: {old!r} -> {new!r}" for k, (old, new) in changes.items())


def check_config(run: Path, checkpoint: Path, config_text: str, allow: bool, step: int,
                 record: bool = True) -> dict:
    """Refuse a changed config (one line) unless `allow`; then (`record`: the main process) append
    the changes to RUN/config_changes.jsonl."""
    changes = config_changes(checkpoint, config_text)
    if not changes:
        return {}
    if not allow:
        raise UserError(f"--resume: the config differs from {checkpoint.name}'s ({describe(changes)}); "
                        "resume with the run's settings, or pass --allow-config-change to continue with "
                        "the new ones (recorded in config_changes.jsonl)")
    if not record:
        return changes
    with open(run / "config_changes.jsonl", "a", encoding="utf-8") as f:
        f.write(json.dumps({"step": step, "time": time.strftime("%Y-%m-%dT%H:%M:%S"),
                            "checkpoint": checkpoint.name, "changes": changes}) + "\n")
    return changes


def truncate_log(path: Path, step: int) -> int:
    """Keep the records of log.jsonl up to `step` (a half-written last line goes too); returns dropped."""
    if not path.is_file():
        return 0
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
            ok = isinstance(record, dict) and int(record.get("step", 0)) <= step
        except (ValueError, TypeError):
            ok = False
        if ok:
            kept.append(line + "\n")
        else:
            dropped += 1
    if dropped:
        with atomic_path(path) as tmp:
            tmp.write_text("".join(kept), encoding="utf-8")
    return dropped
