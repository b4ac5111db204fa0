"""The two sides of a B2BUA call (RFC 3261 §13–15, RFC 3264, RFC 7092): the caller's leg, where
the engine is the UAS, and each callee leg, where it is the UAC. Each leg owns its dialog, its SDP
session and (for the caller) its RTP endpoint, and reports what happens to its ``Call``.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING

from ketnoi.telephony.media.session import RtpEndpoint
from ketnoi.telephony.sdp import MediaParams, SdpError, SdpSession, parse
from ketnoi.telephony.sip.auth import DigestClient
from ketnoi.telephony.sip.dialog import Dialog, DialogState, address_of, build_request
from ketnoi.telephony.sip.errors import ParseError
from ketnoi.telephony.sip.events import (
    AckReceived,
    Address,
    Event,
    RequestReceived,
    ResponseReceived,
    TransactionTimeout,
    TransportError,
)
from ketnoi.telephony.sip.headers import NameAddr
from ketnoi.telephony.sip.message import Request, Response
from ketnoi.telephony.sip.transaction import ClientInviteTransaction
from ketnoi.telephony.sip.uri import URI

if TYPE_CHECKING:  # pragma: no cover
    from ketnoi.telephony.engine.call import Call

log = logging.getLogger(__name__)
SDP = "application/sdp"
ALLOW = ("Allow", "INVITE, ACK, CANCEL, BYE, OPTIONS, INFO, UPDATE")


class _Leg(ABC):
    """What both kinds of leg share: dialog bookkeeping, in-dialog requests, BYE."""

    role = ""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.tenant = call.tenant
        self.dialog: Dialog | None = None
        self.sdp: SdpSession | None = None
        self.params: MediaParams | None = None
        self.terminated = False
        self.key: tuple[str, str] | None = None

    @property
    @abstractmethod
    def endpoint(self) -> RtpEndpoint | None:
        """This leg's RTP endpoint, once it has one."""

    def _register(self, call_id: str, tag: str) -> None:
        self.key = (call_id, tag)
        self.tenant.dialogs[self.key] = self

    def forget(self) -> None:
        if self.key is not None and self.tenant.dialogs.get(self.key) is self:
            del self.tenant.dialogs[self.key]

    @abstractmethod
    def peer_address(self) -> Address:
        """Where in-dialog requests of this leg go."""

    def on_ack(self, event: AckReceived) -> None:
        """ACK of our 2xx (initial INVITE or re-INVITE): may carry the answer to our offer."""
        if event.request.body and self.sdp is not None and self.call.awaiting_answer is self:
            self.call.awaiting_answer = None
            try:
                params = self.sdp.receive_answer(parse(event.request.body))
            except SdpError:
                self.call.hangup(self, "system", cause=488)
                return
            self.call.media_updated(self, params)

    def on_request(self, event: RequestReceived) -> None:
        request, tx, ep = event.request, event.transaction, self.tenant.endpoint
        if self.dialog is None:
            ep.respond(tx, 481)
            return
        refusal = self.dialog.receive_request(request)
        if refusal is not None:
            ep.respond(tx, refusal)
            return
        method = request.method
        if method == "BYE":
            ep.respond(tx, 200)
            self.terminated = True
            self.call.hangup(self, self.role)
        elif method in ("INVITE", "UPDATE"):
            self._reoffer(event)
        elif method in ("INFO", "OPTIONS"):
            ep.respond(tx, 200)  # INFO: dtmf-relay bodies are accepted and ignored (RFC 4733 is used)
        else:
            ep.respond(tx, 405, headers=[ALLOW])

    def _reoffer(self, event: RequestReceived) -> None:
        """re-INVITE / UPDATE (RFC 3264 §8, RFC 3311): hold, resume, new address, session refresh."""
        request, tx, ep = event.request, event.transaction, self.tenant.endpoint
        headers = [ALLOW, ("Contact", f"<{self.contact_uri()}>")]
        if request.headers.get("session-expires"):
            headers.append(("Session-Expires", request.headers.get("session-expires") or ""))
        if self.sdp is None:
            ep.respond(tx, 488)
            return
        if not request.body:  # offer in our 2xx, answer in the ACK (§14.2)
            if request.method == "UPDATE":
                ep.respond(tx, 200, headers=headers)
                return
            self.call.awaiting_answer = self
            ep.respond(tx, 200, headers=headers, body=self.sdp.create_offer().to_bytes(), content_type=SDP)
            return
        try:
            answer, params = self.sdp.receive_offer(parse(request.body))
        except SdpError:
            ep.respond(tx, 488, headers=[("Warning", '304 ketnoi "no common media"')])
            return
        ep.respond(tx, 200, headers=headers, body=answer.to_bytes(), content_type=SDP)
        self.call.media_updated(self, params)

    def contact_uri(self) -> URI:
        return self.tenant.endpoint.stack.contact_uri("ketnoi", self.peer_address().transport)

    def bye(self) -> None:
        """Hang this leg up (BYE in a confirmed dialog)."""
        if self.terminated or self.dialog is None or self.dialog.state is not DialogState.CONFIRMED:
            self.terminated = True
            return
        self.terminated = True
        request = self.dialog.create_request("BYE")
        self.tenant.send_request(request, self.in_dialog_address(), lambda event: None)

    def in_dialog_address(self) -> Address:
        return self.peer_address()


