"""Where every file of a run folder lives: the one place that builds run paths.

    RUN/<stage>/part-NNNNN.parquet            the stage's manifest, nothing else (plan, generate,
                                              caption, attrs, filter_checks, filter)
    RUN/images/part-NNNNN.tar                 generate's images (`image_path` is relative to RUN)
    RUN/state/<stage>/part-NNNNN.done.json    done markers (the part's stats), stats.json, config.json,
                                              and the temporary files of parts being written

A stage folder therefore opens as is in pandas, pyarrow.dataset, Polars and DuckDB, and a recursive
glob over RUN counts each sample once per stage (docs/architecture.md, "Run folders").
"""
from __future__ import annotations

from pathlib import Path

from .errors import UserError

DONE_SUFFIX = ".done.json"
STATE = "state"
IMAGES = "images"
MANIFEST_SUFFIX = ".parquet"


def part_name(index: int) -> str:
    return f"part-{index:05d}"


def manifest_dir(run_dir: str | Path, stage: str) -> Path:
    return Path(run_dir) / stage


def state_dir(run_dir: str | Path, stage: str) -> Path:
    return Path(run_dir) / STATE / stage


def images_dir(run_dir: str | Path, stage: str = "generate") -> Path:
    # generate owns RUN/images; a later stage that writes tars gets its own folder beside it
    return Path(run_dir) / (IMAGES if stage == "generate" else f"{IMAGES}_{stage}")


def part_path(run_dir: str | Path, stage: str, index: int, suffix: str = MANIFEST_SUFFIX) -> Path:
    """Final path of one part file: parquet in the manifest folder, tars in the images folder,
    anything else (markers, side files) in the stage's state folder."""
    if suffix == MANIFEST_SUFFIX:
        folder = manifest_dir(run_dir, stage)
    elif suffix == ".tar":
        folder = images_dir(run_dir, stage)
    else:
        folder = state_dir(run_dir, stage)
    return folder / f"{part_name(index)}{suffix}"


def image_tar_rel(index: int, stage: str = "generate") -> str:
    """A part's image tar relative to RUN, as the manifest column `image_path` stores it."""
    return part_path(".", stage, index, ".tar").as_posix().removeprefix("./")


def done_path(run_dir: str | Path, stage: str, index: int) -> Path:
    return part_path(run_dir, stage, index, DONE_SUFFIX)


def done_markers(run_dir: str | Path, stage: str) -> list[Path]:
    return sorted(state_dir(run_dir, stage).glob(f"part-*{DONE_SUFFIX}"))


def stats_path(run_dir: str | Path, stage: str) -> Path:
    return state_dir(run_dir, stage) / "stats.json"


def config_path(run_dir: str | Path, stage: str) -> Path:
    return state_dir(run_dir, stage) / "config.json"


def check_layout(run_dir: str | Path, stage: str) -> None:
    """Refuse a run folder written before the state/ and images/ folders existed (it would be redone)."""
    old = manifest_dir(run_dir, stage)
    if old.is_dir() and next(old.glob(f"part-*{DONE_SUFFIX}"), None) is not None:
        raise UserError(f"{old} holds done markers beside its parquet (a run folder from before "
                        "RUN/state/ and RUN/images/): rerun into a new --out folder")
