"""Pieces every SMS provider shares (SMS-01): splitting a text or refusing it, counting the sends in
progress so that ``stop()`` can let them finish, and the lifecycle of a provider that calls its peer
over HTTP (``http.py``, ``kannel.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import httpx

from ketnoi.sms.providers.base import PermanentFailure, ProviderConfig, ProviderSink, TemporaryFailure
from ketnoi.sms.providers.encoding import EncodedSms, TooLong, encode


def encode_or_refuse(text: str, **options) -> EncodedSms:
    """``encoding.encode(text, **options)``; a text over the part limit is a PermanentFailure."""
    try:
        return encode(text, **options)
    except TooLong as exc:
        raise PermanentFailure(str(exc), "too_long") from None


class SendTracker:
    """The sends in progress: ``idle`` is set when there is none; a failed send counts in ``counters``."""

    def __init__(self, counters: dict[str, int]):
        self.counters = counters
        self.count = 0
        self.idle = asyncio.Event()
        self.idle.set()

    @contextlib.contextmanager
    def sending(self) -> Iterator[None]:
        self.count += 1
        self.idle.clear()
        try:
            yield
        except (TemporaryFailure, PermanentFailure):
            self.counters["failed"] += 1
            raise
        finally:
            self.count -= 1
            if self.count == 0:
                self.idle.set()

    async def wait_idle(self, timeout: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.idle.wait(), timeout=timeout)


class HttpPeerProvider:
    """Lifecycle and status of a provider that calls its peer over HTTP with a window of requests;
    ``settings`` has ``window`` and ``timeout``."""

    label = "HTTP"  # in the "not running" message
    counter_names: tuple[str, ...] = ("submitted", "failed")

    def __init__(self, cfg: ProviderConfig, settings):
        self.name, self.config, self.settings = cfg.name, cfg, settings
        self._client: httpx.AsyncClient | None = None
        self._window = asyncio.Semaphore(settings.window)
        self._stopping = False
        self.counters = dict.fromkeys(self.counter_names, 0)
        self._sends = SendTracker(self.counters)
        self.last_error: str | None = None

    async def start(self, sink: ProviderSink) -> None:
        self._sink, self._stopping = sink, False
        self._client = httpx.AsyncClient(timeout=self.settings.timeout)

    async def stop(self) -> None:
        self._stopping = True
        await self._sends.wait_idle(self.settings.timeout + 1)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def status(self) -> dict:
        state = "stopped" if self._client is None else ("error" if self.last_error else "ready")
        return {"state": state, "in_flight": self._sends.count, "error": self.last_error, **self.counters}

    def _check_running(self) -> None:
        if self._client is None or self._stopping:
            raise TemporaryFailure(f"Nhà cung cấp {self.label} chưa chạy hoặc đang dừng.", "stopping")
