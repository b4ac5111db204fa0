"""A tiny user agent server built on ketnoi's SIP stack, for the real-peer tests (SIPp drives it).

It is the smallest TU that exercises the stack end to end: INVITE → 180 → 200 with SDP, ACK, BYE,
CANCEL (ringing calls wait for it), REGISTER behind digest auth with a registrar, OPTIONS (answered
by the stack itself). The call engine is the real TU; this one exists so the SIP layer is tested alone.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from ketnoi.telephony.sip import (
    AckReceived,
    Dialog,
    DigestServer,
    Registrar,
    RequestCancelled,
    RequestReceived,
    SipEndpoint,
    SipStack,
    TimerConfig,
    TransactionTimeout,
)

SDP = (b"v=0\r\no=ketnoi 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
       b"m=audio 40000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n")


@dataclass
class MiniUas:
    """``ring_only`` users never answer (so SIPp can CANCEL); ``passwords`` guard REGISTER."""

    passwords: dict[str, str] = field(default_factory=dict)
    ring_only: set[str] = field(default_factory=set)
    timers: TimerConfig = field(default_factory=TimerConfig)
    algorithms: tuple[str, ...] = ("MD5",)
    dialogs: dict = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.stack = SipStack(timers=self.timers)
        self.endpoint = SipEndpoint(self.stack, handler=self.on_event)
        self.digest = DigestServer("ketnoi.test", nonce_ttl=30, algorithms=self.algorithms)
        self.registrar = Registrar(min_expires=1)

    def count(self, what: str) -> None:
        self.counts[what] = self.counts.get(what, 0) + 1

    async def start(self) -> int:
        await self.endpoint.start("127.0.0.1", 0)
        return self.endpoint.address("udp").port

    async def close(self) -> None:
        await self.endpoint.close()

    def on_event(self, event) -> None:
        if isinstance(event, RequestReceived):
            self.count(event.request.method)
            getattr(self, f"on_{event.request.method.lower()}", self.on_other)(event)
        elif isinstance(event, AckReceived):
            self.count("ACK")
        elif isinstance(event, RequestCancelled):
            self.count("CANCELLED")
        elif isinstance(event, TransactionTimeout):
            self.count("TIMEOUT")

    def on_other(self, event: RequestReceived) -> None:
        self.endpoint.respond(event.transaction, 501)

    def on_invite(self, event: RequestReceived) -> None:
        request, tx = event.request, event.transaction
        if request.to_addr.tag is not None:  # re-INVITE (hold/resume): accept the new offer
            dialog = self.dialogs.get((request.call_id, request.to_addr.tag))
            if dialog is None:
                self.endpoint.respond(tx, 481)
                return
            dialog.receive_request(request)
            self.endpoint.respond(tx, 200, body=SDP, content_type="application/sdp",
                                  headers=[("Contact", f"<{self.stack.contact_uri('uas')}>")])
            self.count("REINVITE")
            return
        contact = [("Contact", f"<{self.stack.contact_uri('uas')}>")]
        ringing = self.endpoint.respond(tx, 180, headers=contact)
        self.dialogs[(request.call_id, tx.to_tag)] = Dialog.from_uas(request, ringing)
        user = getattr(request.uri, "user", None)
        if user in self.ring_only:
            return
        answer = self.endpoint.respond(tx, 200, body=SDP, content_type="application/sdp", headers=contact)
        self.dialogs[(request.call_id, tx.to_tag)].receive_response(answer)

    def on_bye(self, event: RequestReceived) -> None:
        request = event.request
        dialog = self.dialogs.pop((request.call_id, request.to_addr.tag), None)
        if dialog is None:
            self.endpoint.respond(event.transaction, 481)
            return
        status = dialog.receive_request(request)
        self.endpoint.respond(event.transaction, status or 200)

    def on_register(self, event: RequestReceived) -> None:
        request, tx = event.request, event.transaction
        now = self.endpoint.now
        result = self.digest.verify(request, self.passwords.get, now)
        if not result.ok:
            self.count("CHALLENGED")
            self.endpoint.respond(tx, 401, headers=self.digest.challenge(now, stale=result.stale))
            return
        outcome = self.registrar.register(request, now, source=event.source)
        self.endpoint.respond(tx, outcome.status, headers=outcome.headers)


async def run_uas(**kwargs) -> MiniUas:
    uas = MiniUas(**kwargs)
    await uas.start()
    return uas


if __name__ == "__main__":  # manual runs: python -m tests.telephony.sip.uas
    async def main() -> None:
        uas = await run_uas(passwords={"1001": "demo1001"}, ring_only={"ring"})
        print("listening on", uas.endpoint.address("udp"), flush=True)
        await asyncio.Event().wait()

    asyncio.run(main())
