"""Whole-process benchmark of the central service for many sites, on a PostgreSQL cluster of
its own (started and removed by this script, never anyone else's database).

  ingest   N simulated sites x D devices (documents made from a real scan of the loopback lab,
           `bench/make_sites.py`) pushed by A concurrent site agents (the product's own
           `entityscan.agent.Agent`: spool first, then send) to `entityscan serve --workers W`
           for each W given: devices/s, p50/p99/max per push, store size; then counted in
           the database: every document stored exactly once, every device there.
  faults   the same with W workers while, mid-run, one worker is killed with SIGKILL and
           PostgreSQL is stopped for 10 s: agents spool and resend (`flush`) until nothing
           waits; then every acknowledged document must be stored exactly once.
  screen   C clients posting 100-line batches to POST /v1/screen for S seconds: p50/p99/max
           and lines/s, with SQLite and one process (the baseline: how the service ran before)
           beside PostgreSQL with each W given, in the same run.

    python bench/fleet_bench.py ingest --sites 1000 --devices 200 --agents 20 --workers 1 2
    python bench/fleet_bench.py faults --sites 300 --workers 2
    python bench/fleet_bench.py screen --clients 20 --seconds 30 --workers 1 2

Only loopback addresses in 127.0.13.0/24 are used.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.make_items import generate  # noqa: E402
from bench.make_sites import lab_templates, site_document  # noqa: E402
from bench.pg_cluster import Cluster, _free_port  # noqa: E402

PG_HOST = "127.0.13.201"
HOST = "127.0.13.202"
_TEMPLATES: list[dict[str, Any]] = []


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))] if ordered else 0


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"load average {one:.1f} (5 min {five:.1f}) on {os.cpu_count()} CPUs"


# --- the service, as its own processes ------------------------------------------------------
class Service:
    def __init__(self, db: str, workers: int, data: Path, python: str = sys.executable) -> None:
        self.env = {**os.environ, "ENTITYSCAN_DATA_DIR": str(data), "ENTITYSCAN_DB": db}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)
        self.token = subprocess.run(
            [python, "-m", "entityscan", "tokens", "add", "bench", "--scope", "admin"],
            env=self.env, capture_output=True, text=True, check=True).stdout.strip()
        self.port = _free_port(HOST)
        self.base = f"http://{HOST}:{self.port}"
        self.log = open(data / "serve.log", "w+b")  # noqa: SIM115 - closed in stop()
        self.workers = workers
        extra = ["--workers", str(workers)] if python == sys.executable else []
        self.proc = subprocess.Popen(
            [python, "-m", "entityscan", "serve", "--host", HOST, "--port", str(self.port),
             *extra], env=self.env, stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            self.log.seek(0)
            text = self.log.read().decode(errors="replace")
            if text.count("Application startup complete") >= self.workers:
                break
            if self.proc.poll() is not None:
                raise SystemExit(f"the service ended: {text[-2000:]}")
            time.sleep(0.3)
        else:
            raise SystemExit("the service did not start in 180 s")
        httpx.get(self.base + "/healthz", timeout=30).raise_for_status()

    def worker_pids(self) -> list[int]:
        found = []
        for task in Path(f"/proc/{self.proc.pid}/task").iterdir():
            found += [int(c) for c in (task / "children").read_text().split()]
        # uvicorn's workers, not multiprocessing's resource tracker beside them
        return [pid for pid in found if b"spawn_main" in _cmdline(pid)]

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGINT)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


# --- ingest ---------------------------------------------------------------------------------
def _make(args: tuple[int, int]) -> bytes:
    from entityscan.agent.push import ingest_form

    site, devices = args
    return json.dumps(ingest_form(site_document(_TEMPLATES, site, devices))).encode()


def _init(templates: list[dict[str, Any]]) -> None:
    _TEMPLATES[:] = templates


def make_documents(sites: int, devices: int) -> list[bytes]:
    templates = lab_templates()
    with ProcessPoolExecutor(max_workers=2, initializer=_init, initargs=(templates,)) as pool:
        return list(pool.map(_make, [(s, devices) for s in range(sites)], chunksize=20))


class Agents:
    """A concurrent site agents, each with its own spool, sending its share of the sites."""

    def __init__(self, base: str, token: str, count: int, folder: Path) -> None:
        from entityscan.agent import Agent, Spool

        self.agents = [Agent(base, token, Spool(folder / f"agent-{i}"), timeout=120,
                             report=lambda _line: None) for i in range(count)]
        self.latencies: list[float] = []
        self.acknowledged: set[str] = set()
        self.failures = 0
        self.lock = threading.Lock()

    def run(self, documents: list[bytes]) -> float:
        shares = [documents[i::len(self.agents)] for i in range(len(self.agents))]
        threads = [threading.Thread(target=self._one, args=(a, s))
                   for a, s in zip(self.agents, shares, strict=True)]
        start = time.perf_counter()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return time.perf_counter() - start

    def _one(self, agent: Any, share: list[bytes]) -> None:
        for body in share:
            doc = json.loads(body)
            t = time.perf_counter()
            outcome = agent.deliver(doc)
            elapsed = time.perf_counter() - t
            with self.lock:
                self.latencies.append(elapsed)
                self.acknowledged.update(outcome.sent + outcome.duplicates)
                self.failures += 1 if outcome.waiting else 0

    def drain(self, deadline: float) -> int:
        """Flush every spool until nothing waits (or the deadline); returns what still waits."""
        waiting = 1
        while time.monotonic() < deadline:
            waiting = 0
            for agent in self.agents:
                outcome = agent.flush()
                with self.lock:
                    self.acknowledged.update(outcome.sent + outcome.duplicates)
                waiting += outcome.waiting
            if not waiting:
                return 0
            time.sleep(1)
        return waiting


def wait_saved(db: str, expected: int, deadline: float) -> float:
    """Wait until `expected` scans are saved (the ingest queue drained); returns when."""
    import sqlalchemy as sa

    engine = sa.create_engine(db)
    try:
        while time.monotonic() < deadline:
            try:
                with engine.connect() as conn:
                    saved = conn.exec_driver_sql("SELECT count(*) FROM scans").scalar()
                    pending = conn.exec_driver_sql(
                        "SELECT count(*) FROM ingest_queue WHERE status = 'pending'").scalar()
                if saved >= expected and not pending:
                    break
            except sa.exc.OperationalError:
                pass  # PostgreSQL is being restarted
            time.sleep(0.25)
        return time.perf_counter()
    finally:
        engine.dispose()


def count(db: str, sites: int, devices: int, acknowledged: set[str]) -> dict[str, Any]:
    """What the database holds, and whether it is what was sent."""
    import sqlalchemy as sa

    from entityscan.store import Store

    engine = sa.create_engine(db)
    with engine.connect() as conn:
        def one(sql: str) -> Any:
            return conn.exec_driver_sql(sql).scalar()

        stored_ids = {r[0] for r in conn.exec_driver_sql("SELECT document_id FROM scans")}
        failed = conn.exec_driver_sql("SELECT count(*) FROM ingest_queue").scalar()
        found = {
            "scans": one("SELECT count(*) FROM scans"),
            "distinct_documents": one("SELECT count(DISTINCT document_id) FROM scans"),
            "doubled": one("SELECT count(*) FROM (SELECT document_id FROM scans GROUP BY 1 "
                           "HAVING count(*) > 1) d"),
            "devices": one("SELECT count(*) FROM devices"),
            "snapshot_rows": one("SELECT count(*) FROM scan_devices"),
            "audit_entries": one("SELECT count(*) FROM audit_log"),
            "left_in_ingest_queue": failed,
            "database_bytes": one("SELECT pg_database_size(current_database())"),
            "acknowledged": len(acknowledged),
            "acknowledged_missing": len(acknowledged - stored_ids),
            "tables": {r[0]: r[1] for r in conn.exec_driver_sql(
                "SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables "
                "ORDER BY 2 DESC LIMIT 6")},
        }
    engine.dispose()
    with Store(db) as store:
        chain = store.audit.verify()
    found["audit_chain_intact"] = chain.intact
    found["all_stored_once"] = (found["scans"] == sites and found["doubled"] == 0
                                and found["devices"] == sites * devices
                                and found["acknowledged_missing"] == 0)
    return found


def report_ingest(name: str, wall: float, saved: float, agents: Agents, found: dict[str, Any],
                  devices: int) -> None:
    lat = agents.latencies
    print(f"\n{name}: {len(lat)} pushes made in {wall:.1f} s (each acknowledged or spooled); all "
          f"{found['devices']:,} devices screened and saved after {saved:.1f} s = "
          f"{found['devices'] / saved:,.0f} devices/s; per push p50 {percentile(lat, 50):.2f} s,"
          f" p99 {percentile(lat, 99):.2f} s, max {max(lat):.2f} s; {load()}")
    print(f"  counted in the database: {json.dumps(found)}")
    mb = found["database_bytes"] / 1e6
    print(f"  store {mb:,.0f} MB = {found['database_bytes'] / max(1, found['devices']):,.0f} "
          f"bytes per device stored")


def ingest(args: argparse.Namespace) -> None:
    print(f"making {args.sites} site documents of {args.devices} devices …", flush=True)
    documents = make_documents(args.sites, args.devices)
    print(f"{len(documents)} documents, {sum(map(len, documents)) / 1e6:,.0f} MB as sent; "
          f"{load()}", flush=True)
    with Cluster(PG_HOST) as pg, tempfile.TemporaryDirectory() as tmp:
        for workers in args.workers:
            db = pg.create_database(f"fleet_{workers}w")
            folder = Path(tmp) / f"w{workers}"
            folder.mkdir()
            service = Service(db, workers, folder)
            try:
                agents = Agents(service.base, service.token, args.agents, folder)
                start = time.perf_counter()
                wall = agents.run(documents)
                left = agents.drain(time.monotonic() + 120)
                saved = wait_saved(db, args.sites, time.monotonic() + 1800) - start
            finally:
                service.stop()
            found = count(db, args.sites, args.devices, agents.acknowledged)
            found["left_in_spools"] = left
            report_ingest(f"{workers} worker(s), {args.agents} agents", wall, saved, agents,
                          found, args.devices)


def faults(args: argparse.Namespace) -> None:
    print(f"making {args.sites} site documents of {args.devices} devices …", flush=True)
    documents = make_documents(args.sites, args.devices)
    workers = args.workers[-1]
    with Cluster(PG_HOST) as pg, tempfile.TemporaryDirectory() as tmp:
        db = pg.create_database("fleet_faults")
        service = Service(db, workers, Path(tmp))
        events: list[str] = []
        agents = Agents(service.base, service.token, args.agents, Path(tmp))

        def trouble() -> None:
            total = len(documents)
            while len(agents.latencies) < total * 0.25:
                time.sleep(0.2)
            victim = service.worker_pids()[0]
            os.kill(victim, signal.SIGKILL)
            events.append(f"killed worker {victim} (SIGKILL) after {len(agents.latencies)} "
                          f"pushes")
            while len(agents.latencies) < total * 0.6:
                time.sleep(0.2)
            pg.stop("fast")
            events.append(f"stopped PostgreSQL after {len(agents.latencies)} pushes")
            time.sleep(10)
            pg.start()
            events.append(f"started PostgreSQL again after {len(agents.latencies)} pushes")

        chaos = threading.Thread(target=trouble)
        chaos.start()
        try:
            start = time.perf_counter()
            wall = agents.run(documents)
            chaos.join()
            left = agents.drain(time.monotonic() + 300)
            saved = wait_saved(db, args.sites, time.monotonic() + 1800) - start
        finally:
            service.stop()
        found = count(db, args.sites, args.devices, agents.acknowledged)
        found["left_in_spools"] = left
        print("\n".join(events))
        print(f"pushes that left a document in a spool: {agents.failures}")
        report_ingest(f"faults, {workers} workers", wall, saved, agents, found, args.devices)
        if not found["all_stored_once"] or left:
            raise SystemExit("FAILED: not every document was stored exactly once")


# --- screening ------------------------------------------------------------------------------
FIELDS = ("supplier", "manufacturer", "brand", "description", "part_number")


def screen_load(base: str, token: str, clients: int, seconds: float) -> dict[str, Any]:
    rows = generate(clients * 400 * 100, seed=11)
    items = [{"id": f"B{i}", **{f: r[f] for f in FIELDS if r.get(f)}} for i, r in
             enumerate(rows)]
    batches = [items[i:i + 100] for i in range(0, len(items), 100)]
    latencies: list[float] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds
    errors = 0

    def client(n: int) -> None:
        nonlocal errors
        mine = batches[n::clients]
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            for batch in mine:
                if time.monotonic() >= stop_at:
                    return
                t = time.perf_counter()
                r = c.post(base + "/v1/screen", json={"items": batch})
                elapsed = time.perf_counter() - t
                with lock:
                    latencies.append(elapsed)
                    errors += r.status_code != 200

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {"batches": len(latencies), "errors": errors, "lines_per_s": len(latencies) * 100 /
            wall, "p50": percentile(latencies, 50), "p99": percentile(latencies, 99),
            "max": max(latencies), "mean": statistics.fmean(latencies)}


def _database_bytes(db: str) -> int:
    import sqlalchemy as sa

    engine = sa.create_engine(db)
    try:
        with engine.connect() as conn:
            return int(conn.exec_driver_sql(
                "SELECT pg_database_size(current_database())").scalar_one())
    finally:
        engine.dispose()


def screen(args: argparse.Namespace) -> None:
    with Cluster(PG_HOST) as pg, tempfile.TemporaryDirectory() as tmp:
        sides = [(f"baseline: {args.baseline_python} (the code before), SQLite, 1 process",
                  f"sqlite:///{tmp}/base.db", 1, args.baseline_python)] \
            if args.baseline_python else []
        sides += [("this tree, SQLite, 1 process", f"sqlite:///{tmp}/tree.db", 1,
                   sys.executable)]
        sides += [(f"this tree, PostgreSQL, {w} worker(s)", pg.create_database(f"screen_{w}w"),
                   w, sys.executable) for w in args.workers]
        for index, (name, db, workers, python) in enumerate(sides):
            folder = Path(tmp) / f"side-{index}"
            folder.mkdir(parents=True)
            service = Service(db, workers, folder, python)
            empty = 0 if db.startswith("sqlite") else _database_bytes(db)  # schema, no data
            try:
                result = screen_load(service.base, service.token, args.clients, args.seconds)
            finally:
                service.stop()
            size = ""
            lines = result["batches"] * 100
            if db.startswith("sqlite"):
                stem = Path(db.removeprefix("sqlite:///")).name
                files = sum(p.stat().st_size for p in Path(tmp).glob(stem + "*"))
                size = f"; SQLite files {files / lines:,.0f} bytes per line"
            else:
                size = f"; database {(_database_bytes(db) - empty) / lines:,.0f} bytes per line"
            print(f"{name}: {result['batches']} batches of 100 from {args.clients} clients in "
                  f"{args.seconds:g} s: {result['lines_per_s']:,.0f} lines/s, p50 "
                  f"{result['p50']:.2f} s, p99 {result['p99']:.2f} s, max {result['max']:.2f} s,"
                  f" errors {result['errors']}{size}; {load()}", flush=True)


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    for name in ("ingest", "faults", "screen"):
        p = sub.add_parser(name)
        p.add_argument("--workers", type=int, nargs="+", default=[1, 2])
        p.add_argument("--sites", type=int, default=1000 if name == "ingest" else 300)
        p.add_argument("--devices", type=int, default=200)
        p.add_argument("--agents", type=int, default=20)
        p.add_argument("--clients", type=int, default=20)
        p.add_argument("--seconds", type=float, default=30.0)
        p.add_argument("--baseline-python", help="screen: also run this interpreter's "
                                                 "entityscan (e.g. /usr/bin/python3 with the "
                                                 "code before) as the baseline")
    args = parser.parse_args()
    # stopped from outside: leave through the context managers (the cluster is removed)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    {"ingest": ingest, "faults": faults, "screen": screen}[args.what](args)


if __name__ == "__main__":
    main()
