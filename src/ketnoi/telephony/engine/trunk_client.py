"""SIP trunks of one PBX (CC-09): registering trunks REGISTER to their provider with digest
credentials and refresh before expiry (RFC 3261 §10.2); IP-authenticated peers are pinged with
OPTIONS (§11). Each result is recorded with ``pbx.service.set_trunk_status`` when it changes
(registered / reachable / unreachable / rejected). Calls from a trunk are recognised by address."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from typing import TYPE_CHECKING

from ketnoi.telephony.pbx.config import PbxConfig, TrunkConfig
from ketnoi.telephony.sip.auth import DigestClient
from ketnoi.telephony.sip.dialog import build_request
from ketnoi.telephony.sip.events import Address
from ketnoi.telephony.sip.headers import NameAddr
from ketnoi.telephony.sip.message import Request, Response, new_call_id
from ketnoi.telephony.sip.uri import SipURI

if TYPE_CHECKING:  # pragma: no cover
    from ketnoi.telephony.engine.tenant import Tenant

log = logging.getLogger(__name__)


class TrunkClient:
    """The background work of one trunk: registration (kind ``register``) or OPTIONS pings (``peer``)."""

    def __init__(self, manager: TrunkManager, trunk: TrunkConfig) -> None:
        self.manager = manager
        self.tenant = manager.tenant
        self.trunk = trunk
        self.status = ""
        self.addresses: set[str] = set()  # resolved provider addresses: calls from them are this trunk's
        self.call_id = new_call_id()
        self.cseq = 0
        self.expires = 0
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self.trunk.kind != "register" and not self.manager.ping_seconds:
            return  # pings are off (KETNOI_SIP_TRUNK_PING_SECONDS=0): the status stays as it is
        loop = asyncio.get_running_loop()
        body = self._register_loop() if self.trunk.kind == "register" else self._ping_loop()
        self._task = loop.create_task(body, name=f"trunk {self.trunk.name}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
        if self.trunk.kind == "register" and self.status == "registered":
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._register(0), 3)  # remove our binding at the provider

    async def _destination(self) -> Address:
        t = self.trunk
        infos = await asyncio.get_running_loop().getaddrinfo(t.host, t.port or 5060, type=socket.SOCK_DGRAM)
        self.addresses = {info[4][0] for info in infos}
        return Address(t.transport or "udp", infos[0][4][0], t.port or 5060)

    def _set_status(self, status: str, detail: str = "") -> None:
        if status == self.status:
            return
        self.status = status
        log.info("trunk %s: %s %s", self.trunk.name, status, detail)
        trunk_id = self.trunk.id
        writer = self.tenant.engine.records
        if writer is not None:
            from ketnoi.telephony.pbx.service import set_trunk_status

            writer.submit(lambda s: set_trunk_status(s, trunk_id, status, detail))

    # ------------------------------------------------------------------ registration
    async def _request(self, request: Request, destination: Address) -> Response:
        return await self.tenant.endpoint.request(request, destination)

    async def _register(self, expires: int) -> Response:
        t = self.trunk
        destination = await self._destination()
        aor = NameAddr(SipURI(t.host, t.username, port=t.port if t.port and t.port != 5060 else None))
        self.cseq += 1
        request = build_request(
            "REGISTER", SipURI(t.host, port=t.port if t.port and t.port != 5060 else None), from_addr=aor,
            to_addr=aor, contact=self.tenant.endpoint.stack.contact_uri(t.username or "ketnoi", destination.transport),
            call_id=self.call_id, cseq=self.cseq, headers=[("Expires", str(expires))])
        response = await self._request(request, destination)
        client = DigestClient(t.username, t.password)
        while response.status in (401, 407):
            retry = client.authorize(request, response)
            if retry is None:
                break
            request = retry
            self.cseq = request.cseq.seq
            response = await self._request(request, destination)
        return response

    def _granted(self, response: Response, asked: int) -> int:
        ours = self.tenant.endpoint.stack.contact_uri(self.trunk.username or "ketnoi")
        for contact in response.contacts:
            if contact.uri.equivalent(ours) or contact.uri.host == ours.host and contact.uri.port == ours.port:
                value = contact.params.get("expires")
                if value and value.isdigit():
                    return int(value)
        header = response.headers.get("expires")
        return int(header) if header and header.strip().isdigit() else asked

    async def _register_loop(self) -> None:
        interval = max(60, self.trunk.register_interval or 3600)
        while True:
            try:
                response = await self._register(interval)
            except OSError as exc:
                self._set_status("unreachable", str(exc))
                await asyncio.sleep(self.manager.retry_seconds)
                continue
            if 200 <= response.status < 300:
                self.expires = self._granted(response, interval)
                self._set_status("registered", f"{response.status} {response.reason or ''}".strip())
                await asyncio.sleep(max(5.0, min(self.expires * 0.8, self.expires - 10)))
            elif response.status in (408, 503) and response.headers.get("server") is None:
                self._set_status("unreachable", "no answer from the provider")
                await asyncio.sleep(self.manager.retry_seconds)
            else:
                self._set_status("rejected", f"{response.status} {response.reason or ''}".strip())
                await asyncio.sleep(self.manager.retry_seconds * 2)

    # ------------------------------------------------------------------ OPTIONS pings
    async def ping(self) -> str:
        t = self.tenant
        try:
            destination = await self._destination()
        except OSError as exc:
            self._set_status("unreachable", str(exc))
            return self.status
        request = build_request(
            "OPTIONS", SipURI(destination.host, port=destination.port), from_addr=NameAddr(
                SipURI(t.endpoint.address().host, "ketnoi")), to_addr=NameAddr(SipURI(self.trunk.host)),
            contact=t.endpoint.stack.contact_uri("ketnoi", destination.transport))
        response = await self._request(request, destination)
        if response.status in (408, 503) and response.headers.get("server") is None:
            self._set_status("unreachable", "no answer to OPTIONS")
        else:  # any answer proves the peer is there (§11: even 404/405 are answers)
            self._set_status("reachable", f"OPTIONS {response.status}")
        return self.status

    async def _ping_loop(self) -> None:
        while True:
            await self.ping()
            await asyncio.sleep(self.manager.ping_seconds)


class TrunkManager:
    """Every enabled trunk's client; reconciled on each applied configuration."""

    def __init__(self, tenant: Tenant, *, retry_seconds: float = 30.0) -> None:
        self.tenant = tenant
        self.ping_seconds = float(tenant.engine.settings.sip_trunk_ping_seconds)
        self.retry_seconds = retry_seconds
        self.clients: dict[str, TrunkClient] = {}

    async def start(self) -> None:
        await self.on_config(self.tenant.cfg)

    async def on_config(self, cfg: PbxConfig) -> None:
        wanted = {t.id: t for t in cfg.trunks if t.enabled}
        for trunk_id, client in list(self.clients.items()):
            if wanted.get(trunk_id) != client.trunk:
                await client.stop()
                del self.clients[trunk_id]
        for trunk_id, trunk in wanted.items():
            if trunk_id not in self.clients and trunk.host:
                client = self.clients[trunk_id] = TrunkClient(self, trunk)
                if trunk.kind == "register":
                    with contextlib.suppress(OSError):
                        infos = await asyncio.get_running_loop().getaddrinfo(trunk.host, None)
                        client.addresses = {i[4][0] for i in infos}
                client.start()

    async def stop(self) -> None:
        for client in list(self.clients.values()):
            await client.stop()
        self.clients.clear()

    def trunk_for_source(self, source: Address) -> TrunkConfig | None:
        """The trunk a request comes from: a peer by its allowed networks, a registering trunk by
        its provider's address (and port, when the provider shares an address with others)."""
        cfg = self.tenant.cfg
        peer = cfg.trunk_for_address(source.host)
        if peer is not None:
            return peer
        for client in self.clients.values():
            t = client.trunk
            if t.kind == "register" and source.host in client.addresses and (
                    not t.port or t.port == source.port or source.transport != "udp"):
                return t
        return None
