"""What a stage prints when it ends: one line for logs, a small table for people.

The runner fills a `StageSummary`: what this rank did now (parts, samples, seconds) and the totals
summed over every rank's done markers (`totals`). With several ranks both are labelled, so a total
is never mistaken for this rank's work.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

# counters that are bookkeeping, not results
_HIDDEN = {"parts_done", "samples", "seconds", "part", "dropped", "kept", "ok"}


@dataclass
class StageSummary:
    stage: str
    parts_total: int
    parts_done_now: int = 0
    parts_skipped: int = 0
    parts_waiting: list[int] = field(default_factory=list)
    parts_busy: int = 0          # parts another live process held the lock of (see locks.py)
    samples_now: int = 0
    seconds: float = 0.0
    totals: dict = field(default_factory=dict)
    output: str = ""
    rank: int = 0
    world_size: int = 1

    @property
    def rate(self) -> float:
        return self.samples_now / self.seconds if self.seconds > 0 else 0.0

    @property
    def kept(self) -> int | None:
        value = self.totals.get("kept", self.totals.get("ok"))
        return None if value is None else int(value)

    def dropped(self) -> list[tuple[str, int]]:
        return sorted((self.totals.get("dropped") or {}).items(), key=lambda kv: (-kv[1], kv[0]))

    def measures(self) -> list[tuple[str, str]]:
        """Readable results from the totals: `X_sum` / `X_rows` become a mean, raw sums are hidden."""
        out = []
        for key, value in self.totals.items():
            if key in _HIDDEN or isinstance(value, (dict, list, str)) or key.endswith("_rows"):
                continue
            if key.endswith("_sum"):
                base = key.removesuffix("_sum")
                rows = self.totals.get(f"{base}_rows")
                if rows:
                    out.append((f"mean {base.replace('_', ' ')}", f"{value / rows:.3f}"))
                continue
            out.append((key.replace("_", " "), f"{value:g}" if isinstance(value, float) else str(value)))
        return out

    def _scope(self) -> str:
        return f" (rank {self.rank} of {self.world_size})" if self.world_size > 1 else ""

    def line(self) -> str:
        """One line for logs: this rank's work first, then the results of all ranks."""
        all_ranks = "all ranks: " if self.world_size > 1 else ""
        done = self.totals.get("samples")
        kept = self.kept
        result = ""
        if kept is not None and done is not None:
            result = f"; {all_ranks}kept {kept} of {int(done)}"
        elif kept is not None:
            result = f"; {all_ranks}kept {kept}"
        drops = self.dropped()
        result += ("; dropped " + ", ".join(f"{r} {n}" for r, n in drops)) if drops else ""
        result += "".join(f"; {name} {value}" for name, value in self.measures())
        wait = f"; {len(self.parts_waiting)} part(s) wait for an upstream stage" if self.parts_waiting else ""
        wait += f"; {self.parts_busy} part(s) left to another process" if self.parts_busy else ""
        where = f"; output {self.output}" if self.output else ""
        return (f"{self.stage}{self._scope()}: {self.parts_done_now} part(s) done now, {self.parts_skipped} "
                f"already done of {self.parts_total}; {self.samples_now} samples in {self.seconds:.1f}s "
                f"({self.rate:.1f} samples/s){result}{wait}{where}")

    def table_rows(self) -> list[tuple[str, str, str]]:
        """(what, this rank, all ranks) rows; a blank cell where the number has no such scope."""
        done_all = self.totals.get("samples")
        rows = [("parts done now / already", f"{self.parts_done_now} / {self.parts_skipped}",
                 f"{self.totals.get('parts_done', '')} of {self.parts_total}"),
                ("samples done (this rank: now)", str(self.samples_now), "" if done_all is None else str(int(done_all))),
                ("samples/s", f"{self.rate:.1f}", "")]
        if self.kept is not None:
            rows.append(("kept", "", str(self.kept)))
        rows += [(f"dropped: {reason}", "", str(n)) for reason, n in self.dropped()]
        rows += [(name, "", value) for name, value in self.measures()]
        if self.parts_waiting:
            rows.append(("parts waiting for upstream", str(len(self.parts_waiting)), ""))
        if self.parts_busy:
            rows.append(("parts left to another process", str(self.parts_busy), ""))
        return rows

    def table(self, width: int = 100) -> str:
        """The summary as a small plain-text table (rich, no colour codes)."""
        from rich.console import Console
        from rich.table import Table

        multi = self.world_size > 1
        table = Table(title=f"{self.stage}{self._scope()}", title_justify="left", show_edge=False)
        table.add_column("")
        table.add_column("this rank" if multi else "value", justify="right")
        if multi:
            table.add_column("all ranks", justify="right")
        for what, mine, everyone in self.table_rows():
            table.add_row(what, mine, everyone) if multi else table.add_row(what, mine or everyone)
        buf = io.StringIO()
        console = Console(file=buf, width=width, force_terminal=False, color_system=None)
        console.print(table)
        if self.output:
            console.print(f"output: {self.output}", soft_wrap=True)
        return buf.getvalue().rstrip("\n")

    def render(self, table: bool) -> str:
        """The one line, followed by the table when `table` (a person watching a terminal)."""
        return f"{self.line()}\n{self.table()}" if table else self.line()
