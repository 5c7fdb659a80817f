"""ruff, mypy and the dead-code check stay clean; the import rules of the layout hold.

Every tool runs through this interpreter (`python -m ruff`), so a missing tool is an install
error (`pip install -e '.[test]'`), never a skip.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("plugin", "scanners", "tests", "bench")


def _run(*argv: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], cwd=cwd, capture_output=True,
                          text=True, check=False)


def test_ruff_clean() -> None:
    result = _run("ruff", "check", *SOURCE_DIRS)
    assert result.returncode == 0, result.stdout + result.stderr


def package_tree(where: Path) -> Path:
    """A tree of links shaped like the installed package (`entityscan/` = plugin/,
    `entityscan/scanners/` = scanners/), for tools that cannot follow setuptools' package-dir
    mapping of an editable install (mypy)."""
    top = where / "entityscan"
    top.mkdir()
    for entry in (ROOT / "plugin").iterdir():
        if entry.name != "__pycache__":
            (top / entry.name).symlink_to(entry)
    (top / "scanners").symlink_to(ROOT / "scanners")
    return top


def test_mypy_clean(tmp_path: Path) -> None:
    package_tree(tmp_path)
    result = _run("mypy", "--config-file", str(ROOT / "pyproject.toml"),
                  "--cache-dir", str(tmp_path / ".mypy_cache"), "-p", "entityscan",
                  cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success" in result.stdout, result.stdout


def test_no_dead_code() -> None:
    """vulture finds no unused function, class, method, attribute or variable (settings in
    pyproject.toml; names only frameworks use, in `tests/vulture_whitelist.py`)."""
    result = _run("vulture")
    assert result.returncode == 0, result.stdout + result.stderr


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def _python_files(*folders: str) -> list[Path]:
    return [p for folder in folders for p in (ROOT / folder).rglob("*.py")
            if "__pycache__" not in p.parts]


def test_scanners_never_import_the_rest() -> None:
    offenders = [f"{p.relative_to(ROOT)}:{line}: {name}"
                 for p in _python_files("scanners") for line, name in _imports(p)
                 if (name == "entityscan" or name.startswith("entityscan."))
                 and not (name == "entityscan.scanners" or name.startswith("entityscan.scanners."))]
    assert offenders == []


def test_everything_imports_the_one_entityscan_namespace() -> None:
    """`plugin` and `scanners` are folders, not import names: importing them would load a
    second copy of the product beside the installed `entityscan`."""
    offenders = [f"{p.relative_to(ROOT)}:{line}: {name}"
                 for p in _python_files(*SOURCE_DIRS) for line, name in _imports(p)
                 if name.split(".")[0] in ("plugin", "scanners", "fixtures")]
    assert offenders == []


def test_commands_only_parse_and_render() -> None:
    """A command module imports no other command (shared work lives in the application layer:
    `entityscan.session`, `entityscan.operations`, `entityscan.terminal`)."""
    offenders = [f"{p.relative_to(ROOT)}:{line}: {name}"
                 for p in _python_files("plugin/commands") for line, name in _imports(p)
                 if name.startswith("entityscan.commands.")]
    assert offenders == []


def test_the_layout_rule_is_checked_on_a_real_offender(tmp_path: Path) -> None:
    """The import checks above parse code; prove the parser sees a nested, indented import."""
    offender = tmp_path / "bad.py"
    offender.write_text("def f():\n    from entityscan.store import Store\n    return Store\n")
    assert (2, "entityscan.store") in _imports(offender)


def test_modules_hold_one_idea() -> None:
    """No product module outside data and the simulated lab runs past about 450 lines."""
    limit = 470
    long = {str(p.relative_to(ROOT)): n for p in _python_files("plugin", "scanners")
            if "lab" not in p.relative_to(ROOT).parts
            and (n := len(p.read_text(encoding="utf-8").splitlines())) > limit}
    assert long == {}


def test_no_file_points_outside_the_repository() -> None:
    """Facts the product relies on are copied in with their public source; nothing refers to
    reference notes that live outside the repository, by path or by their file names (a
    `source:` that names a note reaches users' reports, where it means nothing)."""
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    notes = ("shared" + "/", "device-signals" + ".md", "brands" + ".md",
             "restricted-lists" + ".md", "test-lab" + ".md")
    offenders = sorted({name for name in tracked if os.path.isfile(ROOT / name)
                        for note in notes
                        if note in (ROOT / name).read_text(encoding="utf-8", errors="replace")})
    assert offenders == []
