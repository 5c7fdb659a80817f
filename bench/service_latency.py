"""Whole-process benchmark: the HTTP screening service under 100-item batches.

Starts `entityscan serve` as a separate process (SQLite store in a temporary data dir, one API
token), then from this client process measures, side by side in one run:

  service   POST /v1/screen, 100 line items per batch (screening + decisions + audit write)
  library   the same batches screened in-process with entityscan.screening.screen_items
            (what the service adds: HTTP, JSON, auth, store, audit)
  healthz   GET /healthz round trips (the HTTP floor of this machine)
  service×C the POST batches from C client threads at once (throughput under load)

and prints p50/p99 latency, batches/s and items/s, and the ratios service/library and
service/healthz.  Only loopback (127.60.10.1) is used.

    python bench/service_latency.py [--batches 200] [--size 100] [--concurrency 4]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.make_items import generate  # noqa: E402

HOST = "127.60.10.1"
FIELDS = ("supplier", "manufacturer", "brand", "description", "part_number")


def batches(count: int, size: int) -> list[list[dict[str, Any]]]:
    rows = generate(count * size, seed=11)
    items = [{"id": f"B{i}", **{f: r[f] for f in FIELDS if r.get(f)}} for i, r in
             enumerate(rows)]
    return [items[i:i + size] for i in range(0, len(items), size)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def row(name: str, latencies: list[float], wall: float, items_per_call: int) -> dict[str, Any]:
    return {"name": name, "p50_ms": 1000 * percentile(latencies, 50),
            "p99_ms": 1000 * percentile(latencies, 99),
            "mean_ms": 1000 * statistics.fmean(latencies),
            "calls_per_s": len(latencies) / wall,
            "items_per_s": len(latencies) * items_per_call / wall}


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def start_server(data: Path) -> tuple[subprocess.Popen[bytes], str, str]:
    env = {**os.environ, "ENTITYSCAN_DATA_DIR": str(data)}
    env.pop("ENTITYSCAN_DB", None)
    token = subprocess.run([sys.executable, "-m", "entityscan", "tokens", "add", "bench"],
                           cwd=ROOT, env=env, capture_output=True, text=True, check=True
                           ).stdout.strip()
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "entityscan", "serve", "--host", HOST,
                             "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    base = f"http://{HOST}:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                return proc, base, token
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the service did not start")


def bench_service(client: httpx.Client, base: str, work: list[list[dict[str, Any]]]
                  ) -> tuple[list[float], float]:
    latencies = []
    start = time.perf_counter()
    for batch in work:
        t = time.perf_counter()
        r = client.post(base + "/v1/screen", json={"items": batch})
        latencies.append(time.perf_counter() - t)
        r.raise_for_status()
    return latencies, time.perf_counter() - start


def bench_concurrent(base: str, token: str, work: list[list[dict[str, Any]]], threads: int
                     ) -> tuple[list[float], float]:
    latencies: list[float] = []
    lock = threading.Lock()
    chunks = [work[i::threads] for i in range(threads)]

    def client(chunk: list[list[dict[str, Any]]]) -> None:
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
            own, _ = bench_service(c, base, chunk)
        with lock:
            latencies.extend(own)

    pool = [threading.Thread(target=client, args=(chunk,)) for chunk in chunks]
    start = time.perf_counter()
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return latencies, time.perf_counter() - start


def bench_library(work: list[list[dict[str, Any]]]) -> tuple[list[float], float]:
    from entityscan.hooks import make_plugin_manager
    from entityscan.hooktypes import Settings
    from entityscan.model import LineItem
    from entityscan.screening import ScreeningContext, screen_items

    ctx = ScreeningContext.load(hooks=make_plugin_manager(Settings(load_entrypoints=False)))
    parsed = [[LineItem(**item) for item in batch] for batch in work]
    screen_items(parsed[0], ctx)  # warm caches like the server's first request does
    latencies = []
    start = time.perf_counter()
    for batch in parsed:
        t = time.perf_counter()
        screen_items(batch, ctx)
        latencies.append(time.perf_counter() - t)
    return latencies, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument("--size", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=4)
    args = parser.parse_args()
    work = batches(args.batches + 5, args.size)
    warmup, work = work[:5], work[5:]
    with tempfile.TemporaryDirectory() as tmp:
        proc, base, token = start_server(Path(tmp))
        try:
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=60) as c:
                bench_service(c, base, warmup)
                service = row("service POST /v1/screen", *bench_service(c, base, work),
                              args.size)
                health_lat, health_wall = [], 0.0
                start = time.perf_counter()
                for _ in range(len(work)):
                    t = time.perf_counter()
                    c.get(base + "/healthz").raise_for_status()
                    health_lat.append(time.perf_counter() - t)
                health_wall = time.perf_counter() - start
            concurrent = row(f"service ×{args.concurrency} clients",
                             *bench_concurrent(base, token, work, args.concurrency), args.size)
        finally:
            proc.terminate()
            proc.wait(timeout=20)
    library = row("library screen_items (in-process)", *bench_library(work), args.size)
    health = row("GET /healthz round trip", health_lat, health_wall, 0)
    print(f"{len(work)} batches of {args.size} line items; server and client are separate "
          f"processes on {HOST}; CPUs: {os.cpu_count()}, load avg "
          f"{os.getloadavg()[0]:.1f}\n")
    print(f"{'':36} {'p50 ms':>9} {'p99 ms':>9} {'calls/s':>9} {'items/s':>9}")
    for r in (service, concurrent, library, health):
        print(f"{r['name']:36} {r['p50_ms']:9.1f} {r['p99_ms']:9.1f} {r['calls_per_s']:9.1f} "
              f"{r['items_per_s']:9.0f}")
    print(f"\nratios: service/library p50 {service['p50_ms'] / library['p50_ms']:.2f}×, "
          f"p99 {service['p99_ms'] / library['p99_ms']:.2f}×; "
          f"service/healthz p50 {service['p50_ms'] / health['p50_ms']:.1f}×; "
          f"×{args.concurrency} clients throughput / 1 client "
          f"{concurrent['items_per_s'] / service['items_per_s']:.2f}×")


if __name__ == "__main__":
    main()
