"""One organization's PBX inside the engine (CC-05): its SIP endpoint on the ports of its applied
settings, its RTP port range, and the dispatch of SIP events to the registrar, the B2BUA and the
trunk client. The applied configuration is swapped in place; calls keep the one they started with.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from ketnoi.telephony.media.session import PortAllocator
from ketnoi.telephony.pbx.config import PbxConfig
from ketnoi.telephony.sip.endpoint import SipEndpoint
from ketnoi.telephony.sip.events import (
    AckReceived,
    Address,
    Event,
    RequestCancelled,
    RequestReceived,
    ResponseReceived,
    TransactionTimeout,
    TransportError,
)
from ketnoi.telephony.sip.message import Request
from ketnoi.telephony.sip.stack import SipStack
from ketnoi.telephony.sip.transaction import (
    ClientInviteTransaction,
    ClientTransaction,
    ServerInviteTransaction,
)

if TYPE_CHECKING:  # pragma: no cover
    from ketnoi.telephony.engine.engine import TelephonyEngine

log = logging.getLogger(__name__)
ClientHandler = Callable[[Event], None]
OWNER_GRACE = 40.0  # seconds a finished client transaction's owner stays known (late 2xx of forks)


def route_source(peer_host: str) -> str:
    """The local address the kernel would send to ``peer_host`` from (no packet is sent)."""
    family = socket.AF_INET6 if ":" in peer_host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as s:
        try:
            s.connect((peer_host, 9))
            return s.getsockname()[0]
        except OSError:
            return "127.0.0.1" if family == socket.AF_INET else "::1"


class Tenant:
    """The PBX of one organization: SIP endpoint + RTP ports + registrar + B2BUA + trunks."""

    def __init__(self, engine: TelephonyEngine, cfg: PbxConfig) -> None:
        from ketnoi.telephony.engine.auth import ExtensionAuth
        from ketnoi.telephony.engine.b2bua import B2BUA
        from ketnoi.telephony.engine.registrar_service import RegistrarService
        from ketnoi.telephony.engine.trunk_client import TrunkManager

        self.engine = engine
        self.cfg = cfg
        self.org_id = cfg.organization_id
        self.bind = engine.settings.sip_bind_address
        self.endpoint = SipEndpoint(SipStack(user_agent="ketnoi"), handler=self._on_event)
        self.ports = PortAllocator(cfg.settings.rtp_port_min, cfg.settings.rtp_port_max)
        self.auth = ExtensionAuth(cfg, algorithms=engine.settings.sip_digest_algorithms)
        self.registrar = RegistrarService(self)
        self.b2bua = B2BUA(self)
        self.trunks = TrunkManager(self)
        #: (Call-ID, our tag) → the leg that owns that dialog
        self.dialogs: dict[tuple[str, str], object] = {}
        self._owners: dict[ClientTransaction, ClientHandler] = {}
        self._forgetting: set[ClientTransaction] = set()
        self._ports_key = self._sip_ports(cfg)

    # ------------------------------------------------------------------ lifecycle
    @staticmethod
    def _sip_ports(cfg: PbxConfig) -> tuple[int, int]:
        return (cfg.settings.sip_udp_port, cfg.settings.sip_tcp_port)

    async def start(self) -> None:
        await self._bind()
        self.registrar.start()
        await self.trunks.start()
        log.info("PBX of organization %s serving SIP on %s (revision %s)", self.org_id,
                 self.endpoint.address("udp"), self.cfg.revision)

    async def _bind(self) -> None:
        s = self.cfg.settings
        tcp_port = s.sip_tcp_port if s.sip_tcp_port and s.sip_tcp_port != s.sip_udp_port else None
        await self.endpoint.start(self.bind, s.sip_udp_port, udp=True, tcp=True, tcp_port=tcp_port,
                                  advertised_host=s.public_address or None)

    async def stop(self) -> None:
        await self.b2bua.stop()
        await self.trunks.stop()
        self.registrar.stop()
        await self.endpoint.close()

    async def swap(self, cfg: PbxConfig) -> None:
        """A new applied configuration: new calls use it, live calls keep theirs (CC-05 Apply)."""
        old = self.cfg
        self.cfg = cfg
        if (cfg.settings.rtp_port_min, cfg.settings.rtp_port_max) != (old.settings.rtp_port_min,
                                                                      old.settings.rtp_port_max):
            self.ports = PortAllocator(cfg.settings.rtp_port_min, cfg.settings.rtp_port_max)
        if self._sip_ports(cfg) != self._ports_key or cfg.settings.public_address != old.settings.public_address:
            # New SIP ports: live calls' in-dialog requests reach the new listener through their Contact
            # only after a target refresh; they keep working over the ports the peers already know
            # until the old sockets close here, which is the documented cost of changing ports.
            await self.endpoint.close()
            self.endpoint = SipEndpoint(SipStack(user_agent="ketnoi"), handler=self._on_event)
            await self._bind()
            self._ports_key = self._sip_ports(cfg)
        self.auth.on_config(cfg)
        self.registrar.on_config(cfg)
        await self.trunks.on_config(cfg)
        log.info("PBX of organization %s now on revision %s", self.org_id, cfg.revision)

    # ------------------------------------------------------------------ helpers for the TUs
    @property
    def now(self) -> float:
        return self.endpoint.now

    def media_host(self, peer_host: str) -> str:
        """The address written in SDP for a peer (CC-05: public address outside the local networks)."""
        s = self.cfg.settings
        try:
            peer = ipaddress.ip_address(peer_host)
        except ValueError:
            peer = None
        if s.public_address and peer is not None and not peer.is_loopback and not any(
                _in(peer, n) for n in s.local_networks):
            return s.public_address
        if self.bind not in ("0.0.0.0", "::"):
            return self.bind
        return route_source(peer_host)

    def send_request(self, request: Request, destination: Address, owner: ClientHandler) -> ClientTransaction:
        """Start a client transaction whose events go to ``owner``."""
        tx = self.endpoint.send_request(request, destination)
        if not tx.terminated:
            self._owners[tx] = owner
        return tx

    def forget_later(self, tx: ClientTransaction) -> None:
        if tx not in self._forgetting:
            self._forgetting.add(tx)
            asyncio.get_running_loop().call_later(OWNER_GRACE, self._forget, tx)

    def _forget(self, tx: ClientTransaction) -> None:
        self._forgetting.discard(tx)
        self._owners.pop(tx, None)

    # ------------------------------------------------------------------ dispatch
    def _on_event(self, event: Event) -> None:
        try:
            self._dispatch(event)
        except Exception:
            log.exception("PBX %s failed on %s", self.org_id, type(event).__name__)

    def _dispatch(self, event: Event) -> None:
        if isinstance(event, RequestReceived):
            self._on_request(event)
        elif isinstance(event, AckReceived):
            leg = self.dialogs.get((event.request.call_id, event.request.to_addr.tag or ""))
            if leg is not None:
                leg.on_ack(event)
        elif isinstance(event, ResponseReceived | TransportError) or (
                isinstance(event, TransactionTimeout) and isinstance(event.transaction, ClientTransaction)):
            tx = event.transaction
            owner = self._owners.get(tx)
            if owner is not None:
                if not isinstance(event, ResponseReceived):
                    self._owners.pop(tx, None)
                elif event.response.status >= 200 and tx in self._owners:
                    if isinstance(tx, ClientInviteTransaction):
                        self.forget_later(tx)  # further 2xx of other branches may still come (RFC 6026)
                    else:
                        self._owners.pop(tx, None)
                owner(event)
        elif isinstance(event, TransactionTimeout):  # an INVITE we answered got no ACK (Timer H)
            if isinstance(event.transaction, ServerInviteTransaction):
                self.b2bua.on_server_timeout(event.transaction)
        elif isinstance(event, RequestCancelled):
            self.b2bua.on_cancelled(event)

    def _on_request(self, event: RequestReceived) -> None:
        request = event.request
        to_tag = request.to_addr.tag
        if to_tag:
            leg = self.dialogs.get((request.call_id, to_tag))
            if leg is not None:
                leg.on_request(event)
            elif request.method == "OPTIONS":
                self.endpoint.respond(event.transaction, 200)
            else:
                self.endpoint.respond(event.transaction, 481)  # §12.2.2: no such dialog
            return
        if request.method == "REGISTER":
            self.registrar.on_register(event)
        elif request.method == "INVITE":
            self.b2bua.on_invite(event)
        elif request.method == "OPTIONS":
            self.endpoint.respond(event.transaction, 200)
        elif request.method == "BYE":
            self.endpoint.respond(event.transaction, 481)
        else:
            self.endpoint.respond(event.transaction, 405, headers=[("Allow", ("INVITE, ACK, CANCEL, BYE, OPTIONS, "
                                                                             "REGISTER, INFO, UPDATE"))])


def _in(ip: ipaddress.IPv4Address | ipaddress.IPv6Address, network: str) -> bool:
    try:
        return ip in ipaddress.ip_network(network, strict=False)
    except ValueError:
        return False
