"""The deployment files in deploy/: the systemd unit set passes `systemd-analyze verify`
(skipped without it) and names only real entityscan commands and options; the compose file
is well-formed (docker does not run here, so its syntax and structure are checked, not run)."""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from entityscan.cli import main

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
SYSTEMD = shutil.which("systemd-analyze")


def exec_start(unit: Path) -> list[str]:
    (line,) = [x for x in unit.read_text().splitlines() if x.startswith("ExecStart=")]
    return shlex.split(line.removeprefix("ExecStart="))


@pytest.mark.parametrize("unit", sorted((DEPLOY / "systemd").glob("*.service")),
                         ids=lambda p: p.name)
def test_each_unit_runs_a_real_command_line(unit: Path, capsys: pytest.CaptureFixture[str]
                                            ) -> None:
    argv = exec_start(unit)
    assert argv[0].endswith("/entityscan")
    # every option the unit passes is accepted by the command (its --help parses them)
    assert main([*argv[1:], "--help"]) == 0, capsys.readouterr().err
    assert "UMask=0077" in unit.read_text() and "NoNewPrivileges=yes" in unit.read_text()


@pytest.mark.skipif(SYSTEMD is None, reason="systemd-analyze is not installed")
def test_the_unit_set_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    binary = Path(sys.executable).with_name("entityscan")
    for source in (DEPLOY / "systemd").iterdir():
        text = source.read_text().replace("/usr/local/bin/entityscan", str(binary))
        (tmp_path / source.name).write_text(text)
    units = sorted(str(p) for p in tmp_path.iterdir())
    result = subprocess.run([SYSTEMD or "systemd-analyze", "verify", "--man=no", *units],
                            capture_output=True, text=True, timeout=60, check=False)
    problems = [line for line in result.stderr.splitlines()
                if line.strip() and "/entityscan" not in line.split(":")[0]]
    assert result.returncode == 0 and problems == [], result.stderr


def test_the_compose_file_is_well_formed() -> None:
    compose = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"db", "entityscan"}
    app = services["entityscan"]
    assert app["depends_on"]["db"]["condition"] == "service_healthy"
    assert services["db"]["healthcheck"]["test"][0] == "CMD-SHELL"
    assert app["build"]["dockerfile"] == "deploy/Dockerfile"
    assert (DEPLOY.parent / app["build"]["dockerfile"]).exists()
    assert app["environment"]["ENTITYSCAN_DB"].startswith("postgresql+psycopg://")
    assert app["command"][:2] == ["entityscan", "serve"] and "--workers" in app["command"]
    assert all(p.startswith("127.0.0.1:") for p in app["ports"])  # not open to the network
    assert set(compose["volumes"]) == {"db-data", "service-data"}
    assert main([*app["command"][1:], "--help"]) == 0
