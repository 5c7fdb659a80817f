"""Zeek logs, TSV (with `#fields` headers) or JSON (one object per line): `http`, `ssl`,
`x509`, `dhcp`, `software` and `known_services`.  Which log a file is comes from its `#path`
header, a `_path` field, or the fields it has.  Certificates in `x509` are tied to servers
through `ssl`'s `cert_chain_fps`/`cert_chain_fuids`, in whatever order the files come.

Every line is read on its own: a malformed line is reported as `file:line` and the next one is
read.  Values are bounded; Zeek's escapes (`\\x09`) are undone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from entityscan.scanners.importers.common import MAX_LINE, Imported, bounded_lines
from entityscan.scanners.passive.responses import field_prefix
from entityscan.scanners.probes import Observations

_ESCAPE = re.compile(r"\\x([0-9a-fA-F]{2})")
MAX_CERTIFICATES = 100_000


@dataclass
class ZeekState:
    """Across files: certificates by fingerprint or file id, and who served which."""

    certificates: dict[str, tuple[str, str]] = field(default_factory=dict)
    served: list[tuple[str, int, list[str]]] = field(default_factory=list)

    def finish(self, imported: Imported) -> None:
        for address, port, ids in self.served:
            for cert_id in ids[:1]:  # the leaf certificate comes first
                names = self.certificates.get(cert_id)
                host = imported.host(address) if names else None
                if host is not None and names is not None:
                    host.add("tls", _certificate(*names, port))
        self.served.clear()


def _rows(path: Path, imported: Imported) -> Iterator[tuple[int, str, dict[str, str]]]:
    """(line, log path, row) for every data line, TSV or JSON."""
    fields: list[str] = []
    separator, unset, empty, log = "\t", "-", "(empty)", ""
    with open(path, "rb") as stream:
        for number, raw in bounded_lines(stream):
            if raw is None:
                imported.error(path, number, f"line longer than {MAX_LINE} bytes, skipped")
                continue
            line = raw.decode("utf-8", "replace").rstrip("\r\n")
            if not line.strip():
                continue
            if line.startswith("#"):
                if line.startswith("#separator"):
                    separator = _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)),
                                            line.split(" ", 1)[-1].strip()) or "\t"
                elif line.startswith("#fields"):
                    fields = line.split(separator)[1:]
                elif line.startswith("#path"):
                    log = line.split(separator)[-1].strip()
                elif line.startswith("#unset_field"):
                    unset = line.split(separator)[-1]
                elif line.startswith("#empty_field"):
                    empty = line.split(separator)[-1]
                continue
            if line.lstrip().startswith("{"):
                try:
                    record = json.loads(line)
                except (json.JSONDecodeError, RecursionError) as exc:
                    imported.error(path, number, f"not a JSON log line ({str(exc)[:80]})")
                    continue
                if not isinstance(record, dict):
                    imported.error(path, number, "not a JSON object")
                    continue
                row = {str(k): _json_text(v) for k, v in list(record.items())[:128]}
                yield number, str(record.get("_path") or log), row
                continue
            if not fields:
                imported.error(path, number, "a data line before any #fields header")
                continue
            values = line.split(separator)
            if len(values) != len(fields):
                imported.error(path, number, f"{len(values)} values for {len(fields)} fields")
                continue
            row = {name: _ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), value)[:4096]
                   for name, value in zip(fields, values, strict=True)
                   if value not in (unset, empty)}
            yield number, log, row


def _json_text(value: object) -> str:
    if isinstance(value, list):
        return ",".join(str(v) for v in value[:64])[:4096]
    return str(value)[:4096]


def _kind(log: str, row: dict[str, str], path: Path) -> str:
    for name in ("known_services", "software", "x509", "dhcp", "ssl", "http"):
        if log == name or (not log and path.name.startswith(name)):
            return name
    if "port_num" in row:
        return "known_services"
    if "software_type" in row:
        return "software"
    if "certificate.subject" in row:
        return "x509"
    if "msg_types" in row or "assigned_addr" in row:
        return "dhcp"
    if "cipher" in row or "server_name" in row:
        return "ssl"
    if "status_code" in row or "uri" in row:
        return "http"
    return ""


def read_zeek(path: Path, imported: Imported, state: ZeekState) -> None:
    for number, log, row in _rows(path, imported):
        kind = _kind(log, row, path)
        if not kind:
            imported.error(path, number, "not an http, ssl, x509, dhcp, software or "
                                         "known_services log line")
            continue
        try:
            READERS[kind](row, imported, state)
        except (KeyError, ValueError) as exc:
            imported.error(path, number, f"{kind} log line without a usable "
                                         f"{str(exc)[:60]}")


def _server(row: dict[str, str], imported: Imported) -> tuple[str, int, Observations]:
    """The responder's address and port (its time seen), and observations to fill."""
    address = row["id.resp_h"]
    port = int(float(row["id.resp_p"]))
    ts = row.get("ts")
    imported.seen(address, float(ts) if ts and ts.replace(".", "", 1).isdigit() else None)
    obs = Observations()
    obs.answered = True
    return address, port, obs


