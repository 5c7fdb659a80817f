"""TCP reassembly of what servers say: HTTP and RTSP responses, TLS server handshakes.

Only flows whose server side starts with `HTTP/`, `RTSP/` or a TLS ServerHello are followed
(everything else costs one dictionary lookup per segment), and only within caps: a response
head of at most 16 KiB, a body kept up to 64 KiB (the rest is counted, not kept), at most 16
responses or 1 MiB per flow, at most MAX_STREAMS flows and MAX_BUFFERED bytes held in all
(the oldest flow is dropped first).  Segments are put in order by sequence number; a
retransmission is trimmed, a gap waits (bounded) and a flow whose gap never fills is read up
to the gap when it ends.  The requests clients sent on the same connections are remembered
(method and target only) so each response knows what it answered.
"""

from __future__ import annotations

import zlib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from entityscan.scanners.netutil import header_fields
from entityscan.scanners.passive.tls import server_handshake

HEAD_LIMIT = 16 * 1024
BODY_LIMIT = 64 * 1024
TLS_LIMIT = 64 * 1024
MAX_RESPONSES = 16
MAX_FLOW_BYTES = 1024 * 1024
MAX_STREAMS = 4096
MAX_BUFFERED = 64 * 1024 * 1024
MAX_PENDING = 64
MAX_REQUEST_FLOWS = 8192
WINDOW = 1 << 20
FIN, RST = 0x01, 0x04

REQUEST_METHODS = (b"GET ", b"POST ", b"HEAD ", b"PUT ", b"OPTIONS ", b"DESCRIBE ",
                   b"SETUP ", b"PLAY ", b"GET_PARAMETER ", b"SUBSCRIBE ", b"M-SEARCH ")

Key = tuple[bytes, int, bytes, int]


@dataclass
class Response:
    """One HTTP or RTSP response, as reassembled."""

    protocol: str  # http | rtsp
    server: bytes
    port: int
    status: int
    headers: dict[str, str]
    body: bytes
    truncated: bool
    request: tuple[str, str] | None  # (method, target) it answered, when seen


@dataclass
class _Flow:
    kind: str  # http | rtsp | tls
    key: Key
    next_seq: int
    data: bytearray = field(default_factory=bytearray)
    pending: dict[int, bytes] = field(default_factory=dict)
    consumed: int = 0
    responses: int = 0
    # the response whose body is being read: (status, headers, need, chunked, head_len)
    current: tuple[int, dict[str, str], int, bool] | None = None
    body: bytearray = field(default_factory=bytearray)
    body_seen: int = 0


def parse_head(head: bytes) -> tuple[str, int, dict[str, str]] | None:
    """(protocol, status, headers with lower-case names) of a response head, else None."""
    lines = head.decode("latin-1").split("\r\n")
    first = lines[0].split(" ", 2)
    if len(first) < 2 or not first[0].startswith(("HTTP/", "RTSP/")):
        return None
    try:
        status = int(first[1])
    except ValueError:
        return None
    # several authentication challenges: keep them all
    headers = header_fields(lines[1:64], value_limit=1024, joined=frozenset({"www-authenticate"}))
    return first[0][:4].lower(), status, headers


def decode_body(body: bytes, encoding: str | None) -> bytes:
    """Undo gzip/deflate, never expanding past BODY_LIMIT."""
    if encoding and encoding.lower() in ("gzip", "deflate"):
        try:
            return zlib.decompressobj(31 if encoding.lower() == "gzip" else 15).decompress(
                body, BODY_LIMIT)
        except zlib.error:
            return b""
    return body


def _dechunk(raw: bytes) -> bytes:
    out = bytearray()
    pos = 0
    while pos < len(raw) and len(out) < BODY_LIMIT:
        line_end = raw.find(b"\r\n", pos, pos + 64)
        if line_end < 0:
            break
        try:
            size = int(raw[pos:line_end].split(b";")[0].strip() or b"0", 16)
        except ValueError:
            break
        if size == 0:
            break
        out += raw[line_end + 2:line_end + 2 + size]
        pos = line_end + 2 + size + 2
    return bytes(out[:BODY_LIMIT])


