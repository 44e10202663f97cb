"""User errors: one clear line naming the thing and the fix, never a traceback.

Raise `UserError` for anything the user can fix (a bad path, a bad value, a wrong format).
The CLIs catch it and print one line; set `MALS_DEBUG=1` to see the traceback instead.
"""
from __future__ import annotations

import os
import sys
from contextlib import contextmanager


class UserError(Exception):
    """An input problem the user can fix; the message is the whole report."""


def debug_enabled() -> bool:
    return os.environ.get("MALS_DEBUG", "") not in ("", "0")


@contextmanager
def user_errors(program: str):
    """Turn `UserError` (and a few obvious user-side OS errors) into `program: error: ...` + exit 2."""
    try:
        yield
    except UserError as err:
        if debug_enabled():
            raise
        print(f"{program}: error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print(f"{program}: interrupted; rerun the same command to resume", file=sys.stderr)
        raise SystemExit(130) from None
