"""A process pool whose workers die with their parent.

`ProcessPoolExecutor` workers block on the call queue's pipe; when the parent is killed
(`kill -9`) nothing closes that pipe's write end (the workers hold it too), so they would wait on
it for good. Each worker here asks the kernel for SIGKILL when its parent dies (Linux
`prctl(PR_SET_PDEATHSIG)`) and, as a portable fallback, polls its parent pid twice a second.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

_PR_SET_PDEATHSIG = 1
_POLL_S = 0.5


def _die_with(parent_pid: int) -> None:
    """Worker initializer: exit as soon as `parent_pid` is no longer our parent."""
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # no libc prctl: the poll below still works
            pass
    if os.getppid() != parent_pid:  # the parent died before we got here
        os._exit(1)

    def poll() -> None:
        while os.getppid() == parent_pid:
            time.sleep(_POLL_S)
        os._exit(1)  # no cleanup: the parent that would collect our results is gone

    threading.Thread(target=poll, name="parent-watch", daemon=True).start()


def orphan_proof_pool(workers: int) -> ProcessPoolExecutor:
    """A spawn-context pool of `workers` processes that exit when this process dies."""
    return ProcessPoolExecutor(workers, mp_context=get_context("spawn"), initializer=_die_with,
                               initargs=(os.getpid(),))
