"""Per-part locks, so two processes never work on the same part of a stage at once.

A lock is `fcntl.flock` on `part-NNNNN.lock` beside the part's done marker, holding the holder's
pid and host. The kernel releases it when the holder exits, however it exits (`kill -9` included),
so a stale lock file never blocks a rerun; a release deletes the file. A process that cannot take a part's lock skips that part (another live process is on it).
`flock` also works across NFS clients on Linux; on systems without `fcntl` every lock is granted.
"""
from __future__ import annotations

import json
import os
import socket
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no locking, one process per run folder is the user's job
    fcntl = None

LOCK_SUFFIX = ".lock"


class PartLock:
    """`lock = PartLock(path); if lock.acquire(): ... lock.release()`; never blocks."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = None

    def acquire(self) -> bool:
        """Take the lock now, or return False when another live process holds it."""
        while True:
            handle = open(self.path, "a+")  # noqa: SIM115 - stays open while the lock is held
            if fcntl is None:
                break
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.close()
                return False
            if _same_file(handle, self.path):
                break
            handle.close()  # the holder deleted the file as we opened it: lock the new one
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps({"pid": os.getpid(), "host": socket.gethostname()}) + "\n")
        handle.flush()
        self._file = handle
        return True

    def holder(self) -> str:
        """Who holds the lock, as `pid N on host H` (read from the lock file)."""
        try:
            info = json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            info = {}
        return f"pid {info.get('pid', '?')} on host {info.get('host', '?')}"

    def release(self) -> None:
        """Delete the lock file and give the lock up (deleting first is safe: `acquire` checks
        that the file it locked is still the one at the path)."""
        if self._file is None:
            return
        self.path.unlink(missing_ok=True)
        self._file.close()  # closing the file releases the flock
        self._file = None


def _same_file(handle, path: Path) -> bool:
    try:
        held, now = os.fstat(handle.fileno()), os.stat(path)
    except FileNotFoundError:
        return False
    return (held.st_dev, held.st_ino) == (now.st_dev, now.st_ino)


class PartClaims:
    """Iterate over the parts this process holds the lock of, skipping the others.

    `for part in claims:` takes each part's lock before yielding it and releases it when the loop
    moves on (or on `close()`), so the loop body runs with the lock held. A part another live
    process holds is counted in `busy`; one finished meanwhile (its done marker appeared before we
    got the lock) in `done_meanwhile`.
    """

    def __init__(self, parts, lock_path, is_done):
        self.parts, self.lock_path, self.is_done = list(parts), lock_path, is_done
        self.busy: list[PartLock] = []
        self.done_meanwhile = 0
        self._iter = None

    def __iter__(self):
        self._iter = self._claim()
        return self._iter

    def _claim(self):
        for part in self.parts:
            lock = PartLock(self.lock_path(part))
            if not lock.acquire():
                self.busy.append(lock)
                continue
            try:
                if self.is_done(part):
                    self.done_meanwhile += 1
                else:
                    yield part
            finally:
                lock.release()

    def close(self) -> None:
        if self._iter is not None:
            self._iter.close()

    def all_busy_line(self, stage: str) -> str | None:
        """The one line to exit with when every part left to do is held by another process."""
        if not self.busy or len(self.busy) != len(self.parts):
            return None
        return (f"{stage}: all {len(self.busy)} part(s) left to do are being worked on by another process "
                f"({self.busy[0].holder()} holds {self.busy[0].path}); wait for it, or stop it and rerun")