class InboundLeg(_Leg):
    """The caller: an INVITE we answer (extension or trunk)."""

    role = "caller"

    def __init__(self, call: Call, event: RequestReceived) -> None:
        super().__init__(call)
        self.request: Request = event.request
        self.tx = event.transaction
        self.source: Address = event.source
        self.ep: RtpEndpoint | None = None
        self.answer_body = b""
        self.answered = False
        self.acked = False
        self._register(self.request.call_id, self.tx.to_tag or "")

    @property
    def endpoint(self) -> RtpEndpoint | None:
        return self.ep

    def peer_address(self) -> Address:
        return self.source  # symmetric signalling: phones behind NAT are reached where they sent from

    async def open_media(self, codecs) -> None:
        """RTP endpoint and the answer to the caller's offer (raises SdpError / NoCommonCodec → 488)."""
        t = self.tenant
        self.ep = await RtpEndpoint.open(t.ports, t.engine.media_bind(t))
        self.sdp = SdpSession(t.media_host(self.source.host), self.ep.port, codecs=codecs)
        if self.request.body:
            answer, self.params = self.sdp.receive_offer(parse(self.request.body))
            self.ep.configure(self.params)
            self.answer_body = answer.to_bytes()
        else:  # late offer (§13.2.1): our offer goes in the 2xx, the answer comes in the ACK
            self.answer_body = self.sdp.create_offer().to_bytes()
            self.call.awaiting_answer = self

    def _dialog_from(self, response: Response) -> None:
        if self.dialog is None:
            self.dialog = Dialog.from_uas(self.request, response)
        elif 200 <= response.status < 300:
            self.dialog.state = DialogState.CONFIRMED

    def _headers(self) -> list[tuple[str, str]]:
        return [ALLOW, ("Contact", f"<{self.contact_uri()}>")]

    def ring(self) -> None:
        if not self.answered and not self.tx.final_sent:
            self._dialog_from(self.tenant.endpoint.respond(self.tx, 180, headers=self._headers()))

    def early_media(self) -> None:
        """183 with our answer: the caller hears what the callee side plays (RFC 3960 gateway model)."""
        if not self.answered and not self.tx.final_sent and self.request.body:
            self._dialog_from(self.tenant.endpoint.respond(self.tx, 183, headers=self._headers(),
                                                           body=self.answer_body, content_type=SDP))

    def answer(self) -> None:
        if self.answered or self.tx.final_sent:
            return
        self.answered = True
        headers = self._headers()
        expires = self.request.headers.get("session-expires")
        if expires:  # RFC 4028 tolerated: the caller refreshes, we answer its refreshes
            headers += [("Session-Expires", f"{expires.split(';')[0].strip()};refresher=uac"),
                        ("Require", "timer")]
        self._dialog_from(self.tenant.endpoint.respond(self.tx, 200, headers=headers, body=self.answer_body,
                                                       content_type=SDP))

    def reject(self, status: int, reason: str | None = None, headers: list[tuple[str, str]] | tuple = ()) -> None:
        if not self.tx.final_sent:
            self.tenant.endpoint.respond(self.tx, status, reason, headers=headers)
        self.terminated = True

    def on_ack(self, event: AckReceived) -> None:
        self.acked = True
        super().on_ack(event)


