"""`mals compare RUN_A RUN_B`: the caption diversity of two runs side by side (text table, optional HTML)."""
from __future__ import annotations

from pathlib import Path

from ..fsutil import write_bytes_atomic
from .report import COLUMNS, fmt, table_html


def compare_runs(run_a: str | Path, run_b: str | Path, encoder="bundled") -> list[tuple[str, dict]]:
    """(label, measures) rows: each run's overall measures, then each run's captioners."""
    from .run import default_encoder, measure_run

    if encoder == "bundled":
        encoder = default_encoder()
    rows: list[tuple[str, dict]] = []
    for run in (Path(run_a), Path(run_b)):
        measured = measure_run(run, encoder)
        rows.append((f"{run.name}", measured["overall"]))
        if len(measured["by_captioner"]) > 1:
            rows += [(f"{run.name} / {name}", m) for name, m in measured["by_captioner"].items()]
    return rows


def text_table(rows: list[tuple[str, dict]]) -> str:
    """A plain text table: one line per measure, one column per row label."""
    labels = [label for label, _ in rows]
    width = max(22, *(len(label) + 2 for label in labels))
    lines = ["".ljust(24) + "".join(label.rjust(width) for label in labels)]
    for key, title, pattern in COLUMNS:
        lines.append(title.ljust(24) + "".join(fmt(m.get(key), pattern).rjust(width) for _, m in rows))
    return "\n".join(lines)


def write_html(rows: list[tuple[str, dict]], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    page = (f'<!doctype html><html><head><meta charset="utf-8"><title>caption diversity</title></head><body>'
            f"<h1>Caption diversity</h1>{table_html(rows)}</body></html>")
    write_bytes_atomic(path, page.encode())
    return path
