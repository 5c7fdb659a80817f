"""User-supplied device credentials: `TARGET USERNAME PASSWORD` per line.

TARGET is an address, a CIDR or `*`; the most specific matching line wins (an address beats
a CIDR, a longer prefix beats a shorter one, `*` comes last).  Blank lines and `#` comments are
skipped.  A file readable by group or others is refused.  Passwords never appear in a repr,
a log line or an error message: errors name the file and line only.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path

from entityscan.scanners.errors import ScannerError


class CredentialsError(ScannerError):
    """The credentials file cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Credential:
    target: str
    username: str
    password: str = field(repr=False)
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = field(repr=False,
                                                                          default=None)

    def __str__(self) -> str:
        return f"{self.username}@{self.target} (password hidden)"

    @property
    def pair(self) -> tuple[str, str]:
        return self.username, self.password


class Credentials:
    def __init__(self, entries: list[Credential] | None = None):
        self.entries = list(entries or [])

    def __repr__(self) -> str:
        return f"Credentials({len(self.entries)} entries, passwords hidden)"

    def __bool__(self) -> bool:
        return bool(self.entries)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Credentials:
        path = Path(path)
        try:
            info = path.stat()
        except OSError as exc:
            raise CredentialsError(f"credentials file {path}: cannot read it "
                                   f"({exc.strerror})") from None
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise CredentialsError(
                f"credentials file {path} is accessible by group or others (mode "
                f"{stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}` first")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CredentialsError(f"credentials file {path}: cannot read it "
                                   f"({type(exc).__name__})") from None
        return cls.parse(text, origin=str(path))

    @classmethod
    def parse(cls, text: str, *, origin: str = "<credentials>") -> Credentials:
        entries = []
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            parts = stripped.split(None, 2)
            if len(parts) != 3:
                raise CredentialsError(
                    f"{origin} line {number}: expected `TARGET USERNAME PASSWORD` "
                    f"(found {len(parts)} field{'s' if len(parts) != 1 else ''})")
            target, username, password = parts
            network = None
            if target != "*":
                try:
                    network = ipaddress.ip_network(target, strict=False)
                except ValueError:
                    raise CredentialsError(
                        f"{origin} line {number}: target {target!r} is not an address, "
                        "a CIDR or `*`") from None
            entries.append(Credential(target, username, password, network))
        return cls(entries)

    def for_address(self, address: str) -> Credential | None:
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return None
        best: tuple[int, Credential] | None = None
        for entry in self.entries:
            if entry.network is None:
                rank = -1
            elif ip.version == entry.network.version and ip in entry.network:
                rank = entry.network.prefixlen
            else:
                continue
            if best is None or rank > best[0]:
                best = (rank, entry)
        return best[1] if best else None

    def secrets(self) -> list[str]:
        """The passwords, for redaction of any text that leaves the scanner."""
        return [entry.password for entry in self.entries if entry.password]
