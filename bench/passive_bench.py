"""Passive-scan throughput: `entityscan passive` on a generated multi-gigabyte capture, side by
side with `tcpdump -r FILE -w /dev/null` (reading and re-writing every packet, no decoding) in
the same run, both whole processes, with their wall time, MB/s and peak memory.

The capture (generated in a temporary directory, deleted afterwards): bulk TCP transfers in
full-size segments with their ACKs, unrelated UDP, complete HTTP responses from ordinary web
servers, responses that announce large bodies and never finish (reassembly pressure), and
`--devices` Hikvision and Dahua cameras whose SADP/DHIP replies and HTTP answers are sprinkled
through it; the run checks they are all flagged and nothing else is.

    python bench/passive_bench.py [--gib 2] [--devices 20] [--keep]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.lab.clients import dhip_frame  # noqa: E402
from tests.passive_frames import tcp, tcp_stream, udp  # noqa: E402

CLIENT = "10.250.0.2"


def _camera_frames(n: int) -> list[bytes]:
    """Frames showing camera `n`: Hikvision (even n) or Dahua (odd n)."""
    address = f"10.250.1.{10 + n}"
    if n % 2 == 0:
        mac = f"44:19:b6:01:00:{n:02x}"
        reply = (f'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>{n}</Uuid>'
                 "<Types>inquiry</Types><DeviceDescription>DS-2CD2143G2-I</DeviceDescription>"
                 f"<DeviceSN>DS-2CD2143G2-I20220315AAWR{n:09d}</DeviceSN></ProbeMatch>")
        frames = [udp(address, "239.255.255.250", 37020, 37020, reply.encode(), src_mac=mac)]
        server = "App-webs/"
    else:
        mac = f"3c:ef:8c:01:00:{n:02x}"
        body = json.dumps({"mac": mac, "method": "client.notifyDevInfo", "params": {
            "deviceInfo": {"DeviceType": "IPC-HFW2431S-S-S2", "SerialNo": f"6G0{n:012d}",
                           "Vendor": "Dahua", "DeviceClass": "IPC"}}}).encode()
        frames = [udp(address, CLIENT, 37810, 40000, dhip_frame(body), src_mac=mac)]
        server = "Webs"
    frames += tcp_stream(address, CLIENT, 80, 30000 + n,
                         f"HTTP/1.1 200 OK\r\nServer: {server}\r\nContent-Length: 5\r\n\r\n"
                         "hello".encode(), src_mac=mac)
    return frames


def _pool(rng: random.Random) -> list[bytes]:
    """A few thousand frames of ordinary traffic, cycled through the capture."""
    pool: list[bytes] = []
    for flow in range(400):  # bulk transfers: full segments and their ACKs
        server, port = f"10.250.2.{flow % 200 + 1}", 20000 + flow
        for k in range(6):
            pool.append(tcp(server, CLIENT, 443, port, bytes([flow % 251]) * 1448,
                            seq=1 + k * 1448, src_mac="02:10:00:00:00:01"))
            pool.append(tcp(CLIENT, server, port, 443, b"", seq=1, src_mac="02:10:00:00:00:02"))
    for n in range(300):  # DNS-like UDP
        pool.append(udp(CLIENT, "10.250.3.1", 50000 + n, 53, rng.randbytes(40)))
    for n in range(100):  # complete answers from ordinary web servers
        pool += tcp_stream(f"10.250.4.{n + 1}", CLIENT, 80, 45000 + n,
                           b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 3000\r\n\r\n"
                           + b"<html>" + b"z" * 2994, src_mac="02:10:00:00:00:03")
    for n in range(100):  # responses announcing 50 MB that never finish
        pool.append(tcp(f"10.250.5.{n + 1}", CLIENT, 8080, 46000 + n,
                        b"HTTP/1.1 200 OK\r\nContent-Length: 50000000\r\n\r\n" + b"y" * 1400,
                        seq=1, src_mac="02:10:00:00:00:04"))
    rng.shuffle(pool)
    return pool


def write_capture(path: Path, size: int, *, devices: int = 20, seed: int = 14) -> int:
    """A pcap of about `size` bytes; returns the number of packets."""
    rng = random.Random(seed)
    pool = _pool(rng)
    cameras = [f for n in range(devices) for f in _camera_frames(n)]
    records = [struct.pack("<IIII", 0, 0, len(f), len(f)) + f for f in pool]
    cycle_bytes = sum(len(r) for r in records)
    every = max(1, size // cycle_bytes // max(1, len(cameras) + 1))  # spread them out
    count = cycle = 0
    with open(path, "wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        written = 24
        second = 1_700_000_000
        chunk = bytearray()
        while written < size or cameras:
            if cameras and (cycle % every == 0 or written >= size):
                frame = cameras.pop(0)
                chunk += struct.pack("<IIII", second, 0, len(frame), len(frame)) + frame
                count += 1
            if written < size:
                for record in records:
                    chunk += struct.pack("<I", second) + record[4:]
                count += len(records)
            cycle += 1
            second += 1
            if len(chunk) > 8 * 1024 * 1024 or (written >= size and not cameras):
                out.write(chunk)
                written += len(chunk)
                chunk.clear()
        out.write(chunk)
    return count


def _peak_kib(pid: int) -> int:
    """The process's own resident high-water mark (VmHWM).  Not `ru_maxrss`: on Linux a child
    inherits its parent's high-water mark across fork or vfork and exec, so this benchmark's
    own memory would be reported as the child's."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


