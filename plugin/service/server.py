"""Running the service under uvicorn (one process, or several workers), with the bind-address
safety rule."""

from __future__ import annotations

import ipaddress
import os
import tempfile
from pathlib import Path
from typing import Any

from entityscan.errors import InputError
from entityscan.service.worker import CONFIG_ENV, ServeConfig, app_from_config
from entityscan.store import Store

#: prometheus_client's multiprocess folder (read when the workers import it).
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, store: Store) -> None:
    """Refuse a non-loopback bind while no API token exists (it would be reachable and
    unusable, or worse, an invitation to disable auth)."""
    if not is_loopback(host) and not store.tokens.has_active():
        raise InputError(f"refusing to listen on {host}: no API token exists yet; create one "
                         f"with `entityscan tokens add NAME` first (or bind 127.0.0.1)")


def serve(config: ServeConfig, host: str = "127.0.0.1", port: int = 8077, *, workers: int = 1,
          log_level: str = "info") -> None:
    """Run the service: in this process, or as `workers` processes under uvicorn's
    supervisor (a worker that dies is started again); each builds its app from `config`."""
    import uvicorn

    config.check()
    store = Store(config.db, data_dir=Path(config.data_dir) if config.data_dir else None)
    try:
        check_bind(host, store)  # also creates or upgrades the schema once, up front
    finally:
        store.close()
    options: dict[str, Any] = {"host": host, "port": port, "log_level": log_level,
                               "access_log": False, "limit_concurrency": 256,
                               "timeout_keep_alive": 5}
    if workers <= 1:
        uvicorn.run(app_from_config(config), **options)
        return
    os.environ[CONFIG_ENV] = config.to_env()
    if not os.environ.get(MULTIPROC_ENV):  # the workers' metrics, added up at each scrape
        os.environ[MULTIPROC_ENV] = tempfile.mkdtemp(prefix="entityscan-metrics-")
    uvicorn.run("entityscan.service.worker:app_from_env", factory=True, workers=workers,
                **options)
