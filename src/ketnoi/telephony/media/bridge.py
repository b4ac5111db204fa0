"""Media relay between two call legs (the B2BUA's hot path, CC-04).

A packet read on one leg goes out of the other leg's socket to its latched remote address with the
other leg's SSRC and continuous sequence/timestamp offsets (the timeline survives prompts and music
on hold), µ-law ⇄ A-law transcoded by one ``bytes.translate`` only when the legs' codecs differ,
RFC 4733 events passed through with the payload type re-mapped. RTCP is terminated per leg.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from ketnoi.telephony.media.g711 import transcode_table
from ketnoi.telephony.media.rtp import RtpError, payload_bounds
from ketnoi.telephony.media.session import MediaError, RtpEndpoint
from ketnoi.telephony.sdp import PCMA, PCMU

if TYPE_CHECKING:
    from ketnoi.telephony.media.recorder import Recorder

_REWRITE = struct.Struct("!BHII")  # bytes 1-11: M|PT, sequence, timestamp, SSRC
_HEADER = struct.Struct("!BBHII")
_G711 = ("PCMU", "PCMA")
_STATIC = {PCMU.payload_type: PCMU, PCMA.payload_type: PCMA}


class _Relay:
    """One direction of a bridge: packets received on ``src`` are sent from ``dst``."""

    __slots__ = (
        "channel",
        "dropped",
        "dst",
        "in_ssrc",
        "pt_map",
        "recorder",
        "relayed",
        "seq_off",
        "src",
        "transcoded",
        "ts_off",
    )

    def __init__(self, src: RtpEndpoint, dst: RtpEndpoint, channel: int) -> None:
        self.src, self.dst, self.channel = src, dst, channel
        self.pt_map: dict[int, tuple[int, bytes | None, str | None]] = {}
        self.in_ssrc: int | None = None
        self.seq_off = self.ts_off = 0
        self.recorder: Recorder | None = None
        self.relayed = self.transcoded = self.dropped = 0

    def rebuild(self) -> None:
        """Payload type map from the two legs' negotiated parameters (after each (re-)INVITE)."""
        sp, dp = self.src.params, self.dst.params
        self.pt_map = {}
        self.in_ssrc = None  # re-sync offsets: the remote may have restarted its stream
        if sp is None or dp is None or dp.codec.name.upper() not in _G711:
            return
        receive = dict(_STATIC)
        receive.update(sp.receive_payload_types)
        for pt, codec in receive.items():
            name = codec.name.upper()
            if name in _G711:
                self.pt_map[pt] = (dp.codec.payload_type, transcode_table(name, dp.codec.name), name)
        if sp.receive_telephone_event_pt is not None and dp.telephone_event_pt is not None:
            self.pt_map[sp.receive_telephone_event_pt] = (dp.telephone_event_pt, None, None)

    def relay(self, data: bytes, pt: int, seq: int, ts: int, ssrc: int, now: float) -> None:
        """Per packet: one dict look-up, one header rewrite, one sendto (and a translate if needed)."""
        entry = self.pt_map.get(pt)
        dst = self.dst
        if entry is None or not dst.sending or dst.remote is None:
            self.dropped += 1
            return
        out_pt, table, codec = entry
        if ssrc != self.in_ssrc:  # first packet or a new source: continue dst's own timeline
            self.in_ssrc = ssrc
            self.seq_off = (dst.tx_seq + 1 - seq) & 0xFFFF
            self.ts_off = (dst.next_timestamp(now) - ts) & 0xFFFFFFFF
            marker = 0x80
        else:
            marker = data[1] & 0x80
        out_seq = (seq + self.seq_off) & 0xFFFF
        out_ts = (ts + self.ts_off) & 0xFFFFFFFF
        if data[0] == 0x80:  # no CSRC, extension or padding: the common case
            payload_len = len(data) - 12
            if table is None:
                out = bytearray(data)
                _REWRITE.pack_into(out, 1, marker | out_pt, out_seq, out_ts, dst.ssrc)
            else:
                out = _HEADER.pack(0x80, marker | out_pt, out_seq, out_ts, dst.ssrc) + data[12:].translate(table)
                self.transcoded += 1
            if self.recorder is not None and codec is not None:
                self.recorder.feed(self.channel, codec, ts, ssrc, data[12:], now)
        else:
            try:
                start, end = payload_bounds(data)
            except RtpError:
                self.dropped += 1
                return
            payload = data[start:end]
            payload_len = len(payload)
            out = bytearray(data[:start])
            out[0] &= 0xDF  # padding removed
            _REWRITE.pack_into(out, 1, marker | out_pt, out_seq, out_ts, dst.ssrc)
            out += payload.translate(table) if table is not None else payload
            if self.recorder is not None and codec is not None:
                self.recorder.feed(self.channel, codec, ts, ssrc, payload, now)
        try:
            dst._sock.sendto(out, dst.remote)
        except OSError:  # buffer full or unreachable: real-time media is dropped, not queued
            self.dropped += 1
            return
        dst.tx_seq, dst.tx_ts, dst.tx_time = out_seq, out_ts, now
        dst.tx_packets += 1
        dst.tx_octets += payload_len
        self.relayed += 1


class Bridge:
    """Relay media both ways between leg ``a`` (the caller: left channel when recording) and leg
    ``b`` (the callee: right channel). ``start``/``stop`` may be called repeatedly (hold, transfer);
    the legs' timelines stay continuous across stops."""

    def __init__(self, a: RtpEndpoint, b: RtpEndpoint, *, recorder: Recorder | None = None) -> None:
        if a is b:
            raise MediaError("cannot bridge a leg with itself")
        self.a, self.b = a, b
        self.forward = _Relay(a, b, 0)
        self.backward = _Relay(b, a, 1)
        self.recorder = recorder
        self.active = False

    @property
    def recorder(self) -> Recorder | None:
        return self.forward.recorder

    @recorder.setter
    def recorder(self, recorder: Recorder | None) -> None:
        """Attach (or detach, with None) a recorder; the bridge never closes it."""
        self.forward.recorder = self.backward.recorder = recorder

    def rebuild(self) -> None:
        self.forward.rebuild()
        self.backward.rebuild()

    def start(self) -> None:
        if self.active:
            return
        for ep in (self.a, self.b):
            if ep.closed:
                raise MediaError("cannot bridge a closed endpoint")
            if ep.bridge is not None and ep.bridge is not self:
                raise MediaError(f"{ep!r} is already bridged")
        self.a.bridge = self.b.bridge = self
        self.rebuild()
        self.a.handler = self.forward.relay
        self.b.handler = self.backward.relay
        self.active = True

    def stop(self) -> None:
        if not self.active:
            return
        self.active = False
        for ep in (self.a, self.b):
            if ep.bridge is self:
                ep.bridge = None
                ep.handler = None

    @property
    def stats(self) -> dict[str, int]:
        return {"relayed_ab": self.forward.relayed, "relayed_ba": self.backward.relayed,
                "transcoded": self.forward.transcoded + self.backward.transcoded,
                "dropped": self.forward.dropped + self.backward.dropped}
