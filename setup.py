"""Compiled part of the install: the attribute miner's pass (mals_gen/attrs/scan.py) built by mypyc.

Everything else is in pyproject.toml. The extension is optional: where mypyc or a C compiler is
missing, or MALS_PURE_PYTHON=1 is set, the install goes on and the same scan.py runs as plain
Python (slower, same labels).
"""
import os
import sys

from setuptools import setup
from setuptools.command.build_ext import build_ext


class _BuildExt(build_ext):
    """build_ext that stamps a build kept beside scan.py (editable install) with the install's time.

    mals_gen/attrs/miner.py takes a build older than scan.py for a stale one; the in-place copy
    would otherwise keep the time of the compile (or of an earlier one, where it was up to date)."""

    def build_extension(self, ext):
        super().build_extension(ext)
        self._done = [*getattr(self, "_done", []), ext.name]  # built or up to date: not on a failure

    def run(self):
        super().run()
        if self.inplace or getattr(self, "editable_mode", False):
            for name in getattr(self, "_done", []):
                path = os.path.join(*name.split(".")[:-1], os.path.basename(self.get_ext_filename(name)))
                if os.path.exists(path):
                    os.utime(path)


def _ext_modules() -> list:
    if os.environ.get("MALS_PURE_PYTHON") == "1":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError as err:
        print(f"note: mypyc not found ({err}); the attribute miner runs as plain Python", file=sys.stderr)
        return []
    # follow-imports=silent: the other modules are read for their types, not compiled or checked
    exts = mypycify(["--follow-imports=silent", "--ignore-missing-imports", "mals_gen/attrs/scan.py"],
                    opt_level="3")
    for ext in exts:
        ext.optional = True  # a failed C build warns and leaves the plain-Python module in use
    return exts


setup(ext_modules=_ext_modules(), cmdclass={"build_ext": _BuildExt})
