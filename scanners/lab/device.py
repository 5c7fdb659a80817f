"""A profile placed on an address: what tests get back from a running lab."""

from __future__ import annotations

import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from entityscan.scanners.lab.profiles import DeviceProfile, Expected, render, render_obj


@dataclass
class SimDevice:
    """One simulated device: `name`, `address`, `ports` (protocol -> port), `profile`."""

    name: str
    address: str
    ports: dict[str, int]
    profile: DeviceProfile
    _nonces: OrderedDict[str, None] = field(default_factory=OrderedDict, repr=False)
    _tokens: dict[str, str] | None = field(default=None, repr=False)

    @property
    def mac(self) -> str:
        return self.profile.mac

    @property
    def serial(self) -> str:
        return self.profile.serial

    @property
    def expected(self) -> Expected:
        return self.profile.expected

    def url(self, protocol: str = "http", path: str = "/") -> str:
        """e.g. `http://127.77.0.10:8080/`, `rtsp://…:8554/`."""
        return f"{protocol}://{self.address}:{self.ports[protocol]}{path}"

    @property
    def tokens(self) -> dict[str, str]:
        if self._tokens is None:
            self._tokens = self.profile.tokens(self.address, self.ports)
        return self._tokens

    def render(self, text: str) -> str:
        return render(text, self.tokens)

    def render_obj(self, value: Any) -> Any:
        return render_obj(value, self.tokens)

    # Digest nonces: remembered (bounded) so a stale or invented nonce is refused.
    def new_nonce(self) -> str:
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = None
        while len(self._nonces) > 4096:
            self._nonces.popitem(last=False)
        return nonce

    def knows_nonce(self, nonce: str) -> bool:
        return nonce in self._nonces
