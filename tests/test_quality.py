"""ruff and mypy stay clean: the project's own promise, checked where the tools are installed."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed (pip install "
                                                          "-e '.[test]')")
def test_ruff_clean() -> None:
    result = subprocess.run(["ruff", "check", "plugin", "scanners", "tests", "bench"], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_clean() -> None:
    pytest.importorskip("mypy", reason="mypy not installed (pip install -e '.[test]')")
    result = subprocess.run([sys.executable, "-m", "mypy"], cwd=ROOT, capture_output=True,
                            text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_scanners_never_import_plugin() -> None:
    offenders = [str(p) for p in (ROOT / "scanners").rglob("*.py")
                 if any(line.lstrip().startswith(("import plugin", "from plugin"))
                        for line in p.read_text(encoding="utf-8").splitlines())]
    assert offenders == []
