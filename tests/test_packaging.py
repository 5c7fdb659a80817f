"""The wheel: one top-level name (`entityscan`), every module and the run-time data the product
needs, no test data; installed into a fresh virtualenv beside PyPI's `fixtures` it works and
breaks nothing, and uninstalling it leaves `fixtures` whole.

These tests build and install for real (pip reaches the package index, as CI does).
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _run(argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=900, check=False,
                          **kwargs)  # type: ignore[call-overload]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Built from a copy: an in-tree build/ folder left by an older build could leak stale
    # modules into the wheel and hide a missing file.
    source = tmp_path_factory.mktemp("source") / "entityscan"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        ".git", "build", "dist", "*.egg-info", "__pycache__", ".venv", ".*_cache"))
    out = tmp_path_factory.mktemp("wheel")
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out),
                  str(source)])
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = out.glob("entityscan-*.whl")
    return found


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def _tracked(folder: str) -> list[Path]:
    listed = _run(["git", "ls-files", folder], cwd=ROOT)
    assert listed.returncode == 0, listed.stderr
    return [Path(line) for line in listed.stdout.splitlines()]


def test_one_top_level_name_and_no_test_data(wheel: Path) -> None:
    names = _names(wheel)
    assert {n.split("/")[0] for n in names} == {"entityscan", "entityscan-0.1.0.dist-info"}
    fixtures = _tracked("fixtures")
    assert len(fixtures) > 20  # the lists, labelled sets and lsusb captures the tests use
    shipped_fixtures = [n for n in names for f in fixtures
                        if n.endswith("/" + f.relative_to("fixtures").as_posix())]
    assert shipped_fixtures == []
    assert [n for n in names if "/tests/" in n or "corrupt" in n] == []


def test_every_module_and_its_run_time_data_ship(wheel: Path) -> None:
    names = set(_names(wheel))
    wanted = {f"entityscan/{p.relative_to('plugin').as_posix()}" for p in _tracked("plugin")}
    wanted |= {f"entityscan/scanners/{p.relative_to('scanners').as_posix()}"
               for p in _tracked("scanners")}
    assert sorted(wanted - names) == []
    for data in ("entityscan/samples/purchase-order.csv",
                 "entityscan/scanners/lab/device_profiles/hikvision-ipc.yaml",
                 "entityscan/scanners/signatures/sadp.yaml",
                 "entityscan/reports/schemas/entityscan.scan-1.schema.json",
                 "entityscan/lists/bundled/entity_list.yaml"):
        assert data in names


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_installs_beside_pypi_fixtures_and_uninstalls_cleanly(wheel: Path,
                                                              tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    assert _run([sys.executable, "-m", "venv", str(venv)]).returncode == 0
    python, pip = venv / "bin" / "python", [str(venv / "bin" / "python"), "-m", "pip"]
    got = _run([*pip, "install", "-q", "fixtures"])
    assert got.returncode == 0, got.stderr
    where = _run([str(python), "-c", "import fixtures; print(fixtures.__file__)"])
    fixtures_init = Path(where.stdout.strip())
    before = _digest(fixtures_init)

    got = _run([*pip, "install", "-q", str(wheel)])
    assert got.returncode == 0, got.stderr
    both = _run([str(python), "-c",
                 "import fixtures, entityscan; from entityscan import hookimpl, Device;"
                 "fixtures.Fixture; print(entityscan.__file__)"])
    assert both.returncode == 0, both.stderr
    assert "site-packages/entityscan/__init__.py" in both.stdout
    assert _digest(fixtures_init) == before

    # the quick start, from the installed copy alone (run-time data is package data)
    screen = _run([str(venv / "bin" / "entityscan"), "screen", "--sample", "-f", "json"],
                  cwd=tmp_path)
    assert screen.returncode == 1, screen.stderr
    assert json.loads(screen.stdout)["summary"]["flagged"] == 6
    report = tmp_path / "demo.json"
    demo = _run([str(venv / "bin" / "entityscan"), "demo", "--base", "127.40.40.10",
                 "--report", str(report), "-f", "json"], cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    lab = json.loads(report.read_text(encoding="utf-8"))["lab"]
    assert lab["total"] == 27 and lab["correct"] == lab["total"]

    got = _run([*pip, "uninstall", "-y", "-q", "entityscan"])
    assert got.returncode == 0, got.stderr
    assert _digest(fixtures_init) == before
    after = _run([str(python), "-c", "import fixtures; fixtures.Fixture"])
    assert after.returncode == 0, after.stderr
    gone = _run([str(python), "-c", "import entityscan"])
    assert gone.returncode != 0 and "No module named 'entityscan'" in gone.stderr


def test_importing_the_scanners_loads_nothing_else(tmp_path: Path) -> None:
    """`entityscan.scanners` sits inside the `entityscan` package, so importing it runs
    `entityscan/__init__`: that must stay free of the rest of the product."""
    probe = _run([sys.executable, "-c",
                  "import sys, entityscan.scanners.scan, entityscan.scanners.usb, "
                  "entityscan.scanners.lab;"
                  "print(sorted(m for m in sys.modules if m.startswith('entityscan')"
                  " and not m.startswith('entityscan.scanners')))"], cwd=tmp_path)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.strip() == "['entityscan']"
