"""WAV files for prompts and recordings: read 8 kHz mono 16-bit PCM, and write incrementally so that
the header is valid after every flush (a crash keeps everything written so far)."""

from __future__ import annotations

import os
import struct
import wave
from pathlib import Path

PROMPT_RATE = 8000


class WavFormatError(ValueError):
    """The file is not a WAV the call engine can play (8 kHz, mono, 16-bit PCM)."""


def read_pcm16(path: str | os.PathLike[str], *, rate: int = PROMPT_RATE) -> bytes:
    """The samples of an 8 kHz mono 16-bit WAV (``convert.convert_to_prompt`` makes such files)."""
    try:
        with wave.open(str(path), "rb") as w:
            if w.getnchannels() != 1 or w.getsampwidth() != 2 or w.getframerate() != rate:
                raise WavFormatError(
                    f"{path}: {w.getframerate()} Hz, {w.getnchannels()} channel(s), "
                    f"{8 * w.getsampwidth()}-bit; expected {rate} Hz mono 16-bit (convert it first)")
            return w.readframes(w.getnframes())
    except (wave.Error, EOFError) as exc:
        raise WavFormatError(f"{path}: not a PCM WAV file ({exc})") from exc


def wav_info(path: str | os.PathLike[str]) -> tuple[int, int, int, float]:
    """(sample rate, channels, sample width in bytes, duration in seconds) of a PCM WAV."""
    try:
        with wave.open(str(path), "rb") as w:
            rate = w.getframerate()
            return rate, w.getnchannels(), w.getsampwidth(), w.getnframes() / rate if rate else 0.0
    except (wave.Error, EOFError) as exc:
        raise WavFormatError(f"{path}: not a PCM WAV file ({exc})") from exc


class WavWriter:
    """A 16-bit PCM WAV written in pieces: the RIFF and data sizes are rewritten after each ``write``
    and the file is flushed to the OS, so a reader (or a crash) sees a valid file at any time."""

    def __init__(self, path: str | os.PathLike[str], *, channels: int, rate: int = PROMPT_RATE) -> None:
        self.path = Path(path)
        self.channels = channels
        self.rate = rate
        self.frames = 0
        self._fh = open(self.path, "wb")
        self._fh.write(self._header(0))
        self._fh.flush()

    def _header(self, data_bytes: int) -> bytes:
        block = 2 * self.channels
        return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE"
                + b"fmt " + struct.pack("<IHHIIHH", 16, 1, self.channels, self.rate, self.rate * block, block, 16)
                + b"data" + struct.pack("<I", data_bytes))

    def write(self, interleaved: bytes) -> None:
        if not interleaved:
            return
        fh = self._fh
        fh.seek(0, os.SEEK_END)
        fh.write(interleaved)
        self.frames += len(interleaved) // (2 * self.channels)
        data_bytes = self.frames * 2 * self.channels
        fh.seek(4)
        fh.write(struct.pack("<I", 36 + data_bytes))
        fh.seek(40)
        fh.write(struct.pack("<I", data_bytes))
        fh.flush()

    @property
    def duration(self) -> float:
        return self.frames / self.rate

    def close(self, *, sync: bool = False) -> None:
        """Close; ``sync=True`` also fsyncs (blocking: call it off the media event loop)."""
        if not self._fh.closed:
            self._fh.flush()
            if sync:
                os.fsync(self._fh.fileno())
            self._fh.close()
