"""Files of descriptions as a prompt source: plain text, JSONL, parquet, and the dataset JSON files.

MALS was prompted with the captions of CUHK-PEDES and ICFG-PEDES, so `DescriptionFile` reads
their annotation files as they ship (`reid_raw.json`, `ICFG-PEDES.json`, RSTPReid's
`data_captions.json`: a list of records whose `captions` list gives one description each), plus

* `.txt`: one description per line, blank lines skipped;
* `.jsonl`: one JSON object per line with a "caption" or "text" field (or `field`), or one string;
* `.parquet`: the "caption" or "text" column (or `field`); a list column gives several per row;
* `.json`: a list of such records (also APTM's / MALS's `{"caption": ...}` records) or of strings.

Whitespace inside a description (CUHK-PEDES has stray newlines) is collapsed to single spaces.
Every problem a user can fix is one `UserError` line naming the file, the record and the fix.
"""
from __future__ import annotations

import json
from pathlib import Path

from ..errors import UserError

SUFFIXES = (".txt", ".jsonl", ".parquet", ".json")
_DEFAULT_FIELDS = ("caption", "text")   # for .jsonl / .parquet and single-caption JSON records
_JSON_FIELDS = ("captions", "caption", "text")
_FIX_FIELD = "name the text field with field=NAME (the prompt file's field option)"


def _clean(text: str) -> str:
    return " ".join(text.split())


class DescriptionFile:
    """All descriptions of one file, in file order; `texts(start, stop)` wraps around its end."""

    def __init__(self, path: str | Path, field: str | None = None):
        self.path = Path(path)
        self.field = field
        if not self.path.is_file():
            raise UserError(f"prompt file {self.path} does not exist; check the path")
        suffix = self.path.suffix.lower()
        readers = {".txt": self._read_txt, ".jsonl": self._read_jsonl, ".parquet": self._read_parquet,
                   ".json": self._read_json}
        if suffix not in readers:
            raise UserError(f"prompt file {self.path}: unsupported type {suffix or '(no suffix)'!r}; "
                            f"use one of {', '.join(SUFFIXES)}")
        texts = [t for t in (_clean(x) for x in readers[suffix]()) if t]
        if not texts:
            raise UserError(f"prompt file {self.path} holds no descriptions; add some or choose another file")
        self._texts = texts

    @property
    def name(self) -> str:
        """Short provenance string stored as `prompt_source`, e.g. "file:captions.jsonl"."""
        return f"file:{self.path.name}"

    def __len__(self) -> int:
        return len(self._texts)

    def texts(self, start: int, stop: int) -> list[str]:
        """Descriptions [start, stop), wrapping modulo len (a plan may be larger than the file)."""
        if start < 0 or stop < start:
            raise ValueError(f"need 0 <= start <= stop, got [{start}, {stop})")
        n = len(self._texts)
        return [self._texts[i % n] for i in range(start, stop)]

    # -- readers ------------------------------------------------------------------------------
    def _read_text(self) -> str:
        try:
            return self.path.read_text(encoding="utf-8")
        except UnicodeDecodeError as err:
            raise UserError(f"prompt file {self.path} is not UTF-8 text (byte {err.start}); "
                            "save it as UTF-8") from None

    def _read_txt(self) -> list[str]:
        return self._read_text().splitlines()

    def _read_jsonl(self) -> list[str]:
        out: list[str] = []
        for lineno, line in enumerate(self._read_text().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise UserError(f"prompt file {self.path}: line {lineno} is not valid JSON ({err.msg}, "
                                f"column {err.colno}); fix or delete that line") from None
            out += self._record_texts(record, f"line {lineno}", self._fields(_DEFAULT_FIELDS))
        return out

    def _read_json(self) -> list[str]:
        try:
            data = json.loads(self._read_text())
        except json.JSONDecodeError as err:
            raise UserError(f"prompt file {self.path}: malformed JSON at line {err.lineno}, column "
                            f"{err.colno} ({err.msg}); fix the file (a truncated download?)") from None
        if not isinstance(data, list):
            raise UserError(f"prompt file {self.path}: expected a JSON list of records or strings at the top, "
                            f"got {type(data).__name__}; use a CUHK-PEDES/ICFG-PEDES/RSTPReid file or .jsonl")
        out: list[str] = []
        fields = self._fields(_JSON_FIELDS)
        for i, record in enumerate(data):
            out += self._record_texts(record, _json_record_name(i, record), fields)
        return out

    def _read_parquet(self) -> list[str]:
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            schema = pq.read_schema(self.path)
        except (OSError, ValueError, pa.ArrowException) as err:
            raise UserError(f"prompt file {self.path} is not a readable parquet file ({err}); "
                            "rewrite it or use .txt / .jsonl") from None
        column = next((f for f in self._fields(_DEFAULT_FIELDS) if f in schema.names), None)
        if column is None:
            raise UserError(f"prompt file {self.path} has no {' or '.join(map(repr, self._fields(_DEFAULT_FIELDS)))}"
                            f" column (columns: {', '.join(schema.names)}); {_FIX_FIELD}")
        values = pq.read_table(self.path, columns=[column]).column(column).to_pylist()
        out: list[str] = []
        for row, value in enumerate(values):
            out += _as_texts(value, lambda row=row, value=value: (
                f"prompt file {self.path}: row {row} column {column!r} holds {type(value).__name__}, "
                f"not text; {_FIX_FIELD}"))
        return out

    # -- helpers ------------------------------------------------------------------------------
    def _fields(self, defaults: tuple[str, ...]) -> tuple[str, ...]:
        return (self.field,) if self.field else defaults

    def _record_texts(self, record, where: str, fields: tuple[str, ...]) -> list[str]:
        """Texts of one JSON/JSONL record: a string, or the first of `fields` present in a mapping."""
        if isinstance(record, str):
            return [record]
        key = next((f for f in fields if f in record), None) if isinstance(record, dict) else None
        if key is None:
            wanted = " or ".join(repr(f) for f in fields)
            raise UserError(f"prompt file {self.path}: {where} has no {wanted} field; add it, or {_FIX_FIELD}")
        return _as_texts(record[key], lambda: f"prompt file {self.path}: {where} field {key!r} holds "
                                              f"{type(record[key]).__name__}, not text or a list of text; fix it")


def _as_texts(value, message) -> list[str]:
    """A value of a caption field as texts: null -> none, str -> one, list of str -> each."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) or v is None for v in value):
        return [v for v in value if v]
    raise UserError(message())


def _json_record_name(i: int, record) -> str:
    """'record 12 (file_path CUHK01/0363004.png)': what a user can search for in the file."""
    if isinstance(record, dict):
        for key in ("file_path", "img_path", "image", "id", "image_id"):
            if key in record:
                return f"record {i} ({key} {record[key]})"
    return f"record {i}"
