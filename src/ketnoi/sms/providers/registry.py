"""The running set of SMS providers: default, per-brandname choice and failover order (SMS-08).

The core builds a ``ProviderSet`` from the ``sms_providers`` rows, starts it with its sink, asks
``candidates(sender)`` for the failover order of each message, and calls ``reload`` when an
administrator edits the providers. ``reload`` starts the new providers before the old ones are
retired, and a retired provider drains its in-flight sends before it disconnects, so nothing that
was already handed to a provider is lost by a configuration change.

Every provider's ``send`` may be called concurrently: throughput comes from keeping its window
full (SMPP ``window`` per bind, Kannel/HTTP ``window`` concurrent requests). Inbound HTTP callbacks
(``sms.gateway_api``) read their provider's configuration from the database, so they work on any
node, whether or not it runs the sender.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable

from ketnoi.sms.providers.base import Provider, ProviderConfig, ProviderSink
from ketnoi.sms.providers.config import CONFIG_SCHEMAS, KIND_LABELS, validate_config

__all__ = ["CONFIG_SCHEMAS", "KIND_LABELS", "ProviderSet", "build_provider", "order_candidates",
           "validate_config"]

log = logging.getLogger(__name__)


def build_provider(cfg: ProviderConfig) -> Provider:
    """A started-later provider for one configuration (validates ``cfg.config``, Vietnamese errors)."""
    settings = validate_config(cfg.kind, cfg.config)
    if cfg.kind == "smpp":
        from ketnoi.settings import get_settings
        from ketnoi.sms.providers.smpp import SmppProvider

        return SmppProvider(cfg, settings, tz=get_settings().timezone)  # type: ignore[arg-type]
    if cfg.kind == "kannel":
        from ketnoi.sms.providers.kannel import KannelProvider

        return KannelProvider(cfg, settings)  # type: ignore[arg-type]
    from ketnoi.sms.providers.http import HttpProvider

    return HttpProvider(cfg, settings)  # type: ignore[arg-type]


def _norm(sender: str) -> str:
    return (sender or "").strip().casefold()


def may_carry(cfg: ProviderConfig, sender: str) -> bool:
    """A provider with a brandname list carries only those senders; an empty list carries any."""
    return not cfg.brandnames or _norm(sender) in {_norm(b) for b in cfg.brandnames}


def order_candidates(configs: Iterable[ProviderConfig], sender: str) -> list[ProviderConfig]:
    """Failover order: providers listing ``sender`` first, then the default, then the others.

    Each group is ordered by ``priority`` (lower first), then name. Disabled providers and those
    whose brandname list does not include ``sender`` are left out (they cannot carry it).
    """
    s = _norm(sender)
    usable = [c for c in configs if c.enabled and may_carry(c, sender)]

    def group(c: ProviderConfig) -> int:
        if c.brandnames and s in {_norm(b) for b in c.brandnames}:
            return 0
        return 1 if c.is_default else 2

    return sorted(usable, key=lambda c: (group(c), c.priority, c.name))


class ProviderSet:
    """Providers by name, started together with one sink; swapped in place by ``reload``."""

    def __init__(self, configs: Iterable[ProviderConfig],
                 factory: Callable[[ProviderConfig], Provider] = build_provider):
        self._factory = factory
        self._configs: dict[str, ProviderConfig] = {}
        self._providers: dict[str, Provider] = {}
        self._errors: dict[str, str] = {}
        self._sink: ProviderSink | None = None
        self._started = False
        self._lock = asyncio.Lock()
        self._retiring: set[asyncio.Task] = set()
        for c in configs:
            self._configs[c.name] = c

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self, sink: ProviderSink) -> None:
        async with self._lock:
            self._sink, self._started = sink, True
            for cfg in list(self._configs.values()):
                await self._start_one(cfg)

    async def stop(self) -> None:
        async with self._lock:
            provs, self._providers = list(self._providers.values()), {}
            await asyncio.gather(*(self._stop_one(p) for p in provs))
            if self._retiring:
                await asyncio.gather(*self._retiring, return_exceptions=True)
            self._sink, self._started = None, False

    async def reload(self, configs: Iterable[ProviderConfig]) -> None:
        """Apply a new configuration: unchanged providers keep running (and their binds)."""
        new = {c.name: c for c in configs}
        async with self._lock:
            old_cfgs, old_provs = self._configs, dict(self._providers)
            self._configs = new
            retire: list[Provider] = []
            for name, cfg in new.items():
                if old_cfgs.get(name) == cfg and (name in old_provs or not cfg.enabled):
                    continue
                old = old_provs.pop(name, None)
                self._providers.pop(name, None)
                self._errors.pop(name, None)
                if self._started:
                    await self._start_one(cfg)  # new instance serves before the old one retires
                if old is not None:
                    retire.append(old)
            for name in set(old_cfgs) - set(new):
                self._errors.pop(name, None)
                old = self._providers.pop(name, None)
                if old is not None:
                    retire.append(old)
            for p in retire:  # drain in the background: a retiring provider finishes its sends
                t = asyncio.create_task(self._stop_one(p))
                self._retiring.add(t)
                t.add_done_callback(self._retiring.discard)

    async def _start_one(self, cfg: ProviderConfig) -> None:
        if not cfg.enabled or not self._started:
            return
        try:
            prov = self._factory(cfg)
            await prov.start(self._sink)
        except Exception as exc:  # a bad provider must not stop the others
            log.exception("SMS provider %s failed to start", cfg.name)
            self._errors[cfg.name] = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
            return
        self._providers[cfg.name] = prov

    @staticmethod
    async def _stop_one(p: Provider) -> None:
        try:
            await p.stop()
        except Exception:
            log.exception("SMS provider %s failed to stop", getattr(p, "name", "?"))

    # -- queries -------------------------------------------------------------------------------

    def candidates(self, sender: str) -> list[Provider]:
        """Running providers that may carry ``sender``, in failover order (see ``order_candidates``)."""
        return [self._providers[c.name] for c in order_candidates(self._configs.values(), sender)
                if c.name in self._providers]

    def get(self, name: str) -> Provider | None:
        return self._providers.get(name)

    def config(self, name: str) -> ProviderConfig | None:
        return self._configs.get(name)

    def find_config(self, key: str) -> ProviderConfig | None:
        """A configuration by id or by name (callback URLs carry the id)."""
        for c in self._configs.values():
            if c.id == key:
                return c
        return self._configs.get(key)

    def configs(self) -> list[ProviderConfig]:
        return list(self._configs.values())

    def status(self) -> dict[str, dict]:
        out: dict[str, dict] = {}
        for name, cfg in self._configs.items():
            base = {"id": cfg.id, "kind": cfg.kind, "enabled": cfg.enabled, "default": cfg.is_default,
                    "priority": cfg.priority, "brandnames": list(cfg.brandnames)}
            prov = self._providers.get(name)
            if prov is not None:
                try:
                    st = dict(prov.status())
                except Exception as exc:
                    st = {"state": "error", "error": str(exc)}
                out[name] = {**base, **st}
            elif not cfg.enabled:
                out[name] = {**base, "state": "disabled"}
            elif name in self._errors:
                out[name] = {**base, "state": "error", "error": self._errors[name]}
            else:
                out[name] = {**base, "state": "stopped"}
        return out
