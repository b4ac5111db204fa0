"""The B2BUA of one PBX (CC-04, CC-06, CC-09…11, CC-14): who is calling (a trunk known by its
address, or an extension proven by digest, 407), where the call goes (extension dialling, inbound
routes for DIDs, outbound routes with PIN and trunk failover), and the calls in progress."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import Counter
from typing import TYPE_CHECKING

from ketnoi.telephony.engine import prompts
from ketnoi.telephony.engine.call import STOP_FAILOVER, Call, CallEnded, best_failure, disposition_for
from ketnoi.telephony.engine.legs import OutboundLeg
from ketnoi.telephony.engine.registrar_service import user_of
from ketnoi.telephony.media.session import MediaError
from ketnoi.telephony.pbx.config import DEST_EXTENSION, DEST_HANGUP, DEST_NUMBER, DEST_PLAY, Destination
from ketnoi.telephony.pbx.routing import OutboundMatch, inbound_route_for, match_outbound
from ketnoi.telephony.sdp import AUDIO_CODECS, NoCommonCodec, SdpError
from ketnoi.telephony.sip.auth import DigestClient
from ketnoi.telephony.sip.errors import ParseError
from ketnoi.telephony.sip.events import Address, RequestCancelled, RequestReceived
from ketnoi.telephony.sip.headers import NameAddr
from ketnoi.telephony.sip.transaction import ServerInviteTransaction
from ketnoi.telephony.sip.uri import SipURI

if TYPE_CHECKING:  # pragma: no cover
    from ketnoi.telephony.engine.tenant import Tenant

log = logging.getLogger(__name__)
TRUNK_RING_SECONDS = 120.0


def codecs_for(names, general) -> tuple:
    """Codec objects in the object's preference order, limited to the PBX's codecs (CC-05)."""
    allowed = {n.upper() for n in general}
    out = tuple(AUDIO_CODECS[n.upper()] for n in names if n.upper() in AUDIO_CODECS and n.upper() in allowed)
    return out or tuple(AUDIO_CODECS[n.upper()] for n in general if n.upper() in AUDIO_CODECS)


class B2BUA:
    def __init__(self, tenant: Tenant) -> None:
        self.tenant = tenant
        self.calls: dict[str, Call] = {}
        self.by_tx: dict[ServerInviteTransaction, Call] = {}
        self.channels: Counter[str] = Counter()  # trunk id → calls using it (CC-09 max channels)
        self._trunk_of: dict[str, list[str]] = {}
        self.refused = Counter()

    # ------------------------------------------------------------------ SIP entry points
    def on_invite(self, event: RequestReceived) -> None:
        asyncio.get_running_loop().create_task(self._on_invite(event))

    def on_cancelled(self, event: RequestCancelled) -> None:
        call = self.by_tx.get(event.transaction)
        if call is not None:
            call.cancelled()

    def on_server_timeout(self, tx: ServerInviteTransaction) -> None:
        call = self.by_tx.get(tx)
        if call is not None and call.a.answered and not call.a.acked:
            call.finish("failed", "system", 408)  # our 2xx was never acknowledged (§13.3.1.4)

    def forget(self, call: Call) -> None:
        self.calls.pop(call.id, None)
        self.by_tx.pop(call.a.tx, None)
        for trunk_id in self._trunk_of.pop(call.id, []):
            self.channels[trunk_id] -= 1

    def _take_channel(self, call: Call, trunk) -> bool:
        if trunk.max_channels and self.channels[trunk.id] >= trunk.max_channels:
            return False
        self.channels[trunk.id] += 1
        self._trunk_of.setdefault(call.id, []).append(trunk.id)
        return True

    async def stop(self) -> None:
        for call in list(self.calls.values()):
            call.finish("answered" if call.bridge else "failed", "system", 503)

    def _refuse(self, event: RequestReceived, status: int, headers=()) -> None:
        self.refused[status] += 1
        self.tenant.endpoint.respond(event.transaction, status, headers=headers)

    # ------------------------------------------------------------------ who calls, where to
    async def _on_invite(self, event: RequestReceived) -> None:
        t = self.tenant
        cfg = t.cfg
        request, source = event.request, event.source
        try:
            dialled = user_of(request.uri)
            caller_addr = request.from_addr
        except ParseError:
            self._refuse(event, 400)
            return
        caller, caller_name = user_of(caller_addr.uri), caller_addr.display or ""
        trunk = t.trunks.trunk_for_source(source)
        plan: list = []
        kind = {}
        if trunk is not None:
            did = dialled if dialled and dialled != trunk.username else user_of(request.to_addr.uri)
            route = inbound_route_for(cfg, did, caller)
            if route is not None:
                plan, kind = route.destination.steps(), {"direction": "inbound", "called": did, "trunk": trunk,
                                                              "route_name": route.name}
            elif cfg.extension(caller) is None:
                self._refuse(event, 404)
                return
        if not plan:
            result = t.auth.verify(request, caller, t.now, proxy=True)
            if not result.ok:
                wrong = t.auth.credentials_user(request, proxy=True) is not None and not result.stale
                if wrong and result.reason != "nonce count replayed":
                    log.info("INVITE from %s as %s refused: %s", source, caller, result.reason)
                    self._refuse(event, 403)
                else:
                    self._refuse(event, 407, t.auth.challenge(t.now, stale=result.stale, proxy=True))
                return
            ext = cfg.extension(caller)
            if ext is None or not ext.permits(source.host):
                self._refuse(event, 403)
                return
            caller_name = caller_name or ext.caller_id_name
            kind = {"direction": "internal", "called": dialled, "extension": caller}
            if cfg.extension(dialled) is not None:
                plan = [Destination(DEST_EXTENSION, dialled)]
            elif (match := match_outbound(cfg, dialled)) is not None:
                plan, kind["direction"] = [match], "outbound"
            elif (route := inbound_route_for(cfg, dialled, caller)) is not None:
                plan, kind["route_name"] = route.destination.steps(), route.name
            else:
                self._refuse(event, 404)
                return
        if trunk is not None and kind.get("trunk") is trunk and trunk.max_channels and \
                self.channels[trunk.id] >= trunk.max_channels:
            self._refuse(event, 503)
            return
        names = kind["trunk"].codecs if kind.get("trunk") else cfg.extension(caller).codecs
        call = Call(self, event, cfg=cfg, caller=caller, caller_name=caller_name, **kind)
        self.calls[call.id] = call
        self.by_tx[event.transaction] = call
        if kind.get("trunk"):
            self._take_channel(call, kind["trunk"])
        try:
            await call.a.open_media(codecs_for(names, cfg.settings.codecs))
        except NoCommonCodec:
            call.finish("failed", "system", 488)
            return
        except SdpError:
            call.finish("failed", "system", 488)
            return
        except MediaError:
            call.finish("failed", "system", 503)
            return
        if call.finished:  # cancelled while the media was set up
            return
        caller_ext = cfg.extension(caller) if not kind.get("trunk") else None
        call.record = bool(caller_ext and caller_ext.record)
        call.task = asyncio.get_running_loop().create_task(self.run(call, plan), name=f"call {call.id}")

    # ------------------------------------------------------------------ the routing plan
    async def run(self, call: Call, plan: list) -> None:
        try:
            status = await self._steps(call, plan)
            if call.finished:
                return
            if status is None:  # a prompt destination that ends the call
                call.finish("answered" if call.a.answered else "failed", "system", 200 if call.a.answered else 480)
            else:
                await self._fail(call, status)
        except CallEnded:
            pass
        except Exception:
            log.exception("call %s failed", call.id)
            call.finish("failed", "system", 500)

    async def _steps(self, call: Call, steps: list) -> int | None:
        for step in steps:
            if isinstance(step, OutboundMatch):
                return await self._outbound(call, step, pin=True)
            if step.kind == DEST_PLAY:
                sound = call.cfg.sound(step.ref)
                if step.next is None or step.next.kind == DEST_HANGUP:
                    call.answered_by_system = True
                    call.log.answer(None)
                if sound is not None:
                    await call.play(sound.path)
            elif step.kind == DEST_EXTENSION:
                return await self._extension(call, step.ref)
            elif step.kind == DEST_NUMBER:
                match = match_outbound(call.cfg, step.ref)
                return 404 if match is None else await self._outbound(call, match, pin=False)
            elif step.kind == DEST_HANGUP:
                return None if call.a.answered else 480
            else:  # kinds of the call-center layer not served by this engine yet
                log.warning("call %s: destination kind %r is not handled", call.id, step.kind)
                return 404
        return None

    async def _fail(self, call: Call, status: int) -> None:
        """No callee: refuse the caller, or (already answered by us) tell them and hang up."""
        by = "callee" if status in STOP_FAILOVER else "system"
        if call.a.answered:
            try:
                await call.play(await prompts.builtin("unavailable", call.cfg.settings.prompt_language,
                                                      call.data_dir) if status not in STOP_FAILOVER
                                else prompts.busy())
            except CallEnded:
                return
        # nobody was even tried (an extension with no registered phone): the call failed, nobody "did not answer"
        disposition = "failed" if status == 480 and not call.legs else disposition_for(status)
        call.finish(disposition, by, status)

    def _our_uri(self, user: str) -> SipURI:
        return SipURI(self.tenant.endpoint.address().host, user)

    async def _extension(self, call: Call, number: str) -> int:
        t = self.tenant
        ext = call.cfg.extension(number)
        if ext is None:
            return 404
        contacts = t.registrar.contacts(number)
        if not contacts:
            return 480
        call.record = call.record or ext.record
        await call.callee_media(codecs_for(ext.codecs, call.cfg.settings.codecs))
        from_addr = NameAddr(self._our_uri(call.caller), call.caller_name or None)
        legs = [OutboundLeg(call, kind="extension", name=number, number=number, uri=b.uri,
                            destination=t.registrar.destination(b), from_addr=from_addr,
                            to_addr=NameAddr(self._our_uri(number)), sdp=call.b_sdp, ep=call.b_ep)
                for b in contacts]
        result = await call.dial(legs, t.engine.settings.sip_ring_timeout_seconds)
        if isinstance(result, OutboundLeg):
            await call.connect(result, extension=number)
        return result

    def _caller_id(self, call: Call, trunk, route) -> tuple[str, str]:
        """(number, display) presented to a trunk (CC-09, CC-11): route > trunk fixed > extension."""
        ext = call.cfg.extension(call.caller_extension) if call.caller_extension else None
        if trunk.caller_id_mode == "anonymous":
            return "anonymous", "Anonymous"
        if route is not None and route.caller_id_number:
            return route.caller_id_number, ""
        if trunk.caller_id_mode == "fixed" and trunk.caller_id_number:
            return trunk.caller_id_number, ""
        if ext is not None:
            return ext.caller_id_number or ext.number, ext.caller_id_name
        return call.caller, call.caller_name

    async def _outbound(self, call: Call, match: OutboundMatch, *, pin: bool) -> int:
        t = self.tenant
        if pin and match.route.pin_set_id:
            pin_set = call.cfg.pin_set(match.route.pin_set_id)
            call.answer_caller()
            if pin_set is None or await prompts.ask_pin(call, pin_set.pins) is None:
                return 403
        statuses: list[int] = []
        for trunk in match.trunks:
            if not self._take_channel(call, trunk):
                statuses.append(503)
                continue
            try:
                infos = await asyncio.get_running_loop().getaddrinfo(trunk.host, trunk.port or 5060,
                                                                     type=socket.SOCK_DGRAM)
                host = infos[0][4][0]
            except OSError:
                statuses.append(503)
                continue
            await call.callee_media(codecs_for(trunk.codecs, call.cfg.settings.codecs))
            number, display = self._caller_id(call, trunk, match.route)
            uri = SipURI(trunk.host, match.number, port=trunk.port or None)
            from_host = trunk.host if trunk.kind == "register" else t.endpoint.address().host
            from_addr = NameAddr(SipURI(from_host, number), display or None)
            headers = [("P-Asserted-Identity", f"<sip:{number}@{from_addr.uri.host}>")]
            if trunk.caller_id_mode == "anonymous":
                headers.append(("Privacy", "id"))
            credentials = DigestClient(trunk.username, trunk.password) if trunk.username and trunk.password else None
            leg = OutboundLeg(call, kind="trunk", name=trunk.name, number=match.number, uri=uri,
                              destination=Address(trunk.transport or "udp", host, trunk.port or 5060),
                              from_addr=from_addr, to_addr=NameAddr(uri), sdp=call.b_sdp, ep=call.b_ep,
                              credentials=credentials, trunk_id=trunk.id, headers=headers)
            result = await call.dial([leg], TRUNK_RING_SECONDS)
            if isinstance(result, OutboundLeg):
                await call.connect(result)
                return 200
            statuses.append(result)
            log.info("call %s: trunk %s refused (%s)%s", call.id, trunk.name, result,
                     "" if result in STOP_FAILOVER else ", trying the next one")
            if result in STOP_FAILOVER:
                break
        return best_failure(statuses)
