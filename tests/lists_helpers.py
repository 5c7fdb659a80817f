"""Shared helpers for the list tests: CSL files of a chosen shape and a loopback HTTP server."""

from __future__ import annotations

import csv
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

from entityscan.lists.csl_reader import CSL_HEADER

HEADER = CSL_HEADER

SOURCE_STRINGS = {
    "EL": "Entity List (EL) - Bureau of Industry and Security",
    "SDN": "Specially Designated Nationals (SDN) - Treasury Department",
    "DPL": "Denied Persons List (DPL) - Bureau of Industry and Security",
    "CMIC": "Non-SDN Chinese Military-Industrial Complex Companies List (CMIC) - Treasury "
            "Department",
}


def write_csl(path: Path, counts: Mapping[str, int], header: list[str] | None = None,
              name: str = "Test Party {code} {i} Trading Co., Ltd.") -> Path:
    """A CSL CSV with `counts[code]` rows per list; names (by default unique and realistic
    enough) follow the `name` template."""
    header = header or HEADER
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        n = 0
        for code, count in counts.items():
            for i in range(count):
                n += 1
                row = dict.fromkeys(header, "")
                row.update({"_id": f"{code.lower()}{i:06d}", "source": SOURCE_STRINGS[code],
                            "name": name.format(code=code, i=i),
                            "start_date": "2020-01-02", "addresses": "Shenzhen, CN"})
                if code == "SDN":
                    row["type"] = "Entity"
                writer.writerow([row[h] for h in header])
    return path


@dataclass
class Route:
    body: bytes
    status: int = 200
    content_type: str = "text/csv; charset=utf-8"
    delay: float = 0.0  # seconds before the body is sent
    content_length: int | None = None  # announced length; None announces the real one
    announce_length: bool = True  # False: no Content-Length, the body ends when the server closes
    drip: float = 0.0  # seconds between single bytes of the body (a server a byte at a time)


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, Route]] = {}

    def do_GET(self) -> None:
        route = self.routes.get(self.path)
        if route is None:
            route = Route(b"not found", 404, "text/plain")
        if route.delay:
            time.sleep(route.delay)
        try:
            self.send_response(route.status)
            self.send_header("Content-Type", route.content_type)
            if route.announce_length:
                length = (route.content_length if route.content_length is not None
                          else len(route.body))
                self.send_header("Content-Length", str(length))
            self.send_header("Last-Modified", "Wed, 25 Nov 2026 06:00:00 GMT")
            self.end_headers()
            if route.drip:
                for byte in route.body:
                    self.wfile.write(bytes([byte]))
                    self.wfile.flush()
                    time.sleep(route.drip)
            else:
                self.wfile.write(route.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def serve(routes: dict[str, Route], host: str = "127.50.0.1") -> Iterator[str]:
    """Serve `routes` over real HTTP on a loopback address and an ephemeral port."""
    handler = type("Handler", (_Handler,), {"routes": routes})
    server = ThreadingHTTPServer((host, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
