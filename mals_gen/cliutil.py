"""What both command lines (`mals`, `aptm-train`) share: the app, command discovery and the run.

Each command is a module of a `commands` package exposing `register(app)`; modules whose name
starts with `_` hold shared options, not commands. Adding a command never edits a cli.py.
`build_app` gives both programs the same root options (`--version`, shell completion) and
`run_app` the same error style: a usage error is one line, like every `UserError`.
"""
from __future__ import annotations

import importlib
import pkgutil
import sys
from importlib import metadata
from types import ModuleType

import typer
from typer import core as typer_core

DISTRIBUTION = "mals-aptm"  # the name in pyproject.toml


def version() -> str:
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:  # a source tree that was never pip-installed
        return "unknown (not installed)"


def _flag_type(self, ctx):
    """No `<bool>` placeholder after a flag in --help: a flag takes no value."""
    if getattr(self, "is_flag", False) and self.metavar is None:
        return None
    return _TYPED_DISPLAY(self, ctx)


# Typer 0.29 prints its type label (`<bool>`) after every option, flags included, which reads as
# if `--dry-run` took a value. Patched once here, for both programs, until Typer fixes it.
_TYPED_DISPLAY = typer_core.TyperOption.display_type_rich
if _TYPED_DISPLAY is not _flag_type:
    typer_core.TyperOption.display_type_rich = _flag_type


def build_app(name: str, help_text: str) -> typer.Typer:
    """The root Typer app of one program, with `--version` and `--install-completion`."""
    app = typer.Typer(name=name, help=help_text, no_args_is_help=True, add_completion=True,
                      pretty_exceptions_enable=False)

    def show_version(value: bool) -> None:
        if value:
            typer.echo(f"{name} {version()}")
            raise typer.Exit()

    @app.callback()
    def _root(_version: bool = typer.Option(False, "--version", is_eager=True, callback=show_version,
                                            help="Print the version and exit.")) -> None:
        """Keeps the program a group of commands and holds the root options."""

    return app


def register_commands(app, package: ModuleType) -> None:
    """Import every command module of `package` (sorted by name) and let it register on `app`."""
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda m: m.name):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}").register(app)


def run_app(app: typer.Typer, program: str, args: list[str] | None = None) -> None:
    """Run the app; a usage error (missing option, bad value) is one line and exit 2."""
    from typer._click import exceptions as click_errors

    command = typer.main.get_command(app)
    try:
        code = command.main(args, prog_name=program, standalone_mode=False)
    except click_errors.NoArgsIsHelpError as err:  # the help was printed already
        raise SystemExit(err.exit_code) from None
    except click_errors.UsageError as err:
        where = err.ctx.command_path if err.ctx is not None else program
        print(f"{program}: error: {where}: {err.format_message()} (see `{where} --help`)", file=sys.stderr)
        raise SystemExit(2) from None
    except click_errors.ClickException as err:
        print(f"{program}: error: {err.format_message()}", file=sys.stderr)
        raise SystemExit(err.exit_code) from None
    except typer.Abort:
        print(f"{program}: aborted", file=sys.stderr)
        raise SystemExit(1) from None
    raise SystemExit(code if isinstance(code, int) else 0)
