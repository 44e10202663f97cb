"""`aptm-train`: the command line. Thin: parse, build the config, call the function.

Each command lives in its own module under `aptm_train/commands/` exposing `register(app)`;
they are discovered here, so adding a command never edits this file. Heavy imports (torch,
transformers) happen inside the commands, so `aptm-train --help` stays fast.
"""
from __future__ import annotations

from mals_gen.cliutil import build_app, register_commands, run_app
from mals_gen.errors import user_errors

from . import commands

app = build_app("aptm-train", "Train, evaluate and search with APTM on MALS-style shards "
                              "(pretrain, finetune, eval, search, embed, convert).")
register_commands(app, commands)


def main() -> None:
    with user_errors("aptm-train"):
        run_app(app, "aptm-train")


if __name__ == "__main__":
    main()
