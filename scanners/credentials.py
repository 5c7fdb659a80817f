"""User-supplied device credentials: `TARGET USERNAME PASSWORD` per line, and SNMP lines.

TARGET is an address, a CIDR or `*`; the most specific matching line wins (an address beats
a CIDR, a longer prefix beats a shorter one, `*` comes last).  Blank lines and `#` comments are
skipped.  A file readable by group or others is refused.  Passwords never appear in a repr,
a log line or an error message: errors name the file and line only.

SNMP is read only with what the user puts here (never `public`, never a guess):

    snmp TARGET v2c COMMUNITY
    snmp TARGET v3 USER AUTH-PROTOCOL AUTH-KEY [PRIV-PROTOCOL PRIV-KEY]

AUTH-PROTOCOL is `sha`, `sha256`, `sha512` or `md5`; PRIV-PROTOCOL `aes`, `aes256` or `des`;
keys hold no spaces.  `public` and `private` are refused as communities: they are factory
defaults, and the scanner uses no default credentials.
"""

from __future__ import annotations

import ipaddress
import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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


SNMP_AUTH = ("md5", "sha", "sha256", "sha512")
SNMP_PRIV = ("aes", "aes256", "des")
DEFAULT_COMMUNITIES = ("public", "private")


@dataclass(frozen=True)
class SnmpCredential:
    """One `snmp` line: a v2c community or a v3 user with its keys."""

    target: str
    version: str
    community_or_user: str = field(repr=False)
    auth_protocol: str | None = None
    auth_key: str | None = field(default=None, repr=False)
    priv_protocol: str | None = None
    priv_key: str | None = field(default=None, repr=False)
    network: ipaddress.IPv4Network | ipaddress.IPv6Network | None = field(repr=False,
                                                                          default=None)

    def __str__(self) -> str:
        return f"snmp {self.version}@{self.target} (secrets hidden)"

    def secrets(self) -> list[str]:
        found = [self.auth_key, self.priv_key]
        if self.version == "v2c":
            found.append(self.community_or_user)
        return [s for s in found if s]


def _network(target: str, origin: str, number: int
             ) -> ipaddress.IPv4Network | ipaddress.IPv6Network | None:
    if target == "*":
        return None
    try:
        return ipaddress.ip_network(target, strict=False)
    except ValueError:
        raise CredentialsError(f"{origin} line {number}: target {target!r} is not an address, "
                               "a CIDR or `*`") from None


def _snmp_line(parts: list[str], origin: str, number: int) -> SnmpCredential:
    where = f"{origin} line {number}"
    usage = ("expected `snmp TARGET v2c COMMUNITY` or `snmp TARGET v3 USER AUTH-PROTOCOL "
             "AUTH-KEY [PRIV-PROTOCOL PRIV-KEY]`")
    if len(parts) < 4:
        raise CredentialsError(f"{where}: {usage}")
    _, target, version, *rest = parts
    network = _network(target, origin, number)
    if version == "v2c":
        if len(rest) != 1:
            raise CredentialsError(f"{where}: {usage}")
        if rest[0].lower() in DEFAULT_COMMUNITIES:
            raise CredentialsError(f"{where}: the community is a factory default; put the "
                                   "device's own community here (defaults are never used)")
        return SnmpCredential(target, "v2c", rest[0], network=network)
    if version != "v3" or len(rest) not in (3, 5):
        raise CredentialsError(f"{where}: {usage}")
    user, auth, auth_key, *priv = rest
    if auth.lower() not in SNMP_AUTH:
        raise CredentialsError(f"{where}: authentication protocol must be one of "
                               f"{', '.join(SNMP_AUTH)}")
    if priv and priv[0].lower() not in SNMP_PRIV:
        raise CredentialsError(f"{where}: privacy protocol must be one of {', '.join(SNMP_PRIV)}")
    return SnmpCredential(target, "v3", user, auth.lower(), auth_key,
                          priv[0].lower() if priv else None, priv[1] if priv else None,
                          network)


def _most_specific(entries: list[Any], address: str) -> Any:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return None
    best: tuple[int, Any] | None = None
    for entry in entries:
        if entry.network is None:
            rank = -1
        elif ip.version == entry.network.version and ip in entry.network:
            rank = entry.network.prefixlen
        else:
            continue
        if best is None or rank > best[0]:
            best = (rank, entry)
    return best[1] if best else None


class Credentials:
    def __init__(self, entries: list[Credential] | None = None,
                 snmp: list[SnmpCredential] | None = None):
        self.entries = list(entries or [])
        self.snmp = list(snmp or [])

    def __repr__(self) -> str:
        return (f"Credentials({len(self.entries)} entries, {len(self.snmp)} snmp, "
                "passwords hidden)")

    def __bool__(self) -> bool:
        return bool(self.entries or self.snmp)

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
        snmp = []
        for number, line in enumerate(text.splitlines(), start=1):
            stripped = line.strip()
            if not stripped or stripped.startswith("#"):
                continue
            if stripped.split(None, 1)[0] == "snmp":
                snmp.append(_snmp_line(stripped.split(), origin, number))
                continue
            parts = stripped.split(None, 2)
            if len(parts) != 3:
                raise CredentialsError(
                    f"{origin} line {number}: expected `TARGET USERNAME PASSWORD` "
                    f"(found {len(parts)} field{'s' if len(parts) != 1 else ''})")
            target, username, password = parts
            entries.append(Credential(target, username, password,
                                      _network(target, origin, number)))
        return cls(entries, snmp)

    def for_address(self, address: str) -> Credential | None:
        found: Credential | None = _most_specific(self.entries, address)
        return found

    def snmp_for(self, address: str) -> SnmpCredential | None:
        """The user's SNMP community or v3 user for `address` (most specific line), if any."""
        found: SnmpCredential | None = _most_specific(self.snmp, address)
        return found

    def secrets(self) -> list[str]:
        """The passwords, communities and keys, for redaction of any text that leaves the
        scanner."""
        return [entry.password for entry in self.entries if entry.password] + [
            secret for entry in self.snmp for secret in entry.secrets()]
