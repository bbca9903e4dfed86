"""The layout and the import rules (ARCHITECTURE.md): checked here as well as in CI, so a
change that breaks them fails the quick test run."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
KINDS = {"core", "domain", "formats", "runtime", "outlets", "ops", "i18n", "botapi"}


def test_bot_keeps_at_most_six_modules_of_its_own():
    own = sorted(p.name for p in (ROOT / "bot").glob("*.py"))
    assert len(own) <= 6, own
    assert "app.py" in own  # the one composition root


def test_every_other_module_of_bot_is_in_a_sub_package_named_for_its_kind():
    packages = {p.name for p in (ROOT / "bot").iterdir() if p.is_dir() and p.name != "__pycache__"}
    assert packages <= KINDS, packages - KINDS
    for package in packages:
        assert (ROOT / "bot" / package / "__init__.py").exists(), package


def test_the_import_contract_holds():
    linter = Path(sys.executable).parent / "lint-imports"
    command = [str(linter)] if linter.exists() else [sys.executable, "-m", "importlinter.cli"]
    done = subprocess.run(
        [*command, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "BROKEN" not in done.stdout
    assert "ignore_imports" not in (ROOT / "pyproject.toml").read_text()


def _undocumented(package: str) -> list[str]:
    missing = []
    for path in sorted((ROOT / "bot" / package).glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))

        def walk(body: list[ast.stmt], prefix: str, path: Path = path) -> None:
            for node in body:
                public = not node.name.startswith("_") if hasattr(node, "name") else False
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and public:
                    if not ast.get_docstring(node):
                        missing.append(f"{path.name}:{prefix}{node.name}")
                elif isinstance(node, ast.ClassDef) and public:
                    walk(node.body, f"{prefix}{node.name}.")

        walk(tree.body, "")
    return missing


def test_every_public_function_of_the_domain_and_core_has_a_docstring():
    assert _undocumented("domain") == []
    assert _undocumented("core") == []


def test_every_module_of_bot_handlers_and_storage_says_what_it_holds():
    for package in ("bot", "handlers", "storage"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.name in ("__main__.py",) or (
                path.name == "__init__.py" and path.parent.name in ("bot", "storage")
            ):
                continue
            assert ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))), path