def run(command: list[str]) -> tuple[float, float, int, str]:
    """(seconds, peak MiB, exit code, stderr tail) of one whole process; the peak is sampled
    every 10 ms from /proc while it runs."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)
    peak = 0
    while process.poll() is None:
        peak = max(peak, _peak_kib(process.pid))
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    err = process.stderr.read().decode(errors="replace") if process.stderr else ""
    return elapsed, peak / 1024, process.returncode, err[-500:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gib", type=float, default=2.0, help="capture size in GiB")
    parser.add_argument("--devices", type=int, default=20)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="es-passive-bench-"))
    try:
        capture = folder / "capture.pcap"
        started = time.perf_counter()
        packets = write_capture(capture, int(args.gib * 1024 ** 3), devices=args.devices)
        size_mb = capture.stat().st_size / 1e6
        print(f"capture: {size_mb:,.0f} MB, {packets:,} packets, written in "
              f"{time.perf_counter() - started:.1f}s; load average {os.getloadavg()[0]:.2f}")
        rows = []
        tcpdump = shutil.which("tcpdump")
        if tcpdump:
            rows.append(("tcpdump -r FILE -w /dev/null",
                         run([tcpdump, "-r", str(capture), "-w", "/dev/null"])))
        else:
            print("tcpdump not installed: no baseline (apt-get install tcpdump)")
        out = folder / "passive.json"
        rows.append(("entityscan passive FILE -f json",
                     run([sys.executable, "-m", "entityscan", "passive", str(capture), "-f",
                          "json", "-o", str(out)])))
        print(f"{'command':<36} {'seconds':>8} {'MB/s':>8} {'peak MiB':>9} {'exit':>5}")
        for name, (seconds, peak, code, _err) in rows:
            print(f"{name:<36} {seconds:8.1f} {size_mb / seconds:8.1f} {peak:9.0f} {code:5d}")
        doc = json.loads(out.read_text())
        flagged = [d for d in doc["devices"] if d["verdict"] == "flagged"]
        cameras = sum(1 for d in flagged if d["addresses"][0].startswith("10.250.1."))
        print(f"cameras flagged: {cameras} of {args.devices}; other devices flagged: "
              f"{len(flagged) - cameras}; load average {os.getloadavg()[0]:.2f}")
        return 0 if cameras == args.devices == len(flagged) else 1
    finally:
        if args.keep:
            print(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
