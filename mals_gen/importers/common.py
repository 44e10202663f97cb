"""The one import path: records -> validation -> shards, with clear errors for bad files.

A format module yields `Record`s; everything else (field errors, truncated JSON, missing images
listed all at once, duplicate keys, writing) happens here so every importer behaves the same.
An image that exists but cannot be read or decoded (broken or truncated JPEG, not an image) is
skipped, not fatal: the shard writer leaves it out with one warning line and lists it in the
folder's `rejects.parquet` (key, split, source file, reason) and on the card.
"""
from __future__ import annotations

import difflib
import importlib
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..contract import (
    NUM_MALS_ATTRIBUTES,
    NUM_PA100K_ATTRIBUTES,
    SPLITS,
    ShardSample,
    is_valid_key,
    sanitize_key,
)
from ..errors import UserError
from ..fsutil import ensure_writable_dir, write_bytes_atomic
from ..shard.dataset import REJECTS_FILE, ImageRef, Sample, WriteSummary, write_dataset
from ..shard.images import ImageSpec

_MAX_LISTED = 10
_NATIVE = ImageSpec(crop=False, height=None)  # importers keep the images as they are


@dataclass
class Record:
    key: str
    image: Path
    captions: list[str]
    person_id: str
    image_id: str
    split: str
    source: str
    where: str                                  # "FILE record N", for error messages
    attrs: list[int] | None = None              # 27 MALS labels in {0, 1, -1}
    pa100k_attrs: list[int] | None = None       # 26 PA-100K labels in {0, 1}


def make_key(source: str, ident: str) -> str:
    return sanitize_key(f"{source}_{ident}")


