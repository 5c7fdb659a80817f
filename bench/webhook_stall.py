"""Whole-process benchmark: does a webhook receiver that never answers slow the service?

For each side (this tree, and a baseline interpreter whose `entityscan` is another checkout,
e.g. the machine-wide install of main), in one run:

  1. a black-hole receiver on loopback: it accepts connections and never answers;
  2. `entityscan serve` as its own process, with ENTITYSCAN_WEBHOOK_URL pointing at it;
  3. 45 batches of flagged line items posted at once (each has a webhook event to send);
  4. two seconds later, with those batches and their events in flight, GET /healthz and
     POST /v1/screen with 100 clear items, `--samples` times each, one after the other:
     latency p50 and max.

Only loopback (127.61.10.0/24) is used.

    python bench/webhook_stall.py [--baseline-python /usr/bin/python3] [--samples 10]
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
HOST = "127.61.10.1"
HOLE = "127.61.10.2"
FLAGGED = {"items": [{"id": f"F-{i}", "brand": "Dahua", "description": "NVR"}
                     for i in range(10)]}
CLEAR = {"items": [{"id": f"C-{i}", "supplier": "Dell", "description": "laptop, 14 inch"}
                   for i in range(100)]}


class BlackHole:
    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind((HOLE, 0))
        self.sock.listen(1024)
        self.url = f"http://{HOLE}:{self.sock.getsockname()[1]}/hook"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.held.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.held:
            conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def run_side(python: str, hole: BlackHole, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "ENTITYSCAN_DATA_DIR": tmp, "ENTITYSCAN_WEBHOOK_URL": hole.url}
        env.pop("ENTITYSCAN_DB", None)
        cwd = ROOT if python == sys.executable else tmp  # never import this tree by accident
        token = subprocess.run([python, "-m", "entityscan", "tokens", "add", "bench"], cwd=cwd,
                               env=env, capture_output=True, text=True, check=True
                               ).stdout.strip()
        port = free_port()
        proc = subprocess.Popen([python, "-m", "entityscan", "serve", "--host", HOST,
                                 "--port", str(port)], cwd=cwd, env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base = f"http://{HOST}:{port}"
        headers = {"Authorization": f"Bearer {token}"}
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            idle = measure(base, headers, samples)
            with ThreadPoolExecutor(max_workers=45) as pool:
                posts = [pool.submit(httpx.post, base + "/v1/screen", json=FLAGGED,
                                     headers=headers, timeout=600) for _ in range(45)]
                time.sleep(2.0)  # all 45 in flight, their webhook events stuck
                stalled = measure(base, headers, samples)
                assert {f.result().status_code for f in posts} == {200}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
    return {"idle": idle, "in flight": stalled}


def measure(base: str, headers: dict[str, str], samples: int) -> dict[str, list[float]]:
    """`samples` x (GET /healthz, then POST /v1/screen with 100 clear items): seconds each."""
    healthz, screen = [], []
    for _ in range(samples):
        t = time.perf_counter()
        httpx.get(base + "/healthz", timeout=600).raise_for_status()
        healthz.append(time.perf_counter() - t)
        t = time.perf_counter()
        httpx.post(base + "/v1/screen", json=CLEAR, headers=headers,
                   timeout=600).raise_for_status()
        screen.append(time.perf_counter() - t)
    return {"healthz": healthz, "100-item screen": screen}


def show(name: str, result: dict[str, Any]) -> None:
    for when, timings in result.items():
        for what, values in timings.items():
            print(f"{name:<10} {when:<10} {what:<16} p50 {1000 * statistics.median(values):9.1f}"
                  f" ms   max {1000 * max(values):9.1f} ms   ({len(values)} samples)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-python", help="an interpreter whose `entityscan` is the "
                                                  "baseline (e.g. the install of main)")
    parser.add_argument("--samples", type=int, default=10)
    parser.add_argument("--baseline-samples", type=int, default=3,
                        help="samples on the baseline (each may take ~30 s)")
    args = parser.parse_args()
    hole = BlackHole()
    try:
        print(f"45 flagged batches posted at once, webhook receiver {hole.url} never answers;"
              f" then /healthz and a 100-item clear screen, one after the other")
        print(f"load average before: {os.getloadavg()[0]:.2f}")
        show("this tree", run_side(sys.executable, hole, args.samples))
        if args.baseline_python:
            show("baseline", run_side(args.baseline_python, hole, args.baseline_samples))
        print(f"load average after: {os.getloadavg()[0]:.2f}")
    finally:
        hole.close()


if __name__ == "__main__":
    main()
