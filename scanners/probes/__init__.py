"""Identification probes, read-only: HTTP, TLS, RTSP, ONVIF, neighbour table.

Each probe returns `Observations`: raw signals (a signal kind, the value seen, which probe and
field) for the signature engine, plain facts (model, serial, MAC …), errors, and whether the
device gave any well-formed answer.  Probes never judge makers themselves.
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Seconds one exchange with a device may take (connect, ask, read the answer).  Devices on a
#: network answer in milliseconds; one slower than this is reported as slow, and a scan's wall
#: time is bounded by its slowest device, so this cap is the scan's floor.
ANSWER_TIMEOUT = 2.5


@dataclass(frozen=True)
class Signal:
    kind: str
    value: str
    probe: str
    field: str


@dataclass
class Observations:
    signals: list[Signal] = field(default_factory=list)
    facts: dict[str, str] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    answered: bool = False
    #: The device sent something hostile (an XML bomb, an oversized answer, a flood).
    hostile: bool = False

    def signal(self, kind: str, value: str | None, probe: str, field_name: str, *,
               limit: int = 512) -> None:
        if value:
            self.signals.append(Signal(kind, value[:limit], probe, field_name))

    def fact(self, name: str, value: str | None) -> None:
        if value and value.strip() and name not in self.facts:
            self.facts[name] = value.strip()[:256]

    def extend(self, other: Observations) -> None:
        self.signals.extend(other.signals)
        for key, value in other.facts.items():
            self.fact(key, value)
        self.errors.extend(other.errors)
        self.answered = self.answered or other.answered
        self.hostile = self.hostile or other.hostile


def host_for_url(address: str) -> str:
    return f"[{address}]" if ":" in address else address