class StreamTable:
    """Follows server responses on TCP; see the module docstring."""

    def __init__(self, on_response: Callable[[Response], None],
                 on_tls: Callable[[bytes, int, bytes], None]) -> None:
        self.on_response = on_response
        self.on_tls = on_tls
        self.flows: dict[Key, _Flow] = {}
        self.requests: dict[Key, deque[tuple[str, str]]] = {}
        self.buffered = 0
        self.dropped = 0  # flows given up for the memory budget

    def segment(self, src: bytes, sport: int, dst: bytes, dport: int, seq: int, flags: int,
                payload: bytes) -> None:
        key = (src, sport, dst, dport)
        flow = self.flows.get(key)
        if flow is None:
            if not payload:
                return
            head = payload[:6]
            if head.startswith((b"HTTP/1", b"RTSP/1")):
                flow = self._open("rtsp" if head.startswith(b"RTSP") else "http", key, seq)
            elif head[:2] == b"\x16\x03" and len(payload) > 5 and payload[5] == 2:
                flow = self._open("tls", key, seq)
            else:
                if payload.startswith(REQUEST_METHODS):
                    self._request(key, payload)
                return
        if payload:
            self._add(flow, seq, payload)
        if flags & (FIN | RST) and key in self.flows:
            self._finish(flow)

    def finish_all(self) -> None:
        """The capture ended: read what every open flow holds."""
        for flow in list(self.flows.values()):
            self._finish(flow)

    # -- internals -------------------------------------------------------------------------
    def _open(self, kind: str, key: Key, seq: int) -> _Flow:
        while len(self.flows) >= MAX_STREAMS:
            self._drop(next(iter(self.flows.values())))
        flow = _Flow(kind, key, seq)
        self.flows[key] = flow
        return flow

    def _drop(self, flow: _Flow) -> None:
        self.flows.pop(flow.key, None)
        self.buffered -= len(flow.data) + sum(map(len, flow.pending.values()))
        self.dropped += 1

    def _request(self, key: Key, payload: bytes) -> None:
        line = payload[:2048].split(b"\r\n", 1)[0].decode("latin-1")
        parts = line.split(" ")
        if len(parts) < 2:
            return
        reverse = (key[2], key[3], key[0], key[1])
        queue = self.requests.get(reverse)
        if queue is None:
            if len(self.requests) >= MAX_REQUEST_FLOWS:
                del self.requests[next(iter(self.requests))]
            queue = self.requests[reverse] = deque(maxlen=16)
        queue.append((parts[0][:16], parts[1][:512]))

    def _add(self, flow: _Flow, seq: int, payload: bytes) -> None:
        ahead = (seq - flow.next_seq) & 0xFFFFFFFF
        if ahead == 0:
            self._append(flow, payload)
            while flow.next_seq in flow.pending and flow.key in self.flows:
                more = flow.pending.pop(flow.next_seq)
                self.buffered -= len(more)
                self._append(flow, more)
        elif ahead < WINDOW:
            if len(flow.pending) < MAX_PENDING and seq not in flow.pending:
                flow.pending[seq] = payload
                self.buffered += len(payload)
        elif ahead > 0xFFFFFFFF - WINDOW:  # a retransmission, maybe with new bytes at its end
            behind = 0x100000000 - ahead
            if behind < len(payload):
                self._append(flow, payload[behind:])
        while self.buffered > MAX_BUFFERED and self.flows:
            self._drop(next(iter(self.flows.values())))

    def _append(self, flow: _Flow, payload: bytes) -> None:
        flow.next_seq = (flow.next_seq + len(payload)) & 0xFFFFFFFF
        flow.data += payload
        self.buffered += len(payload)
        if flow.kind == "tls":
            if len(flow.data) >= TLS_LIMIT or _tls_done(flow.data):
                self._finish(flow)
            return
        self._parse(flow, final=False)

    def _parse(self, flow: _Flow, *, final: bool) -> None:
        """Read complete responses from the flow's buffer."""
        while flow.key in self.flows:
            if flow.current is None:
                end = flow.data.find(b"\r\n\r\n", 0, HEAD_LIMIT)
                if end < 0:
                    if len(flow.data) >= HEAD_LIMIT or (final and flow.data):
                        self._close(flow)  # not a response we can read: stop following
                    return
                parsed = parse_head(bytes(flow.data[:end]))
                if parsed is None:
                    self._close(flow)
                    return
                protocol, status, headers = parsed
                self._consume(flow, end + 4)
                chunked = "chunked" in headers.get("transfer-encoding", "").lower()
                length = headers.get("content-length", "").strip()
                if chunked:
                    need = -1
                elif self._answers_head(flow):
                    need = 0  # a HEAD answer announces a length it does not send
                elif length.isdigit():
                    need = int(length)
                elif status in (204, 304) or 100 <= status < 200 or protocol == "rtsp":
                    need = 0
                else:
                    need = -2  # until the connection closes
                flow.current = (status, headers, need, chunked)
                flow.body = bytearray()
                flow.body_seen = 0
            status, headers, need, chunked = flow.current
            if need >= 0:
                take = min(len(flow.data), need - flow.body_seen)
                self._keep(flow, take)
                if flow.body_seen < need:
                    if final:
                        self._emit(flow, truncated=True)
                    return
                self._emit(flow, truncated=need > BODY_LIMIT)
                continue
            if chunked:  # the body ends at the last-chunk line; the next response follows
                end = 5 if flow.data.startswith(b"0\r\n\r\n") else \
                    flow.data.find(b"\r\n0\r\n\r\n", 0, BODY_LIMIT) + 7
                if end >= 7 or end == 5:
                    self._keep(flow, end)
                    self._emit(flow, truncated=False)
                    continue
                if not final and len(flow.data) < BODY_LIMIT:
                    return  # wait for the rest
            # delimited by the close (or a chunked body past the cap): keep up to the cap
            self._keep(flow, len(flow.data))
            if final or flow.body_seen >= BODY_LIMIT:
                self._emit(flow, truncated=not final)
                self._close(flow)
            return

    def _answers_head(self, flow: _Flow) -> bool:
        queue = self.requests.get(flow.key)
        return queue is not None and len(queue) > 0 and queue[0][0] == "HEAD"

    def _keep(self, flow: _Flow, take: int) -> None:
        room = max(0, BODY_LIMIT - len(flow.body))
        flow.body += flow.data[:min(take, room)]
        flow.body_seen += take
        self._consume(flow, take)

    def _consume(self, flow: _Flow, size: int) -> None:
        del flow.data[:size]
        self.buffered -= size
        flow.consumed += size
        if flow.consumed > MAX_FLOW_BYTES:
            self._close(flow)

    def _emit(self, flow: _Flow, *, truncated: bool) -> None:
        assert flow.current is not None
        status, headers, _need, chunked = flow.current
        flow.current = None
        body = _dechunk(bytes(flow.body)) if chunked else bytes(flow.body)
        body = decode_body(body, headers.get("content-encoding"))
        flow.body = bytearray()
        queue = self.requests.get(flow.key)
        # an interim answer (100 Continue) is not the answer to its request
        request = (queue.popleft() if status >= 200 else queue[0]) if queue else None
        src, sport, _dst, _dport = flow.key
        self.on_response(Response(flow.kind, src, sport, status, headers, body, truncated,
                                  request))
        flow.responses += 1
        if flow.responses >= MAX_RESPONSES:
            self._close(flow)

    def _finish(self, flow: _Flow) -> None:
        if flow.key not in self.flows:
            return
        if flow.kind == "tls":
            self.on_tls(flow.key[0], flow.key[1], bytes(flow.data))
            self._close(flow)
            return
        self._parse(flow, final=True)
        self._close(flow)

    def _close(self, flow: _Flow) -> None:
        if self.flows.pop(flow.key, None) is not None:
            self.buffered -= len(flow.data) + sum(map(len, flow.pending.values()))
            flow.data = bytearray()
            flow.pending.clear()


def _tls_done(data: bytearray) -> bool:
    """True once the server's clear-text handshake is over (or shows nothing more)."""
    return server_handshake(bytes(data)).complete
