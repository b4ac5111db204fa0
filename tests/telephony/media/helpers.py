"""Test helpers for the media layer: free ports, a pcap reader, audio analysis (numpy), WAV files."""

from __future__ import annotations

import socket
import struct
import wave
from pathlib import Path

import numpy as np

SIPP_PCAPS = Path("/usr/share/sip-tester")


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_port_block(size: int, *, start: int = 42000, end: int = 60000) -> int:
    """The first port of ``size`` consecutive free UDP ports (even), found by binding them."""
    import random

    for _ in range(200):
        base = random.randrange(start, end - size) & ~1
        socks = []
        try:
            for p in range(base, base + size):
                s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                socks.append(s)
                s.bind(("127.0.0.1", p))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free block of UDP ports")


def read_pcap_udp(path: Path) -> list[tuple[float, bytes]]:
    """(capture time, UDP payload) of every IPv4/UDP frame in a classic Ethernet pcap file."""
    data = path.read_bytes()
    magic = struct.unpack_from("<I", data, 0)[0]
    endian = "<" if magic in (0xA1B2C3D4, 0xA1B23C4D) else ">"
    link = struct.unpack_from(endian + "I", data, 20)[0]
    assert link == 1, "Ethernet captures only"
    out, off = [], 24
    while off + 16 <= len(data):
        sec, frac, incl, _ = struct.unpack_from(endian + "IIII", data, off)
        frame = data[off + 16:off + 16 + incl]
        off += 16 + incl
        if struct.unpack_from("!H", frame, 12)[0] != 0x0800 or frame[23] != 17:
            continue
        ihl = (frame[14] & 0x0F) * 4
        udp = frame[14 + ihl:]
        length = struct.unpack_from("!H", udp, 4)[0]
        out.append((sec + frac / 1e6, udp[8:length]))
    return out


def peak_frequency(pcm: bytes | np.ndarray, rate: int = 8000) -> float:
    x = np.frombuffer(pcm, "<i2").astype(float) if isinstance(pcm, (bytes, bytearray)) else pcm.astype(float)
    x = x - x.mean()
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.argmax(spectrum) * rate / len(x))


def band_energy(pcm: bytes | np.ndarray, freq: float, rate: int = 8000, width: float = 30.0) -> float:
    """Share of the signal's energy within ±width Hz of ``freq`` (0…1)."""
    x = np.frombuffer(pcm, "<i2").astype(float) if isinstance(pcm, (bytes, bytearray)) else pcm.astype(float)
    x = x - x.mean()
    power = np.abs(np.fft.rfft(x)) ** 2
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    total = power.sum()
    return float(power[np.abs(freqs - freq) <= width].sum() / total) if total else 0.0


def rms(pcm: bytes | np.ndarray) -> float:
    x = np.frombuffer(pcm, "<i2").astype(float) if isinstance(pcm, (bytes, bytearray)) else pcm.astype(float)
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def read_wav(path: Path) -> tuple[int, int, np.ndarray]:
    """(rate, channels, samples shaped [frames, channels])."""
    with wave.open(str(path), "rb") as w:
        rate, channels = w.getframerate(), w.getnchannels()
        assert w.getsampwidth() == 2
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2")
    return rate, channels, x.reshape(-1, channels)


def write_wav(path: Path, pcm: bytes, *, rate: int = 8000, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm)
    return path


class UdpPhone:
    """A bare UDP socket standing in for a phone's RTP port in unit tests (no SIP behind it)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)

    @property
    def addr(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def send(self, data: bytes, to: tuple[str, int]) -> None:
        self.sock.sendto(data, to)

    def drain(self) -> list[tuple[bytes, tuple]]:
        out = []
        while True:
            try:
                out.append(self.sock.recvfrom(4096))
            except BlockingIOError:
                return out

    def close(self) -> None:
        self.sock.close()
