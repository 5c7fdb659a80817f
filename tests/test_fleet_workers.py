"""The service as several worker processes over one database (127.64.4.x): two "hosts"
(`entityscan serve --workers 2` each, own data folders) share a store.  One worker of one
host downloads the lists (by lease), publishes them in the database and rescreens once;
every worker of both hosts then screens with them.  A worker killed with SIGKILL is replaced
and the service keeps answering.  SQLite always, PostgreSQL with ENTITYSCAN_TEST_POSTGRES_URL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _server_support import free_port
from _store_support import BACKENDS, make_url

from entityscan.store import Store

HOST = "127.64.4.1"
ROOT = Path(__file__).resolve().parent.parent
CSL = ROOT / "fixtures" / "lists" / "csl_sample.csv"
pytestmark = pytest.mark.slow


class Host:
    def __init__(self, db: str, data: Path, *extra: str) -> None:
        data.mkdir(parents=True, exist_ok=True)
        self.port = free_port(HOST)
        self.base = f"http://{HOST}:{self.port}"
        env = {**os.environ, "ENTITYSCAN_DATA_DIR": str(data), "ENTITYSCAN_DB": db}
        env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.log = data / "serve.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "entityscan", "serve", "--host", HOST, "--port",
                 str(self.port), "--workers", "2", "--lists-check-seconds", "1", *extra],
                env=env, stdout=out, stderr=subprocess.STDOUT)
        self.wait_workers(2)

    def workers(self) -> list[int]:
        found = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
        # uvicorn's workers, not multiprocessing's resource tracker beside them
        return [pid for pid in found if b"spawn_main" in _cmdline(pid)]

    def wait_workers(self, count: int, seconds: float = 120) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            text = self.log.read_text(errors="replace")
            if text.count("Application startup complete") >= count:
                return
            assert self.proc.poll() is None, text[-3000:]
            time.sleep(0.2)
        raise AssertionError(self.log.read_text(errors="replace")[-3000:])

    def hashes(self, token: str, times: int = 30) -> set[str]:
        """The lists hash each of `times` fresh connections was answered with (the kernel
        hands connections to both workers)."""
        seen = set()
        for _ in range(times):
            with httpx.Client(timeout=30) as client:
                r = client.get(self.base + "/v1/lists",
                               headers={"Authorization": f"Bearer {token}"})
                r.raise_for_status()
                seen.add(r.json()["lists_content_hash"])
        return seen

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture(params=BACKENDS)
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    yield from make_url(request.param, tmp_path)


def test_one_download_serves_every_worker_of_every_host_and_rescreens_once(
        db: str, tmp_path: Path) -> None:
    with Store(db) as store:
        _, token = store.tokens.add("ops", ["screen", "read"])
    a = Host(db, tmp_path / "host-a", "--lists-update-every", "1h", "--lists-from", str(CSL))
    b = Host(db, tmp_path / "host-b")
    try:
        with Store(db) as store:
            deadline = time.monotonic() + 60
            while store.lists.head() is None and time.monotonic() < deadline:
                time.sleep(0.2)
            published = store.lists.head()
            assert published is not None, a.log.read_text()[-3000:]
        # every worker of both hosts swaps to the published copy
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            seen_a, seen_b = a.hashes(token), b.hashes(token)
            if len(seen_a) == 1 and seen_a == seen_b:
                break
            time.sleep(0.5)
        assert len(seen_a) == 1 and seen_a == seen_b, (seen_a, seen_b)
        assert (tmp_path / "host-b" / "csl" / "current.dat").exists()  # installed from the db
        with Store(db) as store:
            rescreens = [e for e in store.audit.entries(limit=100)
                         if e["action"] == "rescreen"]
            assert len(rescreens) == 1 and rescreens[0]["actor"] == "service:lists-update"
            (job,) = store.leases.jobs()
            assert job["name"] == "lists-update" and job["holder"] is None
            assert job["last_result"].startswith("installed")
            assert store.audit.verify().intact
        # a worker killed outright is replaced; the other answers meanwhile
        victim = a.workers()[0]
        os.kill(victim, signal.SIGKILL)
        assert len(a.hashes(token, times=5)) == 1
        a.wait_workers(3)  # the supervisor started a new one
        deadline = time.monotonic() + 60
        while victim in a.workers() or len(a.workers()) < 2:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert a.hashes(token, times=10) == seen_a
    finally:
        a.stop()
        b.stop()


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("ENTITYSCAN_INGEST_THREADS", "two", "give a whole number of saving threads"),
    ("ENTITYSCAN_INGEST_THREADS", "0", "give a whole number of saving threads"),
    ("ENTITYSCAN_MAX_BODY_MB", "8MB", "not a number"),
])
def test_a_bad_worker_setting_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                capsys: pytest.CaptureFixture[str],
                                                variable: str, value: str, says: str) -> None:
    """A worker setting from the environment that is not what it must be stops `serve` before
    it listens, naming the variable; it is never a traceback or silently replaced."""
    from entityscan.cli import main
    from entityscan.errors import InputError
    from entityscan.service.worker import ServeConfig

    monkeypatch.setenv(variable, value)
    if variable == "ENTITYSCAN_MAX_BODY_MB":
        with pytest.raises(InputError, match=f"{variable}='{value}': {says}"):
            ServeConfig.from_env()
        return
    assert main(["serve", "--port", str(free_port("127.0.0.1")),
                 "--db", f"sqlite:///{tmp_path / 'w.db'}"]) == 2
    err = capsys.readouterr().err
    assert f"{variable}='{value}': {says}" in err and "Traceback" not in err
