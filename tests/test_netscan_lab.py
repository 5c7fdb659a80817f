"""The scanner against the simulated device lab on loopback (127.40.10.0/24): every profile,
hostile ones included, in one scan.  Accuracy is measured over the profiles' `expected`
blocks: precision and recall of Hikvision/Dahua-platform attribution, model recall; hostile
devices end unreadable with no maker; the deadline holds.  Credentials: ONVIF device
information with the user's password, a clean refusal with a wrong one."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from entityscan.scanners import lab as lab_module
from entityscan.scanners.credentials import Credentials
from entityscan.scanners.inventory import Inventory
from entityscan.scanners.scan import PortPlan, ScanOptions, scan

BASE = "127.40.10.10"
RESTRICTED = ("Hikvision", "Dahua")
DEADLINE = 30.0


def port_plan(lab: Any) -> PortPlan:
    ports = lab.port_plan
    return PortPlan.parse([f"http:{ports.http}", f"https:{ports.https}", f"rtsp:{ports.rtsp}",
                           "sdk:8000,37777", f"wsd:{ports.wsd}", f"sadp:{ports.sadp}",
                           f"dhip:{ports.dhip}"])


@pytest.fixture(scope="module")
def lab() -> Iterator[Any]:
    with lab_module.run_lab_in_thread(lab_module.load_profiles(), base=BASE) as running:
        yield running


@pytest.fixture(scope="module")
def inventory(lab: Any) -> tuple[Inventory, float]:
    last = lab.devices[-1].address
    options = ScanOptions(timeout=DEADLINE, multicast=False, ports=port_plan(lab),
                          device_budget=6.0)
    started = time.monotonic()
    result = scan([f"{BASE}-{last.rsplit('.', 1)[1]}"], options)
    return result, time.monotonic() - started


def by_address(inventory: Inventory) -> dict[str, Any]:
    return {address: device for device in inventory.devices for address in device.addresses}


def test_deadline_and_every_device_reported(lab: Any, inventory: tuple[Inventory, float]
                                            ) -> None:
    result, elapsed = inventory
    assert elapsed < DEADLINE + 1.0
    found = by_address(result)
    missing = [d.name for d in lab.devices if d.address not in found]
    assert missing == []
    assert len(result.devices) == len(lab.devices)  # no duplicates, no phantoms


def test_restricted_platform_precision_and_recall(lab: Any,
                                                  inventory: tuple[Inventory, float]) -> None:
    found = by_address(inventory[0])
    tp = fp = fn = 0
    wrong = []
    for sim in lab.devices:
        want = sim.expected.platform if sim.expected.platform in RESTRICTED else None
        device = found[sim.address]
        have = device.platform if device.platform in RESTRICTED else None
        if have and have == want:
            tp += 1
        else:
            fp += have is not None
            fn += want is not None
            if have != want:
                wrong.append((sim.name, want, have, device.reasons[:2]))
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / (tp + fn) if tp + fn else 1.0
    assert tp >= 12, "the lab should hold a dozen Hikvision/Dahua-platform devices"
    assert (precision, recall) == (1.0, 1.0), wrong


def test_makers_models_and_labels(lab: Any, inventory: tuple[Inventory, float]) -> None:
    found = by_address(inventory[0])
    restricted = [s for s in lab.devices if s.expected.maker in RESTRICTED]
    assert all(found[s.address].maker == s.expected.maker for s in restricted)
    with_model = [s for s in lab.devices if s.expected.model]
    right = [s.name for s in with_model if found[s.address].model == s.expected.model]
    assert len(right) / len(with_model) >= 0.85, sorted(
        {s.name for s in with_model} - set(right))
    # Relabels keep their label as brand while the platform names the true maker.
    lorex = found[lab.device("lorex-ipc").address]
    assert (lorex.brand, lorex.platform) == ("Lorex", "Dahua")


def test_hostile_devices_unreadable_others_readable(lab: Any,
                                                    inventory: tuple[Inventory, float]) -> None:
    found = by_address(inventory[0])
    for sim in lab.devices:
        device = found[sim.address]
        if sim.expected.readable is False:
            assert not device.readable and device.errors and device.maker is None, sim.name
        else:
            assert device.readable, (sim.name, device.errors)


def test_credentials_read_onvif_device_information(lab: Any, tmp_path: Path) -> None:
    hik, dahua = lab.device("hikvision-ipc"), lab.device("dahua-ipc")
    creds = tmp_path / "creds"
    password = hik.profile.credentials.password
    creds.write_text(f"{hik.address} {hik.profile.credentials.username} {password}\n"
                     f"{dahua.address} admin wrong-{password}\n")
    os.chmod(creds, 0o600)
    options = ScanOptions(timeout=20, multicast=False, ports=port_plan(lab),
                          credentials=Credentials.load(creds))
    result = by_address(scan([hik.address, dahua.address], options))
    device = result[hik.address]
    onvif = [e for e in device.evidence if e.probe == "onvif"]
    assert any(e.field == "Manufacturer" for e in onvif), device.evidence
    assert device.serial == hik.serial and device.mac == hik.mac
    refused = result[dahua.address]
    assert refused.platform == "Dahua" and refused.readable  # DHIP and HTTP still answered
    assert any("refused the supplied credentials" in e for e in refused.errors), refused.errors
    dump = repr(result) + "".join(d.model_dump_json() for d in result.values())
    assert password not in dump
