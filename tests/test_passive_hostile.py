"""Corrupt and hostile captures: truncated files, bad lengths, garbage packets, bombs, and a
large capture of other traffic end with a clear message or a clean result, never a crash or
unbounded memory."""

from __future__ import annotations

import json
import os
import random
import resource
import struct
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from entityscan.cli import main
from entityscan.scanners.passive import CaptureError, PassiveScan, read_captures
from entityscan.scanners.passive.capture import Packet, read_capture
from entityscan.scanners.passive.chatter import read_datagram
from entityscan.scanners.passive.frames import dissect
from entityscan.scanners.passive.streams import StreamTable
from tests.passive_frames import CaptureWriter, dhcp_request, tcp, tcp_stream, udp

ROOT = Path(__file__).resolve().parent.parent
CLIENT = "10.249.0.2"
SADP = (b'<?xml version="1.0" encoding="UTF-8"?><ProbeMatch><Uuid>1</Uuid><Types>inquiry'
        b"</Types><DeviceDescription>DS-2CD2143G2-I</DeviceDescription><DeviceSN>"
        b"DS-2CD2143G2-I20220315AAWR123456789</DeviceSN></ProbeMatch>")


def _good(path: Path, *, ng: bool = False, copies: int = 1, first: int = 0) -> Path:
    w = CaptureWriter(path, ng=ng)
    for n in range(first, first + copies):
        w.add(udp(f"10.249.0.{10 + n}", "239.255.255.250", 37020, 37020,
                  SADP.replace(b"123456789", b"12345678" + str(n).encode()),
                  src_mac=f"44:19:b6:00:00:{n + 1:02x}"))
    w.close()
    return path


