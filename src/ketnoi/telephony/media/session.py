"""RTP endpoints: one per call leg, asyncio glue over non-blocking UDP sockets (RFC 3550).

An endpoint owns an even RTP port and RTCP on port+1 from a ``PortAllocator``; it learns where to
send from the SDP (``configure``), then latches onto the address the remote's packets really come
from (symmetric RTP, RFC 4961; the usual NAT fix), keeps reception statistics and sends RTCP
reports every ~5 s. Received packets go to an optional handler (a ``Bridge`` direction); RFC 4733
events are detected here and reported through ``on_dtmf``.
"""

from __future__ import annotations

import asyncio
import collections
import ipaddress
import logging
import random
import socket
import struct
import time
from collections.abc import Callable

from ketnoi.telephony.media.dtmf import DtmfDetector, event_packets
from ketnoi.telephony.media.rtcp import QualityStats, RtcpError, RtcpReporter
from ketnoi.telephony.media.rtp import RtpError, payload_bounds
from ketnoi.telephony.sdp import Direction, MediaParams

log = logging.getLogger(__name__)
_monotonic = time.monotonic
_HEADER = struct.Struct("!BBHII")
_SEQ_TS_SSRC = struct.Struct("!HII")
RELATCH_AFTER = 2.0  # seconds of silence from the latched address before another may take over
MAX_DRAIN = 64  # datagrams read per readiness event: fewer loop iterations under load
RECV_SIZE = 2048

# handler(data, payload_type, seq, timestamp, ssrc, arrival)
RtpHandler = Callable[[bytes, int, int, int, int, float], None]


class MediaError(Exception):
    """A media resource problem (ports exhausted, address family mismatch, no DTMF payload type)."""


class PortsExhausted(MediaError):
    pass


class PortAllocator:
    """Even RTP ports from ``[start, end]`` with RTCP on port+1 (RFC 3550 §11).

    Freed ports go to the back of the queue, so a port is not reused while late packets of the
    previous call may still arrive on it.
    """

    def __init__(self, start: int = 10000, end: int = 20000) -> None:
        start += start % 2
        if not 1024 <= start < end <= 65535 or end - start < 1:
            raise ValueError("RTP port range must be within 1024-65535 and hold at least one pair")
        self.start, self.end = start, end
        self._free = collections.deque(range(start, end, 2))
        self._used: set[int] = set()

    def acquire(self) -> int:
        if not self._free:
            raise PortsExhausted(f"no free RTP port in {self.start}-{self.end}")
        port = self._free.popleft()
        self._used.add(port)
        return port

    def release(self, port: int) -> None:
        if port in self._used:
            self._used.discard(port)
            self._free.append(port)

    @property
    def available(self) -> int:
        return len(self._free)


def _payload_start(data: bytes) -> int:
    try:
        return payload_bounds(data)[0]
    except RtpError:
        return len(data)