def load_json(path: Path) -> Any:
    """Parse a JSON file; a truncated or damaged file is one line with the position."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise UserError(f"{path}: not UTF-8 text ({err}); is this the right file?") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        # A complete JSON document ends with its closing bracket; a cut file almost never does.
        ends = text.rstrip()[-1:] in ("]", "}")
        hint = "the file is damaged" if ends else "the file looks truncated (it does not end with ] or })"
        raise UserError(f"{path}: invalid JSON at line {err.lineno}, column {err.colno} ({err.msg}); "
                        f"{hint}: download or copy it again") from None


def load_json_list(path: Path) -> list:
    data = load_json(path)
    if not isinstance(data, list):
        raise UserError(f"{path}: expected a JSON list of records, got a {type(data).__name__}")
    return data


def find_file(root: Path, names: tuple[str, ...], what: str) -> Path:
    """The first of `names` under `root` (or `root` itself when it is such a file)."""
    if root.is_file() and root.name in names:
        return root
    for name in names:
        if (root / name).is_file():
            return root / name
    raise UserError(f"{root}: no {' or '.join(names)} found; pass the {what} folder that holds it")


class Fields:
    """Typed access to one JSON record with errors naming the file, the record and the fix."""

    def __init__(self, path: Path, index: int, record: Any, dataset: str):
        self.where = f"{path} record {index}"
        self.dataset = dataset
        if not isinstance(record, dict):
            raise UserError(f"{self.where}: expected an object with fields, got {type(record).__name__}")
        self.record = record

    def get(self, name: str) -> Any:
        if name not in self.record:
            close = difflib.get_close_matches(name, list(self.record), n=1, cutoff=0.5)
            hint = f" (did the file name it {close[0]!r}? that is not the {self.dataset} format)" if close else ""
            raise UserError(f"{self.where}: missing field {name!r}{hint}; fields present: "
                            f"{', '.join(sorted(map(str, self.record)))}; is this a {self.dataset} file?")
        return self.record[name]

    def text(self, name: str) -> str:
        value = self.get(name)
        if not isinstance(value, str) or not value:
            raise UserError(f"{self.where}: field {name!r} must be non-empty text, got {value!r}")
        return value

    def ident(self, name: str) -> str:
        value = self.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, str)) or value == "":
            raise UserError(f"{self.where}: field {name!r} must be a number or text id, got {value!r}")
        return str(value)

    def captions(self, name: str = "captions") -> list[str]:
        value = self.get(name)
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value or not all(isinstance(c, str) and c.strip() for c in value):
            raise UserError(f"{self.where}: field {name!r} must be a non-empty list of captions, got {value!r}")
        return [c.strip() for c in value]

    def split(self, name: str = "split") -> str:
        value = self.get(name)
        if value not in SPLITS:
            raise UserError(f"{self.where}: split {value!r} is not one of {', '.join(SPLITS)}")
        return value

    def labels(self, name: str, length: int, allowed: tuple[int, ...]) -> list[int]:
        value = self.get(name)
        if (not isinstance(value, list) or len(value) != length
                or not all(isinstance(v, int) and not isinstance(v, bool) and v in allowed for v in value)):
            raise UserError(f"{self.where}: field {name!r} must be {length} labels in {allowed}, got {value!r}")
        return value


def check_records(records: list[Record]) -> None:
    """Keys valid and unique, labels of the right length; raise one line naming the first problem."""
    for r in records:
        if not is_valid_key(r.key):
            raise UserError(f"{r.where}: cannot make a valid key from it ({r.key!r})")
        if r.attrs is not None and len(r.attrs) != NUM_MALS_ATTRIBUTES:
            raise UserError(f"{r.where}: {len(r.attrs)} MALS labels, expected {NUM_MALS_ATTRIBUTES}")
        if r.pa100k_attrs is not None and len(r.pa100k_attrs) != NUM_PA100K_ATTRIBUTES:
            raise UserError(f"{r.where}: {len(r.pa100k_attrs)} PA-100K labels, expected {NUM_PA100K_ATTRIBUTES}")
    counts = Counter(r.key for r in records)
    dups = [k for k, n in counts.items() if n > 1]
    if dups:
        first = [r.where for r in records if r.key == dups[0]]
        raise UserError(f"{len(dups)} duplicate key(s), e.g. {dups[0]} from {' and '.join(first[:2])}: "
                        "the same image is listed twice; remove the repeated record(s)")


def split_missing(records: list[Record], skip_missing: bool, images_root: Path) -> tuple[list[Record], list[Record]]:
    """(present, missing); without skip_missing any missing image is an error listing them."""
    missing = [r for r in records if not r.image.is_file()]
    if missing and not skip_missing:
        shown = ", ".join(str(r.image.relative_to(images_root)) if r.image.is_relative_to(images_root)
                          else str(r.image) for r in missing[:_MAX_LISTED])
        more = f" and {len(missing) - _MAX_LISTED} more" if len(missing) > _MAX_LISTED else ""
        raise UserError(f"{len(missing)} image(s) missing under {images_root}: {shown}{more}; "
                        "check the dataset folder, or pass --skip-missing to import without them")
    kept = [r for r in records if r.image.is_file()] if missing else records
    return kept, missing


def record_sample(r: Record, annotation: Path) -> Sample:
    fields = ShardSample(
        key=r.key, split=r.split, source=r.source, captions=r.captions, person_id=r.person_id,
        image_id=r.image_id, mals_attrs=r.attrs, attr_source="dataset" if r.attrs is not None else None,
        provenance={"dataset": r.source, "annotation": annotation.name, "record": r.where},
        pa100k_attrs=r.pa100k_attrs)
    return Sample(fields, ImageRef(str(r.image)))


def import_dataset(kind: str, root: str | Path, out_dir: str | Path, *, images: str | Path | None = None,
                   skip_missing: bool = False, samples_per_shard: int = 10_000,
                   spec: ImageSpec = _NATIVE, workers: int = 1,
                   progress: bool = True, echo: Callable[[str], None] | None = print,
                   command: str | None = None) -> WriteSummary:
    """Import dataset `kind` from `root` into the shard folder `out_dir`."""
    from . import IMPORTERS

    if kind not in IMPORTERS:
        raise UserError(f"unknown dataset kind {kind!r}; choose one of: {', '.join(IMPORTERS)}")
    root = Path(root)
    if not root.exists():
        raise UserError(f"{root} does not exist; pass the {kind} dataset folder")
    module = importlib.import_module(f"{__name__.rsplit('.', 1)[0]}.{IMPORTERS[kind]}")
    records, annotation, images_root = module.read_records(root, Path(images) if images else None)
    if not records:
        raise UserError(f"{annotation}: holds no records; is this the right file?")
    check_records(records)
    records, missing = split_missing(records, skip_missing, images_root)
    out_dir = ensure_writable_dir(out_dir)
    if missing:
        listing = "".join(f"{r.image}\t{r.where}\n" for r in missing)
        write_bytes_atomic(out_dir / "missing_images.txt", listing.encode())
        if echo:
            echo(f"import: skipped {len(missing)} record(s) whose image is missing; "
                 f"listed in {out_dir / 'missing_images.txt'}")
    card = {"name": out_dir.name, "config": {"import": {"kind": kind, "root": str(root), "images": str(images_root),
            "skip_missing": skip_missing, "samples_per_shard": samples_per_shard, "image": spec.__dict__}}}
    if command:
        card["command"] = command
    if missing:
        card["sections"] = {"Missing images": f"{len(missing)} record(s) skipped; see missing_images.txt."}
    samples = [record_sample(r, annotation) for r in records]
    summary = write_dataset(samples, out_dir, spec=spec, samples_per_shard=samples_per_shard,
                            workers=workers, card=card, progress=progress)
    if echo:
        state = "already up to date" if summary.skipped else f"in {summary.seconds:.1f}s"
        bad = (f"; skipped {summary.rejected} image(s) that do not decode, listed in "
               f"{out_dir / REJECTS_FILE}") if summary.rejected else ""
        echo(f"import {kind}: {summary.samples} samples, {summary.shards} shard(s) {state}; "
             f"{summary.reencoded} image(s) re-encoded{bad} -> {out_dir}")
    return summary
