"""`mals`: the command line. Thin: parse, build the config, call the stage.

Each command lives in its own module under `mals_gen/commands/` exposing `register(app)`;
they are discovered here, so adding a stage never edits this file. Heavy imports (torch,
diffusers, transformers) happen inside the commands, so `mals --help` stays fast.
"""
from __future__ import annotations

from . import commands
from .cliutil import build_app, register_commands, run_app
from .errors import user_errors

app = build_app("mals", "Build a MALS-style text-based person retrieval dataset: "
                        "generate -> caption -> attrs -> filter -> shard (or `mals run PRESET.yaml` for all).")
register_commands(app, commands)


def main() -> None:
    with user_errors("mals"):
        run_app(app, "mals")


if __name__ == "__main__":
    main()