def _family(host: str) -> int:
    try:
        return socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
    except ValueError:
        return socket.AF_INET


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(_family(host), socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


class RtpEndpoint:
    """One leg's RTP/RTCP session. Create with ``await RtpEndpoint.open(ports, host)``.

    Public state: ``host``, ``port``, ``rtcp_port``, ``ssrc``, ``params`` (the SDP result),
    ``remote`` (where RTP goes now), ``latched``, ``last_received`` (monotonic seconds).
    """

    def __init__(self, ports: PortAllocator, host: str, port: int, rtp: socket.socket, rtcp: socket.socket,
                 *, rtcp_interval: float | None = RtcpReporter.INTERVAL) -> None:
        self._loop = asyncio.get_running_loop()
        self._ports = ports
        self.host, self.port, self.rtcp_port = host, port, port + 1
        self._sock, self._rtcp_sock = rtp, rtcp
        self.ssrc = random.getrandbits(32)
        self.reporter = RtcpReporter(self.ssrc)
        self.params: MediaParams | None = None
        self.remote: tuple | None = None
        self.remote_rtcp: tuple | None = None
        self.latched = False
        self._rtcp_latched = False
        self.sending = False  # the negotiated direction lets us send
        self.last_received = 0.0
        self.handler: RtpHandler | None = None
        self.on_dtmf: Callable[[str], None] | None = None
        self.on_rtcp_bye: Callable[[], None] | None = None
        self._dtmf = DtmfDetector()
        self._rx_te_pt: int | None = None
        self._rx_pts: frozenset[int] = frozenset()
        # outgoing stream state, shared by the player, DTMF sender and the bridge
        self.tx_seq = random.getrandbits(16)
        self.tx_ts = random.getrandbits(32)
        self.tx_time: float | None = None
        self.tx_packets = 0
        self.tx_octets = 0
        self.rx_invalid = 0
        self.rx_foreign = 0  # valid RTP from an address other than the latched one
        self.closed = False
        self.bridge = None  # the Bridge this endpoint is part of, if any
        self._rtcp_interval = rtcp_interval
        self._rtcp_timer: asyncio.TimerHandle | None = None
        self._loop.add_reader(rtp.fileno(), self._read_rtp)
        self._loop.add_reader(rtcp.fileno(), self._read_rtcp)

    @classmethod
    async def open(cls, ports: PortAllocator, host: str = "127.0.0.1", *, attempts: int = 50,
                   rtcp_interval: float | None = RtcpReporter.INTERVAL) -> RtpEndpoint:
        """Bind the next free even port and port+1 on ``host``; ports taken by others are skipped."""
        for _ in range(min(attempts, ports.available) or 1):
            port = ports.acquire()
            try:
                rtp = _bind(host, port)
            except OSError:
                ports.release(port)
                continue
            try:
                rtcp = _bind(host, port + 1)
            except OSError:
                rtp.close()
                ports.release(port)
                continue
            return cls(ports, host, port, rtp, rtcp, rtcp_interval=rtcp_interval)
        raise PortsExhausted(f"could not bind an RTP port pair on {host}")

    @property
    def local_addr(self) -> tuple[str, int]:
        return (self.host, self.port)

    # -- configuration ----------------------------------------------------------------------

    def configure(self, params: MediaParams) -> None:
        """Apply an SDP negotiation result (initial or re-INVITE). A new remote address resets the
        latch; the direction decides whether anything is sent (hold)."""
        if _family(params.remote_host) != self._sock.family and params.remote_host not in ("0.0.0.0", "::"):
            raise MediaError("the remote media address family differs from the local one")
        old = self.params
        self.params = params
        self.sending = params.direction.sends and params.remote_port > 0
        self._rx_te_pt = params.receive_telephone_event_pt
        rx = set(params.receive_payload_types) | {0, 8}  # static G.711 types are accepted whatever was answered
        if self._rx_te_pt is not None:
            rx.add(self._rx_te_pt)
        self._rx_pts = frozenset(rx)
        if old is None or (old.remote_host, old.remote_port) != (params.remote_host, params.remote_port):
            self.latched = self._rtcp_latched = False
            self.remote = self._resolve(params.remote_host, params.remote_port)
            self.remote_rtcp = self._resolve(params.remote_host, params.remote_rtcp_port)
        if self.bridge is not None:
            self.bridge.rebuild()
        if self._rtcp_timer is None and self._rtcp_interval:
            self._rtcp_timer = self._loop.call_later(self._rtcp_interval * random.uniform(0.5, 1.5),
                                                     self._rtcp_tick)

    def _resolve(self, host: str, port: int) -> tuple | None:
        if host in ("0.0.0.0", "::") or port <= 0:
            return None  # RFC 3264 §8.4 hold address: nowhere to send
        try:
            ipaddress.ip_address(host)
            return (host, port)
        except ValueError:
            try:  # a host name in c= is rare (carriers use addresses); resolved once, here
                info = socket.getaddrinfo(host, port, self._sock.family, socket.SOCK_DGRAM)
            except OSError:
                log.warning("cannot resolve media host %s", host)
                return None
            return info[0][4][:2]

    @property
    def direction(self) -> Direction:
        return self.params.direction if self.params else Direction.INACTIVE

    # -- receiving (the per-packet path) ----------------------------------------------------

    def _read_rtp(self) -> None:
        recv = self._sock.recvfrom
        for _ in range(MAX_DRAIN):
            try:
                data, addr = recv(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:  # ICMP port unreachable surfaces here on Linux: ignore
                continue
            self.datagram_received(data, addr)

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        if len(data) < 12 or data[0] & 0xC0 != 0x80:
            self.rx_invalid += 1
            return
        pt = data[1] & 0x7F
        now = _monotonic()
        if (addr != self.remote or not self.latched) and not self._latch(addr, pt, now):
            return
        seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
        self.last_received = now
        te = pt == self._rx_te_pt
        self.reporter.on_rtp(ssrc, seq, ts, now, len(data) - 12, not te)
        if te:
            start = 12 if data[0] == 0x80 else _payload_start(data)
            digit = self._dtmf.feed(ts, data[start:start + 4], bool(data[1] & 0x80))
            if digit is not None and self.on_dtmf is not None:
                self.on_dtmf(digit)
        handler = self.handler
        if handler is not None:
            handler(data, pt, seq, ts, ssrc, now)

    def _latch(self, addr: tuple, pt: int, now: float) -> bool:
        """Symmetric RTP (RFC 4961): the first valid packet fixes where we send; another address may
        take over only after the latched one has been silent for ``RELATCH_AFTER`` seconds."""
        if self._rx_pts and pt not in self._rx_pts:
            self.rx_invalid += 1
            return False
        if self.latched and now - self.last_received < RELATCH_AFTER:
            self.rx_foreign += 1
            return False
        if self.remote is not None and addr != self.remote:
            log.info("RTP %s:%d latched to %s (SDP said %s)", self.host, self.port, addr[:2], self.remote[:2])
        self.remote = addr
        self.latched = True
        return True

    def _read_rtcp(self) -> None:
        for _ in range(MAX_DRAIN):
            try:
                data, addr = self._rtcp_sock.recvfrom(RECV_SIZE)
            except (BlockingIOError, InterruptedError):
                return
            except OSError:
                continue
            try:
                self.reporter.on_rtcp(data, _monotonic(), time.time())
            except RtcpError:
                continue
            if not self._rtcp_latched:
                self.remote_rtcp, self._rtcp_latched = addr, True
            if self.reporter.bye_received and self.on_rtcp_bye is not None:
                self.reporter.bye_received = False
                self.on_rtcp_bye()

    # -- sending ----------------------------------------------------------------------------

    def next_timestamp(self, now: float | None = None) -> int:
        """The RTP timestamp for media starting now: continues the last one sent by the elapsed time,
        so a source change (prompt → bridge → music on hold) keeps one timeline (RFC 3550 §5.1)."""
        if self.tx_time is None:
            return self.tx_ts
        now = _monotonic() if now is None else now
        return (self.tx_ts + max(1, int((now - self.tx_time) * 8000))) & 0xFFFFFFFF

    def send(self, payload: bytes, *, marker: bool = False, timestamp: int | None = None,
             payload_type: int | None = None) -> bool:
        """Send one RTP packet in the negotiated codec (or ``payload_type``); False when not sending."""
        if not self.sending or self.remote is None or self.closed or self.params is None:
            return False
        now = _monotonic()
        ts = self.next_timestamp(now) if timestamp is None else timestamp & 0xFFFFFFFF
        pt = self.params.codec.payload_type if payload_type is None else payload_type
        self.tx_seq = seq = (self.tx_seq + 1) & 0xFFFF
        packet = _HEADER.pack(0x80, (0x80 if marker else 0) | pt, seq, ts, self.ssrc) + payload
        try:
            self._sock.sendto(packet, self.remote)
        except (BlockingIOError, InterruptedError):
            return False  # socket buffer full: real-time media is dropped, not queued
        except OSError as exc:
            log.debug("RTP send to %s failed: %s", self.remote, exc)
            return False
        self.tx_ts, self.tx_time = ts, now
        self.tx_packets += 1
        self.tx_octets += len(payload)
        return True

    async def send_dtmf(self, key: str, duration_ms: int = 100, *, volume: int = 10) -> None:
        """Send one key press as RFC 4733 events with the remote's telephone-event payload type."""
        if self.params is None or self.params.telephone_event_pt is None:
            raise MediaError("telephone-event was not negotiated")
        pt = self.params.telephone_event_pt
        train = event_packets(key, duration_ms, volume=volume, packet_ms=self.params.ptime)
        ts = self.next_timestamp()
        start = self._loop.time()
        for p in train:
            delay = start + p.offset - self._loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.send(p.payload, marker=p.marker, timestamp=ts, payload_type=pt)
        # the next audio continues on the timeline after the event (tx_time is the last send)
        self.tx_ts = (ts + int(train[-1].offset * 8000)) & 0xFFFFFFFF

    # -- RTCP ---------------------------------------------------------------------------------

    def _sync_reporter(self) -> None:
        r = self.reporter
        r.packets_sent, r.octets_sent = self.tx_packets, self.tx_octets
        if self.tx_time is not None and (r.last_send_time is None or self.tx_time > r.last_send_time):
            r.last_rtp_timestamp, r.last_send_time = self.tx_ts, self.tx_time
            r._sent_since_report = True

    def _rtcp_tick(self) -> None:
        self._rtcp_timer = None
        if self.closed:
            return
        self.send_rtcp_report()
        if self._rtcp_interval:
            self._rtcp_timer = self._loop.call_later(self._rtcp_interval * random.uniform(0.5, 1.5),
                                                     self._rtcp_tick)

    def send_rtcp_report(self) -> bool:
        """Send an SR/RR + SDES now (also done on the timer)."""
        if self.remote_rtcp is None:
            return False
        self._sync_reporter()
        try:
            self._rtcp_sock.sendto(self.reporter.build_report(_monotonic(), time.time()), self.remote_rtcp)
        except OSError:
            return False
        return True

    def stats(self) -> QualityStats:
        """Quality figures of this leg for the call record."""
        self._sync_reporter()
        return self.reporter.stats()

    @property
    def seconds_since_last_packet(self) -> float | None:
        """None before the first packet; the engine uses it for RTP timeouts."""
        return _monotonic() - self.last_received if self.last_received else None

    def close(self, reason: str | None = None) -> None:
        """Send RTCP BYE, stop reading, close both sockets and give the ports back. Idempotent."""
        if self.closed:
            return
        if self.bridge is not None:
            self.bridge.stop()
        if self.remote_rtcp is not None:
            self._sync_reporter()
            try:
                self._rtcp_sock.sendto(self.reporter.build_bye(reason), self.remote_rtcp)
            except OSError:
                pass
        self.closed = True
        if self._rtcp_timer is not None:
            self._rtcp_timer.cancel()
            self._rtcp_timer = None
        for sock in (self._sock, self._rtcp_sock):
            try:
                self._loop.remove_reader(sock.fileno())
            except (ValueError, RuntimeError):  # the loop is already closed
                pass
            sock.close()
        self._ports.release(self.port)

    def __repr__(self) -> str:
        return f"<RtpEndpoint {self.host}:{self.port} → {self.remote} {self.direction}>"
