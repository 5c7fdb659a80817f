"""A PostgreSQL cluster of the benchmark's own: initdb in a temporary folder, started on a
loopback address and port of its own, stopped (and started again) at will, removed at the
end.  Nobody else's database is touched.  PostgreSQL refuses to run as root, so as root the
cluster runs as the `postgres` user.

    with Cluster("127.0.13.201") as pg:
        url = pg.create_database("fleet")      # postgresql+psycopg://…
        pg.stop(); pg.start()                  # a 10 s outage, say
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType


def _bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin"),
                      key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    if not versions:
        raise SystemExit("PostgreSQL's server programs are not installed (apt-get install "
                         "postgresql)")
    return str(versions[-1] / name)


class Cluster:
    def __init__(self, host: str) -> None:
        self.host = host
        self.port = _free_port(host)
        self.root = Path(tempfile.mkdtemp(prefix="entityscan-bench-pg-"))
        self.data = self.root / "data"
        self.user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def __enter__(self) -> Cluster:
        if self.user:
            shutil.chown(self.root, "postgres", "postgres")
        subprocess.run([*self.user, _bin("initdb"), "-D", str(self.data), "-A", "trust",
                        "-U", "bench", "--no-sync"], check=True, stdout=subprocess.DEVNULL)
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write(f"listen_addresses = '{self.host}'\nport = {self.port}\n"
                       f"unix_socket_directories = '{self.root}'\nmax_connections = 200\n"
                       "shared_buffers = 256MB\n")
        self.start()
        return self

    def start(self) -> None:
        subprocess.run([*self.user, _bin("pg_ctl"), "-D", str(self.data), "-l",
                        str(self.root / "log"), "-w", "-t", "60", "start"], check=True,
                       stdout=subprocess.DEVNULL)

    def stop(self, mode: str = "fast") -> None:
        subprocess.run([*self.user, _bin("pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                        "stop"], check=True, stdout=subprocess.DEVNULL)

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://bench@{self.host}:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        subprocess.run([*self.user, _bin("createdb"), "-h", self.host, "-p", str(self.port),
                        "-U", "bench", name], check=True)
        return self.url(name)

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None,
                 trace: TracebackType | None) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


def _free_port(host: str) -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])

