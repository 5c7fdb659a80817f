"""masscan JSON with banners (`masscan --banners -oJ FILE`, one record per line inside `[ ]`;
or `-oD`, one object per line).  Banner services: `http` (the raw response head), `http.server`
(the `Server` value), `title`, `X509` (a base64 certificate), `rtsp`; open ports from status
records.  Each line is read on its own: a malformed line is reported as `file:line` and the
next one is read."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from entityscan.scanners.importers.common import MAX_LINE, Imported, bounded_lines, raw_response
from entityscan.scanners.passive.responses import field_prefix
from entityscan.scanners.probes import Observations
from entityscan.scanners.probes.tls import subject_and_issuer


def read_masscan(path: Path, imported: Imported) -> None:
    with open(path, "rb") as stream:
        for number, raw in bounded_lines(stream):
            if raw is None:
                imported.error(path, number, f"line longer than {MAX_LINE} bytes, skipped")
                continue
            line = raw.decode("utf-8", "replace").strip().rstrip(",").strip()
            if line in ("", "[", "]", ","):
                continue
            try:
                record = json.loads(line)
            except (json.JSONDecodeError, RecursionError) as exc:
                if line.replace(" ", "") in ("{finished:1}",):
                    continue  # masscan's old closing record is not JSON
                imported.error(path, number, f"not a JSON record ({str(exc)[:80]})")
                continue
            if not isinstance(record, dict) or "ip" not in record:
                imported.error(path, number, "not a masscan record (no \"ip\")")
                continue
            _record(record, imported)


def _record(record: dict[str, Any], imported: Imported) -> None:
    host = imported.host(str(record["ip"]))
    if host is None:
        return
    timestamp = str(record.get("timestamp", ""))
    imported.seen(str(record["ip"]), float(timestamp) if timestamp.isdigit() else None)
    ports = record.get("ports")
    if not isinstance(ports, list):  # -oD: one port per record
        ports = [{"port": record.get("port"), "proto": record.get("proto"),
                  "status": record.get("rec_type") == "status" and "open",
                  "service": record.get("data") if record.get("rec_type") == "banner"
                  else None}]
    for entry in ports[:64]:
        if not isinstance(entry, dict) or not isinstance(entry.get("port"), int):
            continue
        port = entry["port"]
        if entry.get("proto", "tcp") == "tcp":
            host.candidate.open_ports.add(port)
        service = entry.get("service")
        if isinstance(service, dict):
            name = str(service.get("name") or service.get("service_name") or "")
            banner = service.get("banner")
            if isinstance(banner, str):
                obs = banner_observations(name, banner[:65536], port)
                if obs is not None:
                    host.add("masscan", obs)


def banner_observations(service: str, banner: str, port: int) -> Observations | None:
    """Signals from one masscan banner, by its service name."""
    prefix = field_prefix(port)
    if service in ("http", "rtsp") or banner.startswith(("HTTP/", "RTSP/")):
        return raw_response(banner.encode("utf-8", "surrogateescape"), port)
    obs = Observations()
    obs.answered = True
    if service == "http.server":
        obs.signal("http_server", banner.strip(), "http", f"{prefix}Server")
    elif service == "title":
        obs.signal("http_title", banner.strip(), "http", f"{prefix}title")
        obs.fact("title", banner.strip())
    elif service.lower() == "x509":
        try:
            subject, issuer = subject_and_issuer(base64.b64decode(banner)[:65536])
        except (binascii.Error, ValueError, IndexError):
            return None
        obs.signal("tls_subject", subject, "tls", f"port {port} certificate subject")
        if issuer and issuer != subject:
            obs.signal("tls_subject", issuer, "tls", f"port {port} certificate issuer")
    else:
        return None
    return obs
