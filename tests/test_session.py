"""One run, one plugin manager: what `Session` promises every face."""

from __future__ import annotations

from pathlib import Path

import pytest

from entityscan.cli import main
from entityscan.session import Session


def test_one_plugin_manager_serves_the_whole_run(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENTITYSCAN_DATA_DIR", str(tmp_path))
    with Session.open() as session:
        first = session.context()
        assert session.context() is first  # built once
        rebuilt = session.load_context()  # what the service does when the lists change
        assert rebuilt is not first
        assert rebuilt.hooks is first.hooks is session.hooks
        assert session.lists().content_hash == first.lists.content_hash


def test_commands_that_never_screen_do_not_load_plugins(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]
                                                        ) -> None:
    monkeypatch.setenv("ENTITYSCAN_PLUGINS", "no_such_entityscan_plugin")
    db = f"sqlite:///{tmp_path / 'tokens.db'}"
    assert main(["tokens", "list", "--db", db, "--format", "json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"
    assert main(["screen", "--sample"]) == 2
    assert "plugin module 'no_such_entityscan_plugin' cannot be imported" in \
        capsys.readouterr().err.replace("\n", " ")
