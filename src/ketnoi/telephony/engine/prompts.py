"""What the engine says and plays by itself: built-in Vietnamese prompts (spoken by espeak-ng into
``data_dir/telephony/prompts`` on first use, a tone when espeak-ng is missing), music on hold, call
progress tones, and the PIN dialogue of outbound routes (CC-14: prompt, RFC 4733 digits, check).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
import tempfile
from pathlib import Path

from ketnoi.telephony.media import tone
from ketnoi.telephony.media.convert import ConversionError, convert_to_prompt
from ketnoi.telephony.media.player import Prompt, load_prompt

log = logging.getLogger(__name__)

TEXTS = {
    "vi": {
        "pin": "Xin mời nhập mã PIN, kết thúc bằng phím thăng.",
        "pin_wrong": "Mã PIN không đúng.",
        "unavailable": "Số máy quý khách vừa gọi hiện không liên lạc được. Xin quý khách vui lòng gọi lại sau.",
    },
    "en": {
        "pin": "Please enter your PIN, then press the pound key.",
        "pin_wrong": "That PIN is not correct.",
        "unavailable": "The number you have called cannot be reached. Please call again later.",
    },
}
_VOICES = {"vi": "vi", "en": "en"}
_cache: dict[tuple[str, str], Prompt] = {}
_locks: dict[tuple[str, str], asyncio.Lock] = {}


def prompts_dir(data_dir: Path) -> Path:
    return Path(data_dir) / "telephony" / "prompts"


def _speak(text: str, voice: str, target: Path) -> None:
    """espeak-ng → any WAV → 8 kHz mono 16-bit (ffmpeg through media.convert)."""
    with tempfile.TemporaryDirectory(prefix="ketnoi-tts-") as tmp:
        raw = Path(tmp) / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True,
                       capture_output=True, timeout=60)
        convert_to_prompt(raw, target)


def beep() -> Prompt:
    """Stand-in for a prompt when no speech synthesizer is installed: two short 440 Hz beeps."""
    return Prompt(tone.sine(440, 0.2) + tone.silence(0.15) + tone.sine(440, 0.2) + tone.silence(0.3), "beep")


async def builtin(name: str, language: str, data_dir: Path) -> Prompt:
    """A built-in prompt in ``language`` (falls back to Vietnamese), made once and kept on disk."""
    language = language if language in TEXTS else "vi"
    key = (language, name)
    if key in _cache:
        return _cache[key]
    lock = _locks.setdefault(key, asyncio.Lock())
    async with lock:
        if key in _cache:
            return _cache[key]
        path = prompts_dir(data_dir) / language / f"{name}.wav"
        if not path.is_file() and shutil.which("espeak-ng"):
            try:
                await asyncio.to_thread(_speak, TEXTS[language][name], _VOICES[language], path)
            except (OSError, subprocess.SubprocessError, ConversionError) as exc:
                log.warning("could not make the %s prompt %r: %s", language, name, exc)
        prompt = load_prompt(path) if path.is_file() else beep()
        _cache[key] = prompt
        return prompt


def music_on_hold() -> Prompt:
    """The built-in music on hold: a slow arpeggio (A major, 440–659 Hz), looped by the player."""
    key = ("", "moh")
    if key not in _cache:
        notes = (440.0, 554.37, 659.25, 554.37)
        pcm = b"".join(tone.sine(f, 0.45, level=0.2) + tone.silence(0.05) for f in notes)
        _cache[key] = Prompt(pcm, "music-on-hold")
    return _cache[key]


def ringback() -> Prompt:
    """Viet Nam ringback (425 Hz, 1 s on / 4 s off), for callers already answered by the engine."""
    return Prompt(tone.cadence(tone.RINGBACK), "ringback")


def busy() -> Prompt:
    return Prompt(tone.cadence(tone.BUSY), "busy")


async def collect_digits(digits: asyncio.Queue, *, max_digits: int = 16, terminator: str = "#",
                         first_timeout: float = 10.0, next_timeout: float = 5.0) -> str:
    """Key presses from ``digits`` until the terminator, ``max_digits``, or a pause."""
    out = ""
    timeout = first_timeout
    while len(out) < max_digits:
        try:
            key = await asyncio.wait_for(digits.get(), timeout)
        except TimeoutError:
            break
        if key == terminator:
            break
        out += key
        timeout = next_timeout
    return out


async def ask_pin(call, pins: tuple[str, ...], *, attempts: int = 3) -> str | None:
    """The PIN dialogue of an outbound route (CC-14): returns the PIN entered, None after
    ``attempts`` wrong ones. The caller is already answered; ``call.play`` raises if they hang up."""
    data_dir, language = call.data_dir, call.cfg.settings.prompt_language
    queue: asyncio.Queue[str] = asyncio.Queue()
    call.a.ep.on_dtmf = queue.put_nowait
    try:
        for attempt in range(attempts):
            if attempt:
                while not queue.empty():
                    queue.get_nowait()
            await call.play(await builtin("pin", language, data_dir))
            entered = await call.guard(collect_digits(queue))
            if entered and entered in pins:
                return entered
            log.info("call %s: wrong PIN (attempt %d)", call.id, attempt + 1)
            await call.play(await builtin("pin_wrong", language, data_dir))
        return None
    finally:
        call.a.ep.on_dtmf = None
