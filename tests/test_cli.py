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


def _commands(app):
    import typer.main

    group = typer.main.get_command(app)
    return {name: cmd for name, cmd in group.commands.items()}


def test_one_vocabulary_out_and_config(program):
    """Every --out also answers to -o; --config is a YAML file in both; aptm-train sizes are --model-size."""
    name, app = program
    commands = _commands(app)
    outs = 0
    for cmd_name, cmd in commands.items():
        for param in cmd.params:
            if "--out" in param.opts:
                outs += 1
                assert "-o" in param.opts, f"{name} {cmd_name}: --out without -o"
            if "--config" in param.opts:
                assert "YAML" in (param.help or ""), f"{name} {cmd_name}: --config is not a YAML file"
            assert "--config-file" not in param.opts
    assert outs >= 3
    if name == "aptm-train":
        for cmd_name in ("pretrain", "finetune"):
            assert any("--model-size" in p.opts for p in commands[cmd_name].params)


def test_old_model_size_spelling_gets_a_one_line_hint(tmp_path, capsys):
    from aptm_train.cli import app
    from mals_gen.errors import user_errors

    with pytest.raises(SystemExit) as exit_info, user_errors("aptm-train"):
        run_app(app, "aptm-train", ["pretrain", "--shards", str(tmp_path), "-o", str(tmp_path / "r"),
                                    "--config", "aptm-tiny"])
    code, err = exit_info.value.code, capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1
    assert "--model-size aptm-tiny" in err