class OutboundLeg(_Leg):
    """A callee: one INVITE we send (to one contact of an extension, or to a trunk)."""

    role = "callee"

    def __init__(self, call: Call, *, kind: str, name: str, number: str, uri: URI, destination: Address,
                 from_addr: NameAddr, to_addr: NameAddr, sdp: SdpSession, ep: RtpEndpoint,
                 credentials: DigestClient | None = None, trunk_id: str = "",
                 headers: list[tuple[str, str]] | tuple = ()) -> None:
        super().__init__(call)
        self.kind, self.name, self.number, self.trunk_id = kind, name, number, trunk_id
        self.uri, self.destination = uri, destination
        self.from_addr, self.to_addr = from_addr, to_addr
        self.sdp, self.ep = sdp, ep
        self.credentials = credentials
        self.extra = list(headers)
        self.invite: Request | None = None
        self.tx: ClientInviteTransaction | None = None
        self.final: int | None = None  # final status (200 when answered)
        self.reason = ""
        self.ringing = False
        self.cancelled = False

    @property
    def endpoint(self) -> RtpEndpoint | None:
        return self.ep

    def peer_address(self) -> Address:
        return self.destination

    def in_dialog_address(self) -> Address:
        """Extensions: the contact's NAT binding; trunks: the dialog's next hop (its Contact)."""
        return self.destination if self.dialog is None else self._address_of(self.dialog)

    def send_invite(self, max_forwards: int = 70) -> None:
        offer = self.sdp.create_offer()
        t = self.tenant
        self.invite = build_request(
            "INVITE", self.uri, from_addr=self.from_addr, to_addr=self.to_addr,
            contact=t.endpoint.stack.contact_uri("ketnoi", self.destination.transport),
            headers=[("Max-Forwards", str(max_forwards)), ALLOW, ("Supported", "replaces, timer"), *self.extra],
            body=offer.to_bytes(), content_type=SDP)
        self.from_addr = self.invite.from_addr
        self._register(self.invite.call_id, self.from_addr.tag or "")
        self._send(self.invite)

    def _send(self, request: Request) -> None:
        self.invite = request
        self.tx = self.tenant.send_request(request, self.destination, self._on_event)  # type: ignore[assignment]

    def cancel(self) -> None:
        """CANCEL while unanswered (§9.1); the 487 that follows is expected."""
        self.cancelled = True
        if self.tx is not None and self.final is None:
            self.tenant.endpoint.cancel(self.tx)

    # ------------------------------------------------------------------ responses
    def _on_event(self, event: Event) -> None:
        if isinstance(event, ResponseReceived):
            self._on_response(event.response)
        elif isinstance(event, TransactionTimeout | TransportError) and self.final is None:
            self.final, self.reason = (408, "timeout") if isinstance(event, TransactionTimeout) else \
                    (503, f"transport: {event.error}")
            self.forget()
            self.call.leg_failed(self)

    def _on_response(self, response: Response) -> None:
        status = response.status
        if status < 200:
            if self.final is not None:
                return
            if response.to_addr.tag and self.dialog is None:
                try:
                    self.dialog = Dialog.from_uac(self.invite, response)
                except ParseError:
                    pass
            if status in (180, 183) and not self.ringing:
                self.ringing = True
                self.call.leg_ringing(self)
            if status == 183 and response.body and response.content_type == SDP:
                try:
                    params = self.sdp.receive_answer(parse(response.body))
                except SdpError:
                    return
                self.call.leg_early_media(self, params)
            return
        if status < 300:
            self._on_2xx(response)
            return
        if self.final is not None:
            return
        if status in (401, 407) and self.credentials is not None and not self.cancelled:
            retry = self.credentials.authorize(self.invite, response)
            if retry is not None:  # a trunk that authenticates our calls (CC-09)
                self._send(retry)
                return
        self.final, self.reason = status, response.reason or ""
        self.forget()
        self.call.leg_failed(self)

    def _on_2xx(self, response: Response) -> None:
        ep = self.tenant.endpoint
        try:
            dialog = Dialog.from_uac(self.invite, response)
        except ParseError:
            return
        late = self.final is not None or self.cancelled or self.call.winner not in (None, self)
        if late:  # another branch answered too (§13.2.2.4), or the call no longer wants us: ACK, BYE
            if self.final == 200 and self.dialog is not None and dialog.remote_tag == self.dialog.remote_tag:
                return
            ep.send_ack(dialog.create_ack(self.invite), self._address_of(dialog), self.tx)
            self.tenant.send_request(dialog.create_request("BYE"), self._address_of(dialog), lambda event: None)
            if self.final is None:
                self.final, self.reason = 487, "answered after the call moved on"
                self.forget()
                self.call.leg_failed(self)
            return
        self.dialog = dialog
        self.final = 200
        ep.send_ack(dialog.create_ack(self.invite), self.in_dialog_address(), self.tx)
        try:
            params = self.sdp.receive_answer(parse(response.body))
        except SdpError:
            self.bye()
            self.final, self.reason = 488, "bad or missing SDP answer"
            self.call.leg_failed(self)
            return
        self.call.leg_answered(self, params)

    def _address_of(self, dialog: Dialog) -> Address:
        if self.kind == "extension":
            return self.destination
        try:
            return address_of(dialog.next_hop(), self.destination.transport)
        except (ValueError, ParseError):
            return self.destination
