"""Both command lines: help without type placeholders on flags, --version, one-line usage errors."""
from __future__ import annotations

import pytest

from mals_gen.cliutil import run_app, version


@pytest.fixture(params=["mals", "aptm-train"])
def program(request):
    if request.param == "mals":
        from mals_gen.cli import app
    else:
        from aptm_train.cli import app
    return request.param, app


def _run(app, name, args, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exit_info:
        run_app(app, name, args)
    out = capsys.readouterr()
    return exit_info.value.code, out.out, out.err


def test_version_and_completion_options(program, capsys):
    name, app = program
    code, out, _ = _run(app, name, ["--version"], capsys)
    assert code == 0 and out.strip() == f"{name} {version()}" and version()[0].isdigit()
    code, out, _ = _run(app, name, ["--help"], capsys)
    assert code == 0 and "--install-completion" in out and "--version" in out


def test_flags_show_no_type_placeholder(program, capsys):
    name, app = program
    command = "shard" if name == "mals" else "eval"
    code, out, _ = _run(app, name, [command, "--help"], capsys)
    assert code == 0
    assert "--no-progress" in out and "<bool>" not in out
    assert "<int>" in out or "<path>" in out  # options that take a value keep their type


def test_usage_errors_are_one_line(program, capsys):
    name, app = program
    command = "shard" if name == "mals" else "eval"
    code, out, err = _run(app, name, [command], capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1
    assert err.startswith(f"{name}: error: {name} {command}: Missing ") and f"`{name} {command} --help`" in err
    code, _, err = _run(app, name, ["no-such-command"], capsys)
    assert code == 2 and "No such command 'no-such-command'" in err and len(err.strip().splitlines()) == 1


def test_exit_codes_of_commands_pass_through(capsys, tmp_path):
    from mals_gen.cli import app

    code, _, _ = _run(app, "mals", ["verify", str(tmp_path)], capsys)  # an empty folder is not sound
    assert code == 1
