"""Run logging on the main process: a tqdm bar with ETA, RUN/log.jsonl and TensorBoard (RUN/tb).

Every `log_every` optimiser steps one record: step, epoch, each loss component (averaged over the
steps since the last record), learning rate, samples/s, and the data wait: seconds a batch took to
arrive (reading, decoding, collate) per batch (`data_wait_s`) and as a share of the wall time
(`data_wait_share`), so a step that waits for data shows in the log. Validation records go to the
same files.
"""
from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path


class RunLogger:
    def __init__(self, run: Path, total_steps: int, start_step: int, enabled: bool, tensorboard: bool = True,
                 progress: bool = True):
        self.enabled = enabled
        self.sums: dict[str, float] = defaultdict(float)
        self.counts: dict[str, int] = defaultdict(int)   # per loss: a loss may join mid-window (itm_start)
        self.count = 0
        self.samples = 0
        self.wait = 0.0
        self.t0 = time.perf_counter()
        self.bar = self.tb = self.jsonl = None
        if not enabled:
            return
        if progress:
            from tqdm import tqdm
            self.bar = tqdm(total=total_steps, initial=start_step, desc="train", unit="step", dynamic_ncols=True)
        self.jsonl = open(run / "log.jsonl", "a", encoding="utf-8")  # noqa: SIM115 (closed in close())
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter
            self.tb = SummaryWriter(str(run / "tb"))

    def accumulate(self, losses: dict[str, float], samples: int) -> None:
        for k, v in losses.items():
            self.sums[k] += v
            self.counts[k] += 1
        self.count += 1
        self.samples += samples

    def waited(self, seconds: float) -> None:
        """Time the loop spent waiting for one batch."""
        self.wait += seconds

    def step(self, step: int) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def flush(self, step: int, epoch: int, lr: float, extra: dict | None = None) -> dict | None:
        """Write one averaged record; returns it (None when nothing was accumulated)."""
        if not self.count:
            return None
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        record = {"step": step, "epoch": epoch, "lr": lr, "samples_per_s": round(self.samples / elapsed, 2)}
        record |= {"data_wait_s": round(self.wait / self.count, 4), "data_wait_share": round(self.wait / elapsed, 4)}
        record |= {k: round(v / self.counts[k], 6) for k, v in sorted(self.sums.items())}
        record |= extra or {}
        self.sums.clear()
        self.counts.clear()
        self.count, self.samples, self.wait, self.t0 = 0, 0, 0.0, time.perf_counter()
        self.write(record)
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{record.get('loss', 0):.4f}", lr=f"{lr:.2e}",
                                 sps=f"{record['samples_per_s']:.1f}")
        return record

    def write(self, record: dict) -> None:
        if not self.enabled:
            return
        self.jsonl.write(json.dumps(record) + "\n")
        self.jsonl.flush()
        if self.tb is not None:
            for k, v in record.items():
                if k not in ("step", "epoch") and isinstance(v, (int, float)):
                    self.tb.add_scalar(k, v, record["step"])

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        if self.jsonl is not None:
            self.jsonl.close()
        if self.tb is not None:
            self.tb.close()


def timed(items: Iterable, report: Callable[[float], None]) -> Iterator:
    """Yield `items`, reporting the seconds each one took to arrive."""
    it = iter(items)
    while True:
        start = time.perf_counter()
        try:
            item = next(it)
        except StopIteration:
            return
        report(time.perf_counter() - start)
        yield item
