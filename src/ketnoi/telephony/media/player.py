"""Prompt and music-on-hold playback (CC-12): 8 kHz audio sent through an ``RtpEndpoint`` as
ptime-sized packets (20 ms by default) on a drift-free schedule, timestamps advancing by the frame
size, the marker bit on the first packet (RFC 3551 §4.1), optionally looped.
"""

from __future__ import annotations

import asyncio
import os
from collections import OrderedDict
from pathlib import Path

from ketnoi.telephony.media.g711 import ENCODERS, SILENCE
from ketnoi.telephony.media.session import RtpEndpoint
from ketnoi.telephony.media.wav import read_pcm16

MAX_CATCH_UP = 0.2  # seconds: further behind than this (a stalled loop) we skip ahead instead of bursting


class Prompt:
    """Audio ready to play: 8 kHz 16-bit PCM, encoded once per codec and shared by every player."""

    def __init__(self, pcm: bytes, name: str = "") -> None:
        if len(pcm) % 2:
            pcm = pcm[:-1]
        self.pcm = pcm
        self.name = name
        self._encoded: dict[str, bytes] = {}

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / 8000

    def encoded(self, codec: str) -> bytes:
        codec = codec.upper()
        data = self._encoded.get(codec)
        if data is None:
            data = self._encoded[codec] = ENCODERS[codec](self.pcm)
        return data


_CACHE: OrderedDict[tuple[str, int, int], Prompt] = OrderedDict()
_CACHE_SIZE = 64


def load_prompt(path: str | os.PathLike[str]) -> Prompt:
    """A prompt from an 8 kHz mono 16-bit WAV, cached by path, size and modification time."""
    p = Path(path)
    st = p.stat()
    key = (str(p.resolve()), st.st_mtime_ns, st.st_size)
    prompt = _CACHE.get(key)
    if prompt is None:
        prompt = Prompt(read_pcm16(p), p.name)
        _CACHE[key] = prompt
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return prompt


class Player:
    """Plays a ``Prompt`` to one endpoint. ``start()`` runs it as a task; ``await player.wait()``
    returns True when it played to the end, False when stopped. With ``loop=True`` (music on hold)
    it runs until ``stop()``. While the endpoint may not send (hold), the timeline still advances."""

    def __init__(self, endpoint: RtpEndpoint, prompt: Prompt | bytes | str | os.PathLike[str], *,
                 loop: bool = False) -> None:
        if isinstance(prompt, (str, os.PathLike)):
            prompt = load_prompt(prompt)
        elif isinstance(prompt, (bytes, bytearray)):
            prompt = Prompt(bytes(prompt))
        self.endpoint = endpoint
        self.prompt = prompt
        self.loop = loop
        self.packets_sent = 0
        self._task: asyncio.Task[bool] | None = None

    def start(self) -> asyncio.Task[bool]:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name=f"player {self.prompt.name}")
        return self._task

    async def play(self) -> bool:
        """Start (if needed) and wait for the end."""
        self.start()
        return await self.wait()

    async def wait(self) -> bool:
        if self._task is None:
            return False
        try:
            return await asyncio.shield(self._task)
        except asyncio.CancelledError:
            if self._task.cancelled():
                return False
            raise

    def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()

    @property
    def playing(self) -> bool:
        return self._task is not None and not self._task.done()

    async def _run(self) -> bool:
        ep = self.endpoint
        loop = asyncio.get_running_loop()
        ptime = ep.params.ptime if ep.params else 20
        frame = 8 * ptime
        step = ptime / 1000
        codec = ep.params.codec.name.upper() if ep.params else "PCMU"
        data = self.prompt.encoded(codec)
        if not data:
            return True
        ts0 = ep.next_timestamp()
        t0 = loop.time()
        n = pos = 0
        try:
            while True:
                if pos >= len(data):
                    if not self.loop:
                        return True
                    pos %= len(data)
                current = ep.params.codec.name.upper() if ep.params else codec
                if current != codec:  # re-INVITE changed the codec: same audio, other law
                    codec, data = current, self.prompt.encoded(current)
                chunk = data[pos:pos + frame]
                if len(chunk) < frame:
                    chunk += bytes([SILENCE[codec]]) * (frame - len(chunk))
                if ep.closed:
                    return False
                if ep.send(chunk, marker=n == 0, timestamp=ts0 + n * frame):
                    self.packets_sent += 1
                n += 1
                pos += frame
                delay = t0 + n * step - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                elif delay < -MAX_CATCH_UP:  # the loop stalled: skip the missed frames
                    missed = int(-delay / step)
                    n += missed
                    pos += missed * frame
        except asyncio.CancelledError:
            return False
