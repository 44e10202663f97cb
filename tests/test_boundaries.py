"""Package boundary: aptm_train imports only the small shared modules of mals_gen (the data contract
and dependency-light helpers: config loading, user errors, atomic writes, contact sheets,
command discovery, EDA, streaming tar reads), never
a pipeline stage; mals_gen never imports aptm_train. Imports are read with `ast`, so lazy imports
inside functions count too."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# Shared rather than copied: one atomic-write, contact-sheet, command-discovery and EDA helper for both tools.
ALLOWED = {"mals_gen.contract", "mals_gen.config", "mals_gen.errors", "mals_gen.fsutil",
           "mals_gen.contact_sheet", "mals_gen.cliutil", "mals_gen.eda", "mals_gen.wordnet",
           "mals_gen.tarstream"}


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "mals_gen":      # `from mals_gen import contract` -> mals_gen.contract
                found += [f"mals_gen.{a.name}" for a in node.names]
            else:
                found.append(node.module)
    return found


def _violations(package: str, check) -> list[str]:
    return [f"{p.relative_to(REPO)}: {name}" for p in sorted((REPO / package).rglob("*.py"))
            for name in _imports(p) if check(name)]


def test_aptm_train_imports_only_the_contract_modules():
    bad = _violations("aptm_train", lambda n: (n == "mals_gen" or n.startswith("mals_gen."))
                      and n not in ALLOWED)
    assert bad == []


def test_mals_gen_never_imports_aptm_train():
    assert _violations("mals_gen", lambda n: n == "aptm_train" or n.startswith("aptm_train.")) == []


def test_the_check_sees_lazy_imports(tmp_path):
    f = tmp_path / "m.py"
    f.write_text("def f():\n    from mals_gen.runner import run_stage\n    import mals_gen.fsutil\n")
    assert _imports(f) == ["mals_gen.runner", "mals_gen.fsutil"]
    assert "mals_gen.runner" not in ALLOWED
