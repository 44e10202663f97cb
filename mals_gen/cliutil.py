"""Command discovery shared by both command lines (`mals`, `aptm-train`).

Each command is a module of a `commands` package exposing `register(app)`; modules whose name
starts with `_` hold shared options, not commands. Adding a command never edits a cli.py.
"""
from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType


def register_commands(app, package: ModuleType) -> None:
    """Import every command module of `package` (sorted by name) and let it register on `app`."""
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}").register(app)
