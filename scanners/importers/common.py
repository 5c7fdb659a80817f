"""What every importer shares: hosts gathered on the passive scan's host table (so devices are
built, merged and attributed exactly as a passive or active scan's), errors as `file:line`,
and telling the formats apart by content."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from entityscan.scanners.errors import ScannerError
from entityscan.scanners.inventory import Device, ScanError
from entityscan.scanners.passive.hosts import Host, HostTable
from entityscan.scanners.passive.streams import decode_body, parse_head
from entityscan.scanners.probes import Observations
from entityscan.scanners.probes.neighbours import normalise_mac

#: A line longer than this is not a log line (Zeek, masscan): it is reported and skipped.
MAX_LINE = 1024 * 1024
#: Errors kept per file (the rest are counted).
MAX_FILE_ERRORS = 50


class ImportFormatError(ScannerError):
    """A file is none of the formats `entityscan import` reads."""


@dataclass
class Imported:
    """Hosts gathered from every file, and what could not be read (`file:line: what`)."""

    table: HostTable = field(default_factory=HostTable)
    errors: list[ScanError] = field(default_factory=list)
    files: dict[str, str] = field(default_factory=dict)  # file -> format
    # asset-system exports: one device per record, and what was assumed to read them
    records: list[Device] = field(default_factory=list)
    encodings: dict[str, str] = field(default_factory=dict)
    not_screenable: int = 0  # records naming no manufacturer, model, serial or MAC
    record_keys: dict[str, str] = field(default_factory=dict)  # identity -> first file:line
    _per_file: dict[str, int] = field(default_factory=dict)

    def host(self, address: str, *, mac: str | None = None) -> Host | None:
        """The host record of `address` (an IP address; else, with `mac`, keyed by MAC)."""
        key = _address(address)
        if key is None:
            if mac is None:
                return None
            key = f"mac:{mac}"
        host = self.table.host(key)
        if host is not None and mac and host.mac is None:
            host.mac = normalise_mac(mac)
        return host

    def seen(self, address: str, timestamp: float | None) -> None:
        key = _address(address)
        if key is not None and timestamp is not None and timestamp > 0:
            self.table.seen(socket.inet_pton(socket.AF_INET6 if ":" in key else socket.AF_INET,
                                             key), timestamp)

    def error(self, path: Path | str, line: int | None, message: str) -> None:
        where = f"{path}:{line}" if line else str(path)
        count = self._per_file[str(path)] = self._per_file.get(str(path), 0) + 1
        if count <= MAX_FILE_ERRORS:
            self.errors.append(ScanError(target=str(path), probe="import",
                                         message=f"{where}: {message}"))
        elif count == MAX_FILE_ERRORS + 1:
            self.errors.append(ScanError(target=str(path), probe="import", message=(
                f"{path}: more than {MAX_FILE_ERRORS} errors; the rest are not listed")))


def bounded_lines(stream: BinaryIO) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) for each line, reading at most MAX_LINE bytes of any line; a longer
    line comes as None (its rest is skipped, never held in memory)."""
    number = 0
    while True:
        line = stream.readline(MAX_LINE + 1)
        if not line:
            return
        number += 1
        if len(line) > MAX_LINE and not line.endswith(b"\n"):
            while (rest := stream.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                pass
            yield number, None
            continue
        yield number, line


def _address(text: str) -> str | None:
    import ipaddress

    try:
        return str(ipaddress.ip_address(str(text).strip().split("%", 1)[0]))
    except ValueError:
        return None


def raw_response(data: bytes, port: int) -> Observations | None:
    """A raw HTTP or RTSP response (head and maybe some body), as a probe would read it."""
    from entityscan.scanners.passive.responses import observe_response

    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith((b"HTTP/", b"RTSP/")):
        return None
    parsed = parse_head(head[:16384])
    if parsed is None:
        return None
    protocol, status, headers = parsed
    body = decode_body(body[:65536], headers.get("content-encoding"))
    return observe_response(protocol, port, status, headers, body)


def sniff(path: Path) -> str:
    """`nmap`, `masscan`, `zeek-tsv` or `zeek-json`, from the file's first bytes."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(4096)
    except OSError as exc:
        raise ImportFormatError(f"cannot read: {exc.strerror or exc}") from exc
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").decode("utf-8", "replace")
    if text.startswith("<") and ("<nmaprun" in text or "nmap" in text.lower()):
        return "nmap"
    if text.startswith("#separator") or text.startswith("#fields"):
        return "zeek-tsv"
    if text.startswith(("[", "{")):
        if '"id.orig_h"' in text or '"id.resp_h"' in text or '"_path"' in text or \
                ('"ts"' in text and '"uid"' in text) or '"host_p"' in text or \
                '"port_num"' in text or '"certificate.subject"' in text:
            return "zeek-json"
        if '"ip"' in text or text.strip() in ("[", "[\n"):
            return "masscan"
    raise ImportFormatError(
        "not a format entityscan import reads (nmap XML from -oX, masscan JSON "
        "from -oJ/-oD, Zeek http/ssl/x509/dhcp/software/known_services logs in TSV or JSON)")
