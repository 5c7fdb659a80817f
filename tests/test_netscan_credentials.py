"""Credentials file: format, most-specific match, permission check, never shown."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from entityscan.scanners.credentials import Credentials, CredentialsError


def write(path: Path, text: str, mode: int = 0o600) -> Path:
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_most_specific_line_wins(tmp_path: Path) -> None:
    creds = Credentials.load(write(tmp_path / "c", (
        "# site credentials\n\n* viewer s3cret-any\n10.0.0.0/24 ops s3cret-net\n"
        "10.0.0.7 admin 'pass with spaces'\n")))
    assert creds.for_address("10.0.0.7").pair == ("admin", "'pass with spaces'")
    assert creds.for_address("10.0.0.8").pair == ("ops", "s3cret-net")
    assert creds.for_address("192.0.2.1").pair == ("viewer", "s3cret-any")
    assert Credentials.parse("10.0.0.0/24 a b").for_address("10.0.1.1") is None
    assert sorted(creds.secrets()) == ["'pass with spaces'", "s3cret-any", "s3cret-net"]


def test_passwords_never_in_repr_or_str(tmp_path: Path) -> None:
    creds = Credentials.load(write(tmp_path / "c", "10.0.0.7 admin hunter2-secret\n"))
    entry = creds.for_address("10.0.0.7")
    for text in (repr(creds), repr(entry), str(entry), repr(creds.entries)):
        assert "hunter2-secret" not in text


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644, 0o660])
def test_group_or_other_readable_file_refused(tmp_path: Path, mode: int) -> None:
    path = write(tmp_path / "c", "* admin hunter2-secret\n", mode)
    with pytest.raises(CredentialsError, match="chmod 600") as info:
        Credentials.load(path)
    assert "hunter2-secret" not in str(info.value)


@pytest.mark.parametrize(("text", "fragment"), [
    ("10.0.0.7 admin\n", "line 1: expected `TARGET USERNAME PASSWORD`"),
    ("\n# c\nnot-an-ip admin hunter2-secret\n", "line 3: target 'not-an-ip'"),
])
def test_bad_lines_name_the_line_not_the_password(tmp_path: Path, text: str,
                                                  fragment: str) -> None:
    with pytest.raises(CredentialsError, match=fragment) as info:
        Credentials.load(write(tmp_path / "c", text))
    assert "hunter2-secret" not in str(info.value)
    assert str(tmp_path / "c") in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialsError, match="cannot read"):
        Credentials.load(tmp_path / "absent")
