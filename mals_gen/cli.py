"""`mals`: the command line. Thin: parse, build the config, call the stage.

Each command lives in its own module under `mals_gen/commands/` exposing `register(app)`;
they are discovered here, so adding a stage never edits this file. Heavy imports (torch,
diffusers, transformers) happen inside the commands, so `mals --help` stays fast.
"""
from __future__ import annotations

import typer

from . import commands
from .cliutil import register_commands
from .errors import user_errors

app = typer.Typer(
    name="mals",
    help="Build a MALS-style text-based person retrieval dataset: "
         "generate -> caption -> attrs -> filter -> shard (or `mals run PRESET.yaml` for all).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """Keeps `mals` a group of commands even while only one is registered."""


register_commands(app, commands)


def main() -> None:
    with user_errors("mals"):
        app()


if __name__ == "__main__":
    main()
