"""Uploaded sound files (CC-12) → 8 kHz mono 16-bit WAV prompts with ffmpeg, and duration probes.

ffmpeg runs as a subprocess with a timeout; every failure becomes a ``ConversionError`` whose
``message`` is Vietnamese for the console and whose ``detail`` says what ffmpeg reported.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from ketnoi.telephony.media.wav import PROMPT_RATE, WavFormatError, wav_info

DEFAULT_TIMEOUT = 120.0
MAX_PROMPT_SECONDS = 3600  # one hour: music on hold is the longest legitimate prompt


class ConversionError(Exception):
    """An upload could not be turned into a prompt."""

    def __init__(self, message: str, detail: str = "") -> None:
        super().__init__(f"{message}: {detail}" if detail else message)
        self.message = message
        self.detail = detail


@dataclass(frozen=True, slots=True)
class PromptFile:
    path: Path
    duration: float  # seconds
    sample_rate: int = PROMPT_RATE


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConversionError(f"Máy chủ chưa cài {name}, không xử lý được tệp âm thanh", name)
    return path


def _run(cmd: list[str], timeout: float) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:  # subprocess.run kills the child before raising
        raise ConversionError("Xử lý tệp âm thanh quá thời gian cho phép", f"{cmd[0]} > {timeout:.0f} s") from exc
    except OSError as exc:
        raise ConversionError("Không chạy được công cụ xử lý âm thanh", str(exc)) from exc


def _last_line(stderr: bytes) -> str:
    lines = [ln for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    return lines[-1][:300] if lines else ""


def probe_duration(path: str | os.PathLike[str], *, timeout: float = 30.0) -> float:
    """Duration in seconds of any audio file ffprobe understands."""
    source = Path(path)
    if not source.is_file():
        raise ConversionError("Không tìm thấy tệp âm thanh", str(source))
    proc = _run([_tool("ffprobe"), "-v", "error", "-show_entries", "format=duration",
                 "-of", "default=noprint_wrappers=1:nokey=1", str(source)], timeout)
    text = proc.stdout.decode("ascii", "replace").strip()
    if proc.returncode != 0:
        raise ConversionError("Tệp không phải âm thanh hợp lệ", _last_line(proc.stderr))
    try:
        duration = float(text.splitlines()[0])
    except (ValueError, IndexError):
        raise ConversionError("Không xác định được thời lượng tệp âm thanh", text[:100]) from None
    if not math.isfinite(duration) or duration < 0:
        raise ConversionError("Không xác định được thời lượng tệp âm thanh", text[:100])
    return duration


def convert_to_prompt(source: str | os.PathLike[str], target: str | os.PathLike[str], *,
                      timeout: float = DEFAULT_TIMEOUT, max_seconds: float = MAX_PROMPT_SECONDS) -> PromptFile:
    """Convert any WAV/MP3/… upload to an 8 kHz mono 16-bit PCM WAV at ``target`` (written atomically).

    Audio longer than ``max_seconds`` is refused rather than silently cut.
    """
    src, dst = Path(source), Path(target)
    if not src.is_file():
        raise ConversionError("Không tìm thấy tệp âm thanh", str(src))
    if src.stat().st_size == 0:
        raise ConversionError("Tệp âm thanh rỗng", str(src))
    duration = probe_duration(src, timeout=min(timeout, 30.0))
    if duration > max_seconds:
        raise ConversionError(f"Tệp âm thanh dài quá {int(max_seconds // 60)} phút", f"{duration:.0f} s")
    dst.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=".convert-", suffix=".wav", dir=dst.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        proc = _run([_tool("ffmpeg"), "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(src),
                     "-vn", "-map", "0:a:0", "-ac", "1", "-ar", str(PROMPT_RATE), "-c:a", "pcm_s16le",
                     "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
                     "-f", "wav", str(tmp)], timeout)
        if proc.returncode != 0:
            raise ConversionError("Không chuyển đổi được tệp âm thanh (định dạng không hỗ trợ?)",
                                  _last_line(proc.stderr))
        try:
            rate, channels, width, seconds = wav_info(tmp)
        except WavFormatError as exc:
            raise ConversionError("Kết quả chuyển đổi không hợp lệ", str(exc)) from exc
        if (rate, channels, width) != (PROMPT_RATE, 1, 2):
            raise ConversionError("Kết quả chuyển đổi không hợp lệ", f"{rate} Hz, {channels} ch, {width} B")
        if seconds <= 0:
            raise ConversionError("Tệp không có âm thanh", str(src.name))
        os.replace(tmp, dst)
        return PromptFile(dst, seconds)
    finally:
        tmp.unlink(missing_ok=True)


async def convert_to_prompt_async(source: str | os.PathLike[str], target: str | os.PathLike[str],
                                  **kwargs: float) -> PromptFile:
    """``convert_to_prompt`` off the event loop (for API handlers)."""
    return await asyncio.to_thread(convert_to_prompt, source, target, **kwargs)
