"""The registrar of one PBX (CC-06, RFC 3261 §10.3): digest-authenticated REGISTER against the
extensions of the applied configuration, bindings in memory (several contacts per extension,
expiry, unregister), and NAT keep-alive: an OPTIONS to every contact at a fixed interval, sent to
the address its REGISTER came from (RFC 3581 symmetric response routing keeps the NAT pinhole open).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from ketnoi.telephony.pbx.config import PbxConfig
from ketnoi.telephony.sip.dialog import address_of, build_request
from ketnoi.telephony.sip.errors import ParseError
from ketnoi.telephony.sip.events import Address, RequestReceived
from ketnoi.telephony.sip.headers import NameAddr
from ketnoi.telephony.sip.registrar import Binding, Registrar
from ketnoi.telephony.sip.uri import SipURI, TelURI

if TYPE_CHECKING:  # pragma: no cover
    from ketnoi.telephony.engine.tenant import Tenant

log = logging.getLogger(__name__)


def user_of(uri) -> str:
    """The user part of a SIP URI (or the digits of a tel: URI), '' when there is none."""
    if isinstance(uri, SipURI):
        from urllib.parse import unquote

        return unquote(uri.user or "")
    if isinstance(uri, TelURI):
        return uri.digits
    return ""


class RegistrarService:
    """REGISTER handling and the contacts of each extension for the B2BUA."""

    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.store = Registrar(min_expires=60, max_expires=3600, default_expires=3600)
        self.reachable: dict[str, bool] = {}  # contact URI → answered the last keep-alive
        self._task: asyncio.Task | None = None
        self.stats = {"registered": 0, "refused": 0, "challenged": 0}

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._housekeeping(), name="registrar")

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None

    def on_config(self, cfg: PbxConfig) -> None:
        """Bindings of extensions that were removed or disabled are dropped."""
        for aor in self.store.aors():
            ext = cfg.extension(aor)
            if ext is None or not ext.enabled:
                self.store.remove_all(aor)

    # ------------------------------------------------------------------ REGISTER
    def on_register(self, event: RequestReceived) -> None:
        t = self.tenant
        request, tx = event.request, event.transaction
        try:
            number = user_of(request.to_addr.uri)
        except ParseError:
            t.endpoint.respond(tx, 400)
            return
        ext = t.cfg.extension(number)
        now = t.now
        result = t.auth.verify(request, number, now)
        if not result.ok:
            has_credentials = t.auth.credentials_user(request) is not None
            if has_credentials and not result.stale and result.reason in ("wrong response", "unknown user",
                                                                           "credentials of another user"):
                self.stats["refused"] += 1
                log.info("REGISTER for %s from %s refused: %s", number, event.source, result.reason)
                t.endpoint.respond(tx, 403)
                return
            self.stats["challenged"] += 1
            t.endpoint.respond(tx, 401, headers=t.auth.challenge(now, stale=result.stale))
            return
        if ext is None or not ext.permits(event.source.host):
            self.stats["refused"] += 1
            t.endpoint.respond(tx, 403)
            return
        outcome = self.store.register(request, now, aor=number, source=event.source,
                                      max_contacts=ext.max_contacts)
        for binding in outcome.added:
            self.reachable[str(binding.uri)] = True
            log.info("extension %s registered %s from %s", number, binding.uri, event.source)
        for binding in outcome.removed:
            self.reachable.pop(str(binding.uri), None)
        if outcome.status == 200:
            self.stats["registered"] += 1
        t.endpoint.respond(tx, outcome.status, headers=outcome.headers)

    # ------------------------------------------------------------------ lookups
    def contacts(self, number: str) -> list[Binding]:
        """Live contacts of an extension, best first."""
        return self.store.lookup(number, self.tenant.now)

    @staticmethod
    def destination(binding: Binding) -> Address:
        """Where requests for a contact go: the address its REGISTER came from (NAT), else its URI."""
        if binding.source is not None:
            return binding.source
        return address_of(binding.uri)

    # ------------------------------------------------------------------ housekeeping
    async def _housekeeping(self) -> None:
        interval = self.tenant.engine.settings.sip_keepalive_seconds
        last_ping = 0.0
        while True:
            await asyncio.sleep(5)
            now = self.tenant.now
            for gone in self.store.expire(now):
                self.reachable.pop(str(gone.uri), None)
                log.info("extension %s binding %s expired", gone.aor, gone.uri)
            if interval > 0 and now - last_ping >= interval:
                last_ping = now
                for aor in self.store.aors():
                    for binding in self.store.lookup(aor, now):
                        asyncio.get_running_loop().create_task(self._ping(binding))

    async def _ping(self, binding: Binding) -> None:
        """Keep-alive OPTIONS (RFC 3261 §11) to one contact; its answer tells whether it is reachable."""
        t = self.tenant
        destination = self.destination(binding)
        with contextlib.suppress(Exception):
            request = build_request(
                "OPTIONS", binding.uri, from_addr=NameAddr(SipURI(t.endpoint.address().host, "ketnoi")),
                to_addr=NameAddr(binding.uri), contact=t.endpoint.stack.contact_uri("ketnoi",
                                                                                     destination.transport))
            response = await t.endpoint.request(request, destination)
            ok = response.status not in (408, 503)  # local 408/503: no answer, or it could not be sent
            key = str(binding.uri)
            if self.reachable.get(key) != ok and key in self.reachable:
                log.info("contact %s of %s is now %s", key, binding.aor, "reachable" if ok else "unreachable")
            if key in self.reachable:
                self.reachable[key] = ok
