"""The run plan: how many samples, how they are cut into parts, and how each is seeded.

`plan.json` fixes the sample count, part size, base seed, key prefix and prompt source before
any work. Every sample's key and seed are pure functions of (plan, index), so any single sample
is reproducible on its own and the plan itself stays a few hundred bytes even for 1.5M samples.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .contract import make_key
from .errors import UserError
from .fsutil import write_json_atomic
from .runner import PartList, split_into_parts

PLAN_FILE = "plan.json"
_MASK64 = (1 << 64) - 1
# The fields that define which samples exist; a rerun must agree on them to resume.
_IDENTITY_FIELDS = ("n", "part_size", "seed", "key_prefix", "source")
# Far beyond any person-retrieval set (MALS 1.5M, LUPerson-MLLM ~1M): a bigger N is a typo.
MAX_SAMPLES = 10**10


@dataclass(frozen=True)
class RunPlan:
    n: int
    part_size: int
    seed: int = 0
    key_prefix: str = "s"
    source: dict = field(default_factory=lambda: {"kind": "composer"})
    config: dict = field(default_factory=dict)

    @property
    def parts(self) -> PartList:
        return split_into_parts(self.n, self.part_size)

    def key(self, index: int) -> str:
        return make_key(self.key_prefix, index)

    def sample_seed(self, index: int) -> int:
        return sample_seed(self.seed, index)


def sample_seed(base_seed: int, index: int) -> int:
    """A well-mixed 63-bit seed per sample (splitmix64 of base seed and index)."""
    z = (base_seed * 0x9E3779B97F4A7C15 + index + 1) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return (z ^ (z >> 31)) >> 1


def check_plan(run_dir: str | Path, plan: RunPlan) -> RunPlan:
    """The plan to run: an existing plan.json that describes the same samples (resume), else `plan`.

    Writes nothing, so a dry run leaves no trace and a refused plan never locks the folder."""
    path = Path(run_dir) / PLAN_FILE
    if path.exists():
        old = load_plan(run_dir)
        for name in _IDENTITY_FIELDS:
            if getattr(old, name) != getattr(plan, name):
                raise UserError(
                    f"{path} was planned with {name}={getattr(old, name)!r}, not {getattr(plan, name)!r}: "
                    "rerun with the original settings to resume, or choose a new --out")
        return old
    check_size(plan.n)
    return plan


def write_or_check_plan(run_dir: str | Path, plan: RunPlan) -> RunPlan:
    """Write plan.json, or check that an existing one describes the same samples (resume)."""
    checked = check_plan(run_dir, plan)
    if checked is plan:
        write_json_atomic(Path(run_dir) / PLAN_FILE, asdict(plan))
    return checked


def check_size(n: int) -> None:
    if n <= 0:
        raise UserError(f"the number of samples must be positive, got {n}; pass e.g. --n 2000")
    if n > MAX_SAMPLES:
        raise UserError(f"--n {n:,} is more than {MAX_SAMPLES:,} samples, far beyond any dataset this "
                        "pipeline is meant for; pass a smaller --n (e.g. 1.5M)")


def load_plan(run_dir: str | Path) -> RunPlan:
    path = Path(run_dir) / PLAN_FILE
    if not path.exists():
        raise UserError(f"{run_dir} has no {PLAN_FILE}: it is not a run folder; create one with "
                        f"`mals generate --out {run_dir}`")
    try:
        data = json.loads(path.read_text())
        return RunPlan(**data)
    except (json.JSONDecodeError, TypeError) as err:
        raise UserError(f"{path} is damaged ({err}); regenerate the run into a new --out") from None