@pytest.mark.parametrize("ng", [False, True])
def test_truncated_capture_keeps_what_came_before(tmp_path: Path, ng: bool,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = _good(tmp_path / "cut.pcap", copies=3, ng=ng)
    data = path.read_bytes()
    path.write_bytes(data[:-40])  # a capture stopped mid-write
    out = tmp_path / "out.json"
    assert main(["passive", str(path), "-f", "json", "-o", str(out)]) == 1  # flagged, no error
    err = capsys.readouterr().err
    assert "warning" in err and "truncated at byte" in err and "after 2 packets" in err
    assert len(json.loads(out.read_text())["devices"]) == 2


@pytest.mark.parametrize("ng", [False, True])
def test_a_huge_length_field_is_refused_without_reading_it(tmp_path: Path, ng: bool,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    path = _good(tmp_path / "bad.cap", ng=ng, copies=2)
    data = bytearray(path.read_bytes())
    if ng:  # the second Enhanced Packet Block's total length
        second = data.index(b"\x06\x00\x00\x00", data.index(b"\x06\x00\x00\x00") + 8)
        data[second + 4:second + 8] = struct.pack("<I", 0xFFFFFFF0)
    else:  # the second record's captured length
        second = 24 + 16 + struct.unpack_from("<I", data, 24 + 8)[0]
        data[second + 8:second + 12] = struct.pack("<I", 0xFFFFFFF0)
    path.write_bytes(bytes(data))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    code = main(["passive", str(path), str(_good(tmp_path / "other.pcap", first=5)), "-f", "json",
                 "-o", str(tmp_path / "out.json")])
    err = capsys.readouterr().err
    assert code == 2
    assert f"{path}: byte {second}" in err and "corrupt" in err
    assert "1 of 2 captures could not be read" in err
    # the good file and the bad file's first packet were still screened
    assert len(json.loads((tmp_path / "out.json").read_text())["devices"]) == 2
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 100 * 1024  # KiB


@pytest.mark.parametrize(("content", "fragment"), [
    (b"", "empty"),
    (b"GIF89a" + b"\x00" * 100, "not a pcap or pcapng capture"),
    (b"\xd4\xc3\xb2\xa1\x02\x00", "truncated pcap file header"),
    (b"\x0a\x0d\x0d\x0a" + struct.pack("<I", 7) + b"\x4d\x3c\x2b\x1a", "block length 7"),
])
def test_files_that_are_not_captures_get_a_clear_message(tmp_path: Path, content: bytes,
                                                         fragment: str) -> None:
    path = tmp_path / "x.pcap"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match=fragment), open(path, "rb") as stream:
        list(read_capture(stream, name=str(path)))


def test_corrupt_gzip_compression_is_reported(tmp_path: Path) -> None:
    import gzip

    data = gzip.compress(_good(tmp_path / "x.pcap", copies=2).read_bytes())
    path = tmp_path / "x.pcap.gz"
    path.write_bytes(data[:len(data) // 2] + b"\x00" * 64)
    inventory = read_captures([path])
    assert inventory.errors[0].probe == "capture"
    assert inventory.errors[0].message.startswith(f"{path}: ")


def test_pcapng_packet_naming_an_undescribed_interface(tmp_path: Path) -> None:
    path = _good(tmp_path / "x.pcapng", ng=True)
    data = bytearray(path.read_bytes())
    epb = data.index(b"\x06\x00\x00\x00")
    data[epb + 8:epb + 12] = struct.pack("<I", 7)
    path.write_bytes(bytes(data))
    inventory = read_captures([path])
    assert inventory.devices == []
    assert "names interface 7" in inventory.errors[0].message


def test_garbage_and_hostile_payloads_end_clean(tmp_path: Path) -> None:
    path = tmp_path / "hostile.pcap"
    w = CaptureWriter(path)
    rng = random.Random(7)
    for _ in range(300):  # frames of random bytes with valid capture records
        w.add(bytes(rng.getrandbits(8) for _byte in range(rng.randrange(0, 200))))
    bomb = (b'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY a "aaaaaaaaaa">'
            b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;">]><ProbeMatch>&b;</ProbeMatch>')
    w.add(udp("10.249.0.20", "239.255.255.250", 37020, 37020, bomb, src_mac="44:19:b6:00:00:20"))
    w.add(udp("10.249.0.21", CLIENT, 37810, 5000, b"\x20\x00\x00\x00DHIP" + b"\xff" * 40,
              src_mac="02:00:00:00:00:21"))
    w.add(udp("10.249.0.22", CLIENT, 3702, 5000, b"<not xml", src_mac="02:00:00:00:00:22"))
    w.add(udp("10.249.0.23", CLIENT, 5353, 5353, b"\x00\x00\x84\x00\xff\xff" + b"\x00" * 6,
              src_mac="02:00:00:00:00:23"))
    w.add(udp("0.0.0.0", "255.255.255.255", 68, 67, b"\x01\x01\x06" + b"\x00" * 20))
    w.add(dhcp_request("02:00:00:00:00:26", hostname="\x1b]0;owned\x07\x1b[31mcam",
                       vendor="\x1b[2Jvendor", requested="10.249.0.26"))
    # an endless response head (never a blank line), and an XML bomb in an ONVIF answer
    w.add(*tcp_stream("10.249.0.24", CLIENT, 80, 40000,
                      b"HTTP/1.1 200 OK\r\n" + b"X-Pad: aaaa\r\n" * 4000, segment=1400))
    w.add(tcp(CLIENT, "10.249.0.25", 40001, 80, b"POST /onvif/device_service HTTP/1.1\r\n\r\n"))
    body = b'<?xml version="1.0"?><!DOCTYPE s [<!ENTITY x "y">]><s:Envelope>&x;</s:Envelope>'
    w.add(*tcp_stream("10.249.0.25", CLIENT, 80, 40001,
                      b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(body) + body,
                      src_mac="44:19:b6:00:00:25"))
    w.close()
    inventory = read_captures([path])
    devices = {d.addresses[0]: d for d in inventory.devices if d.addresses}
    assert any("unreadable datagram" in e for e in devices["10.249.0.20"].errors)
    assert devices["10.249.0.25"].maker is None  # hostile: attribution withheld
    assert any("hostile XML" in e for e in devices["10.249.0.25"].errors)
    assert not [d for d in inventory.devices if d.maker not in (None, "Hikvision")]
    shown = " ".join(e.value for d in inventory.devices for e in d.evidence)
    assert "\x1b" not in shown and "\x07" not in shown and "owned" in shown


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(min_value=0, max_value=300), st.binary(max_size=400),
       st.integers(min_value=0, max_value=65535), st.integers(min_value=0, max_value=65535))
def test_no_bytes_make_the_readers_raise(linktype: int, data: bytes, sport: int,
                                         dport: int) -> None:
    dissect(linktype, data)
    with __import__("contextlib").suppress(ValueError):  # counted as garbage by the caller
        try:
            read_datagram(sport, dport, data, "10.249.0.99")
        except Exception as exc:  # any parser failure must be a ValueError-like refusal
            assert isinstance(exc, ValueError | UnicodeError | RecursionError), exc
            raise ValueError from exc
    table = StreamTable(lambda r: None, lambda *a: None)
    table.segment(b"\x01" * 4, sport, b"\x02" * 4, dport, 0, 0, b"HTTP/1.1 200 OK\r\n" + data)
    table.segment(b"\x01" * 4, sport, b"\x02" * 4, dport, len(data) + 17, 1, data)
    table.finish_all()


def test_reassembly_memory_stays_within_its_budget() -> None:
    job = PassiveScan()
    frames = []
    # 20,000 responses that announce 10 MB bodies and never finish, 4 KiB each
    for n in range(20000):
        frames.append(tcp(f"10.249.{n // 250}.{n % 250}", CLIENT, 80, 1024 + n % 60000,
                          b"HTTP/1.1 200 OK\r\nContent-Length: 10000000\r\n\r\n" + b"x" * 4000,
                          seq=1))
    job.feed(Packet(float(n), 1, f) for n, f in enumerate(frames))
    assert len(job.streams.flows) <= 4096
    assert job.streams.buffered <= 64 * 1024 * 1024
    job.inventory()


@pytest.mark.slow
def test_a_gigabyte_of_other_traffic_streams_in_bounded_memory(tmp_path: Path) -> None:
    """1 GiB of bulk TCP, unrelated UDP and half-open HTTP responses: read whole, in a child
    process whose peak memory is measured."""
    sys.path.insert(0, str(ROOT))
    from bench.passive_bench import write_capture

    path = tmp_path / "other.pcap"
    write_capture(path, 1024 * 1024 * 1024, devices=0)
    result = subprocess.run(
        [sys.executable, "-c", "import sys\n"
         "from entityscan.cli import main\n"
         "code = main(['passive', sys.argv[1], '-f', 'json', '-o', sys.argv[2]])\n"
         # VmHWM, not ru_maxrss: a child inherits its parent's (pytest's) ru_maxrss on Linux
         "print([l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])"
         "\nsys.exit(code)", str(path), str(tmp_path / "out.json")],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert result.returncode == 0, result.stderr[-2000:]
    peak_mib = int(result.stdout.split()[-1]) / 1024
    print(f"\n1 GiB of other traffic: peak {peak_mib:.0f} MiB")
    assert peak_mib < 300, peak_mib
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["summary"]["flagged"] == 0 and doc["parameters"]["packets"] > 500_000


def test_a_gateway_full_of_far_servers_crowds_no_camera_out(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    from entityscan.scanners.passive import hosts

    monkeypatch.setattr(hosts, "MAX_HOSTS", 200)
    job = PassiveScan()
    frames = [tcp(f"151.101.{n // 250}.{n % 250 + 1}", CLIENT, 443, 40000 + n, b"", seq=1,
                  flags=0x12) for n in range(1000)]  # SYN-ACKs of 1,000 far servers
    frames.append(udp("10.249.0.30", "239.255.255.250", 37020, 37020, SADP,
                      src_mac="44:19:b6:00:00:30"))
    job.feed(Packet(float(n + 1), 1, f) for n, f in enumerate(frames))
    assert len(job.table.hosts) <= 101
    assert [d.maker for d in job.inventory().devices] == ["Hikvision"]