def _http(row: dict[str, str], imported: Imported, _state: ZeekState) -> None:
    address, port, obs = _server(row, imported)
    prefix = field_prefix(port)
    for name in ("server", "server_header"):  # not in the default log; added by policies
        obs.signal("http_server", row.get(name), "http", f"{prefix}Server")
    status = row.get("status_code", "")
    uri = row.get("uri", "")
    # A vendor path is evidence when it was answered with a challenge or with a document.
    if uri.startswith("/") and (status == "401" or (
            status == "200" and any(t in row.get("resp_mime_types", "")
                                    for t in ("xml", "text/plain")))):
        obs.signal("http_path", f"{uri.split()[0][:256]} {status}", "http", f"{prefix}path")
    host = imported.host(address)
    if host is not None:
        host.candidate.open_ports.add(port)
        host.add("http", obs)


def _ssl(row: dict[str, str], imported: Imported, state: ZeekState) -> None:
    address, port, obs = _server(row, imported)
    host = imported.host(address)
    if host is None:
        return
    host.candidate.open_ports.add(port)
    if row.get("server_name"):
        obs.fact("tls_server_name", row["server_name"][:253])
    if row.get("subject"):  # Zeek before 4.0 logged the names in ssl.log itself
        host.add("tls", _certificate(row["subject"], row.get("issuer", ""), port))
    ids = (row.get("cert_chain_fps") or row.get("cert_chain_fuids") or "").split(",")
    if ids and ids[0]:
        state.served.append((address, port, ids))
    host.add("tls", obs)


def _x509(row: dict[str, str], _imported: Imported, state: ZeekState) -> None:
    subject = row["certificate.subject"]
    for cert_id in (row.get("fingerprint"), row.get("id")):
        if cert_id and len(state.certificates) < MAX_CERTIFICATES:
            state.certificates[cert_id] = (subject, row.get("certificate.issuer", ""))


def _certificate(subject: str, issuer: str, port: int) -> Observations:
    obs = Observations()
    obs.answered = True
    obs.signal("tls_subject", subject, "tls", f"port {port} certificate subject")
    if issuer and issuer != subject:
        obs.signal("tls_subject", issuer, "tls", f"port {port} certificate issuer")
    return obs


def _dhcp(row: dict[str, str], imported: Imported, _state: ZeekState) -> None:
    mac = row["mac"]
    address = row.get("assigned_addr") or row.get("client_addr") or row.get("requested_addr")
    host = imported.host(address or "", mac=mac)
    if host is None:
        raise ValueError("mac")
    obs = Observations()
    obs.answered = True
    obs.signal("model", row.get("host_name"), "dhcp", "host name")
    obs.fact("dhcp_hostname", row.get("host_name"))
    vendor = row.get("client_software") or row.get("vendor_class")
    obs.signal("label", vendor, "dhcp", "vendor class")
    obs.fact("dhcp_vendor_class", vendor)
    host.add("dhcp", obs)


def _software(row: dict[str, str], imported: Imported, _state: ZeekState) -> None:
    if row.get("software_type") != "HTTP::SERVER":
        return
    address, port = row["host"], int(float(row.get("host_p") or 80))
    host = imported.host(address)
    if host is None:
        return
    obs = Observations()
    obs.answered = True
    obs.signal("http_server", row.get("unparsed_version") or row.get("name"), "http",
               f"{field_prefix(port)}Server")
    host.candidate.open_ports.add(port)
    host.add("http", obs)


def _known_services(row: dict[str, str], imported: Imported, _state: ZeekState) -> None:
    host = imported.host(row["host"])
    if host is not None and row.get("port_proto", "tcp") == "tcp":
        host.candidate.open_ports.add(int(float(row["port_num"])))


READERS = {"http": _http, "ssl": _ssl, "x509": _x509, "dhcp": _dhcp, "software": _software,
           "known_services": _known_services}
