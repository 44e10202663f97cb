"""`aptm-train`: the command line. Thin: parse, build the config, call the function.

Each command lives in its own module under `aptm_train/commands/` exposing `register(app)`;
they are discovered here, so adding a command never edits this file. Heavy imports (torch,
transformers) happen inside the commands, so `aptm-train --help` stays fast.
"""
from __future__ import annotations

import typer

from mals_gen.cliutil import register_commands
from mals_gen.errors import user_errors

from . import commands

app = typer.Typer(
    name="aptm-train",
    help="Train, evaluate and search with APTM on MALS-style shards "
         "(pretrain, finetune, eval, search, convert).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

register_commands(app, commands)


def main() -> None:
    with user_errors("aptm-train"):
        app()


if __name__ == "__main__":
    main()
