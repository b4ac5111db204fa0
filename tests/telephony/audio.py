"""Test audio for the real-peer call tests: tones and speech made here, and analysis of what a peer
received (dominant frequency by FFT peak, energy at a frequency, energy per channel) with numpy."""

from __future__ import annotations

import shutil
import subprocess
import wave
from pathlib import Path

import numpy as np

RATE = 8000


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE) -> Path:
    """Write int16 samples (1-D mono or 2-D frames × channels) as a PCM WAV."""
    data = np.asarray(samples)
    channels = 1 if data.ndim == 1 else data.shape[1]
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(np.clip(data, -32768, 32767).astype("<i2").tobytes())
    return path


def tone(freq: float, seconds: float, rate: int = RATE, amplitude: float = 0.4) -> np.ndarray:
    """A sine tone as int16 samples (amplitude as a fraction of full scale)."""
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * freq * t) * amplitude * 32767).astype(np.int16)


def tone_wav(path: Path, freq: float, seconds: float, rate: int = RATE) -> Path:
    """A mono 16-bit tone WAV (what baresip's aufile source plays as its microphone)."""
    return write_wav(path, tone(freq, seconds, rate), rate)


def mulaw_encode(samples: np.ndarray) -> bytes:
    """G.711 µ-law bytes of int16 samples (ITU-T G.711, the segment/bias form), for SIPp rtp_stream."""
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    mag = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(mag)).astype(np.int32) - 7
    mantissa = (mag >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def tone_ulaw(path: Path, freq: float, seconds: float) -> Path:
    """A raw µ-law tone file at 8 kHz, as SIPp's ``<exec rtp_stream="file,loops,0"/>`` streams it."""
    path.write_bytes(mulaw_encode(tone(freq, seconds)))
    return path


def speech_wav(path: Path, text: str, voice: str = "vi", rate: int = RATE) -> Path:
    """Speak ``text`` with espeak-ng and convert it to 8 kHz mono 16-bit with sox."""
    raw = path.with_suffix(".raw.wav")
    subprocess.run(["espeak-ng", "-v", voice, "-w", str(raw), text], check=True, capture_output=True, timeout=60)
    subprocess.run(["sox", str(raw), "-r", str(rate), "-c", "1", "-b", "16", "-e", "signed-integer", str(path)],
                   check=True, capture_output=True, timeout=60)
    raw.unlink(missing_ok=True)
    return path


def have_tools(*names: str) -> bool:
    return all(shutil.which(n) for n in names)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    """Samples as float64, shape (frames, channels), and the sample rate (16-bit PCM only)."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV is analysed")
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
        channels, rate = w.getnchannels(), w.getframerate()
    return frames.reshape(-1, channels), rate


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    """Frequency of the highest FFT peak (Hann window), ignoring DC and below 50 Hz."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size < 64:
        return 0.0
    spectrum = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(x.size)))
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    spectrum[freqs < 50] = 0
    return float(freqs[int(spectrum.argmax())])


def band_energy_ratio(samples: np.ndarray, rate: int, freq: float, width: float = 30.0) -> float:
    """Share of the signal's spectral energy (50 Hz – Nyquist) within ``freq ± width`` Hz."""
    x = np.asarray(samples, dtype=np.float64)
    if x.size < 64:
        return 0.0
    power = np.abs(np.fft.rfft((x - x.mean()) * np.hanning(x.size))) ** 2
    freqs = np.fft.rfftfreq(x.size, 1 / rate)
    total = power[freqs >= 50].sum()
    if total <= 0:
        return 0.0
    return float(power[np.abs(freqs - freq) <= width].sum() / total)


def rms(samples: np.ndarray) -> float:
    x = np.asarray(samples, dtype=np.float64)
    return float(np.sqrt(np.mean(x * x))) if x.size else 0.0


def channel_rms(frames: np.ndarray) -> list[float]:
    """RMS energy of each channel of a (frames, channels) array."""
    return [rms(frames[:, c]) for c in range(frames.shape[1])]


def active_part(samples: np.ndarray, rate: int, block_ms: int = 20, threshold: float = 300.0) -> np.ndarray:
    """The samples from the first to the last 20 ms block louder than ``threshold`` RMS (trims the
    silence a softphone records before media flows and after it stops)."""
    x = np.asarray(samples, dtype=np.float64)
    n = max(1, rate * block_ms // 1000)
    blocks = [rms(x[i:i + n]) for i in range(0, x.size, n)]
    loud = [i for i, e in enumerate(blocks) if e > threshold]
    if not loud:
        return x[:0]
    return x[loud[0] * n:(loud[-1] + 1) * n]


def tone_seconds(samples: np.ndarray, rate: int, freq: float, *, block_ms: int = 100,
                 min_ratio: float = 0.6, min_rms: float = 300.0) -> float:
    """How many seconds of the signal carry ``freq`` as their main content (per 100 ms block)."""
    x = np.asarray(samples, dtype=np.float64)
    n = rate * block_ms // 1000
    hits = sum(1 for i in range(0, x.size - n + 1, n)
               if rms(x[i:i + n]) > min_rms and band_energy_ratio(x[i:i + n], rate, freq, 40) >= min_ratio)
    return hits * block_ms / 1000
