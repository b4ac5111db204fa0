"""One call through the B2BUA (CC-04, CC-10, CC-11): the caller's leg, the callee legs tried (forks
to every contact of an extension, trunks one after another with failover), the media bridge with
optional recording, hold with music, prompts, hang-up from either side, and its call record.

The routing plan runs as one task (``run``); SIP events reach it through the leg callbacks below.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from ketnoi.db.base import new_id
from ketnoi.telephony.engine.legs import InboundLeg, OutboundLeg
from ketnoi.telephony.engine.records import CallLog
from ketnoi.telephony.media.bridge import Bridge
from ketnoi.telephony.media.player import Player, Prompt
from ketnoi.telephony.media.recorder import Recorder
from ketnoi.telephony.media.session import RtpEndpoint
from ketnoi.telephony.pbx import cdr
from ketnoi.telephony.pbx.config import PbxConfig
from ketnoi.telephony.sdp import MediaParams
from ketnoi.telephony.sip.events import RequestReceived

if TYPE_CHECKING:  # pragma: no cover
    from ketnoi.telephony.engine.b2bua import B2BUA

log = logging.getLogger(__name__)
BUSY = frozenset({486, 600})
STOP_FAILOVER = frozenset({486, 600, 603})  # the callee said no: another trunk would not change that
RTP_TIMEOUT = 60.0  # seconds without RTP from either side before a connected call is considered dead


class CallEnded(Exception):
    """The call is over (hang-up, cancel): the routing plan stops."""


def disposition_for(status: int) -> str:
    if status in BUSY:
        return "busy"
    if status in (408, 480, 487):
        return "no_answer"
    return "failed"


def best_failure(statuses: list[int]) -> int:
    """The response to give the caller when every branch failed (RFC 3261 §16.7 step 6, simplified)."""
    if not statuses:
        return 480
    for pick in (lambda s: 600 <= s < 700, lambda s: s in BUSY, lambda s: 400 <= s < 500 and s not in (408, 487)):
        chosen = [s for s in statuses if pick(s)]
        if chosen:
            return min(chosen)
    if all(s in (408, 487) for s in statuses):
        return 480
    return 503


def quality(ep: RtpEndpoint | None) -> cdr.LegQuality | None:
    if ep is None:
        return None
    q = ep.stats()
    return cdr.LegQuality(packets_sent=q.packets_sent, packets_received=q.packets_received,
                          packets_lost=max(0, q.packets_lost), jitter_ms=round(q.jitter_ms, 2), rtt_ms=q.rtt_ms)


class Call:
    def __init__(self, b2bua: B2BUA, event: RequestReceived, *, cfg: PbxConfig, direction: str, caller: str,
                 caller_name: str, called: str, extension: str = "", trunk=None, route_name: str = "") -> None:
        self.id = new_id()
        self.b2bua = b2bua
        self.tenant = b2bua.tenant
        self.engine = self.tenant.engine
        self.data_dir = self.engine.settings.data_dir
        self.cfg = cfg
        self.direction, self.caller, self.caller_name, self.called = direction, caller, caller_name, called
        self.caller_extension = extension
        self.trunk = trunk
        self.a = InboundLeg(self, event)
        self.b_ep: RtpEndpoint | None = None
        self.b_sdp = None
        self.legs: list[OutboundLeg] = []
        self.pending: list[OutboundLeg] = []
        self.winner: OutboundLeg | None = None
        self.awaiting_answer = None
        self.bridge: Bridge | None = None
        self.recorder: Recorder | None = None
        self.record = False
        self.held: dict[object, Player] = {}
        self.side: Player | None = None  # prompt, ringback or tone played to the caller
        self.finished = False
        self.answered_by_system = False  # a prompt destination: the engine itself answered (billable)
        self.ended = asyncio.get_running_loop().create_future()
        self._group: asyncio.Future | None = None
        self.task: asyncio.Task | None = None
        self.log = CallLog(self.engine.records, organization_id=cfg.organization_id, direction=direction,
                           caller=caller, called=called, caller_name=caller_name, sip_call_id=self.a.request.call_id,
                           extension=extension, trunk_id=trunk.id if trunk else "",
                           trunk_name=trunk.name if trunk else "", route_name=route_name)
        self.log.add_leg(self.a, role="caller", endpoint_kind="trunk" if trunk else "extension",
                         endpoint=trunk.name if trunk else extension, number=caller,
                         trunk_id=trunk.id if trunk else "", sip_call_id=self.a.request.call_id,
                         remote_address=str(self.a.source))

    # ------------------------------------------------------------------ plan helpers
    async def guard(self, awaitable):
        """Await ``awaitable`` unless the call ends first (then raise ``CallEnded``)."""
        task = asyncio.ensure_future(awaitable)
        done, _ = await asyncio.wait({task, self.ended}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise CallEnded()

    def answer_caller(self) -> None:
        """Answer the caller ourselves (prompts, PIN): the call is not billed until a callee answers."""
        if not self.a.answered:
            self.a.answer()

    async def play(self, prompt: Prompt | str) -> None:
        """Play to the caller (answering first) and wait for the end of it."""
        self.answer_caller()
        self._stop_side()
        self.side = Player(self.a.ep, prompt)
        try:
            await self.guard(self.side.play())
        finally:
            self._stop_side()

    def _side(self, prompt: Prompt, loop: bool = True) -> None:
        self._stop_side()
        if self.a.ep is not None and not self.a.ep.closed:
            self.side = Player(self.a.ep, prompt, loop=loop)
            self.side.start()

    def _stop_side(self) -> None:
        if self.side is not None:
            self.side.stop()
            self.side = None

    async def callee_media(self, codecs) -> None:
        """The RTP endpoint and SDP session offered to every callee leg (forks share them)."""
        if self.b_ep is None:
            from ketnoi.telephony.sdp import SdpSession

            t = self.tenant
            self.b_ep = await RtpEndpoint.open(t.ports, self.engine.media_bind(t))
            # the caller's codec first: no transcoding when the callee has it too
            first = self.a.params.codec if self.a.params else None
            ordered = tuple(sorted(codecs, key=lambda c: 0 if first and c.name == first.name else 1))
            self.b_sdp = SdpSession(t.media_host(self.a.source.host), self.b_ep.port, codecs=ordered)

    async def dial(self, legs: list[OutboundLeg], timeout: float) -> OutboundLeg | int:
        """Send the INVITEs of one attempt together; the first to answer wins, the others are
        cancelled. Returns the answering leg, or the status to fail with."""
        if self.finished:
            raise CallEnded()
        self.pending = legs
        self._group = asyncio.get_running_loop().create_future()
        max_forwards = max(1, (self.a.request.max_forwards or 70) - 1)
        for leg in legs:
            self.legs.append(leg)
            self.log.add_leg(leg, role="callee", endpoint_kind=leg.kind, endpoint=leg.name, number=leg.number,
                             trunk_id=leg.trunk_id, remote_address=str(leg.destination))
            leg.send_invite(max_forwards)
        try:
            return await self.guard(asyncio.wait_for(asyncio.shield(self._group), timeout))
        except TimeoutError:
            for leg in legs:
                if leg.final is None:
                    leg.cancel()
            try:  # wait briefly for the 487s so that each leg's record carries its cause
                await self.guard(asyncio.wait_for(asyncio.shield(self._group), 2.0))
            except TimeoutError:
                pass
            return 480  # a 200 that crosses the CANCEL is acknowledged and hung up (legs.py)
        finally:
            self.pending = []

    def _group_done(self, result: OutboundLeg | int) -> None:
        if self._group is not None and not self._group.done():
            self._group.set_result(result)

    # ------------------------------------------------------------------ callee leg events
    def leg_ringing(self, leg: OutboundLeg) -> None:
        self.log.ringing(leg)
        if not self.a.answered:
            self.a.ring()
        elif self.side is None and self.bridge is None:
            from ketnoi.telephony.engine.prompts import ringback

            self._side(ringback())

    def leg_early_media(self, leg: OutboundLeg, params: MediaParams) -> None:
        """183 with SDP from a trunk: the caller hears the carrier's progress tones/announcements."""
        if leg.kind != "trunk" or self.winner is not None or self.a.answered or self.b_ep is None:
            return
        self.b_ep.configure(params)
        self._start_bridge(record=False)
        self.a.early_media()

    def leg_answered(self, leg: OutboundLeg, params: MediaParams) -> None:
        if self.winner is not None or self.finished:
            leg.bye()
            return
        self.winner = leg
        for other in self.pending:
            if other is not leg and other.final is None:
                other.cancel()
        self.b_ep.configure(params)
        self._group_done(leg)

    def leg_failed(self, leg: OutboundLeg) -> None:
        status = leg.final or 500
        disposition = "cancelled" if leg.cancelled and self.winner is not None else disposition_for(status)
        self.log.end_leg(leg, disposition=disposition, sip_cause=status, note=leg.reason)
        if leg is self.winner:
            return
        if leg in self.pending and all(x.final is not None for x in self.pending) and self.winner is None:
            self._group_done(best_failure([x.final for x in self.pending if x.final]))

    # ------------------------------------------------------------------ connected call
    def _start_bridge(self, *, record: bool) -> None:
        if self.bridge is None:
            self.bridge = Bridge(self.a.ep, self.b_ep)
        if record and self.record and self.recorder is None:
            day = datetime.now(UTC)
            path = cdr.recording_dir(self.cfg.organization_id, self.data_dir) / day.strftime("%Y/%m/%d") / \
                f"{self.id}.wav"
            self.recorder = Recorder(path, mode=self.cfg.settings.recording_mode)
            self.bridge.recorder = self.recorder
        if not self.held:
            self.bridge.start()

    async def connect(self, leg: OutboundLeg, *, extension: str | None = None) -> None:
        """Answer the caller (if not yet), bridge the media, and wait for the end of the call."""
        self._stop_side()
        self.a.answer()
        self._start_bridge(record=True)
        codec = self.b_ep.params.codec.name if self.b_ep and self.b_ep.params else None
        self.log.answer(leg, extension=extension, codec=codec)
        await self.guard(self._watch_media())

    async def _watch_media(self) -> None:
        """Hang up a call whose both sides went silent on RTP (a phone that vanished without BYE)."""
        while True:
            await asyncio.sleep(RTP_TIMEOUT / 4)
            if self.held:  # a held call may be silent on purpose (inactive)
                continue
            quiet = [ep.seconds_since_last_packet for ep in (self.a.ep, self.b_ep) if ep is not None]
            if quiet and all(q is None or q > RTP_TIMEOUT for q in quiet):
                log.warning("call %s: no RTP from either side for %ss, hanging up", self.id, RTP_TIMEOUT)
                self.finish("answered", "system", 408)
                return

    def media_updated(self, leg, params: MediaParams) -> None:
        """A re-INVITE/UPDATE changed a leg's media: new address, codec, or hold/resume (RFC 3264 §8.4)
        — the other party hears music while one side holds."""
        ep = self.a.ep if leg is self.a else self.b_ep
        if ep is None or ep.closed:
            return
        ep.configure(params)
        other = self.b_ep if leg is self.a else self.a.ep
        if params.remote_on_hold and leg not in self.held:
            if self.bridge is not None:
                self.bridge.stop()
            if other is not None and not other.closed and (self.bridge is not None or self.winner is not None):
                from ketnoi.telephony.engine.prompts import music_on_hold

                player = Player(other, music_on_hold(), loop=True)
                player.start()
                self.held[leg] = player
            else:
                self.held[leg] = None
            log.info("call %s: %s holds", self.id, leg.role)
        elif not params.remote_on_hold and leg in self.held:
            player = self.held.pop(leg)
            if player is not None:
                player.stop()
            if not self.held and self.bridge is not None:
                self.bridge.start()
            log.info("call %s: %s resumes", self.id, leg.role)

    # ------------------------------------------------------------------ ending
    def hangup(self, leg, by: str, *, cause: int | None = None) -> None:
        """``leg`` hung up (BYE) or must be dropped: end the call on every side."""
        if self.finished:
            return
        answered = self.winner is not None and self.bridge is not None
        if leg is self.a and not answered:
            if self.answered_by_system:
                self.finish("answered", by, cause or 200)
            else:
                self.finish("cancelled", by, 487 if cause is None else cause)
        else:
            self.finish("answered" if answered else "failed", by, cause or 200)

    def cancelled(self) -> None:
        """The caller's CANCEL (the stack already answered 200 and 487)."""
        self.finish("cancelled", "caller", 487)

    def finish(self, disposition: str, hangup_by: str, cause: int | None) -> None:
        """Tear everything down once: legs, media, recording, call record."""
        if self.finished:
            return
        self.finished = True
        self._stop_side()
        for player in self.held.values():
            if player is not None:
                player.stop()
        for leg in self.legs:
            if leg.final is None:
                leg.cancel()
            elif leg.final == 200:
                leg.bye()
            leg.forget()
        if not self.a.tx.final_sent:
            self.a.reject(cause if cause and cause >= 300 else 500)
        elif self.a.answered:
            self.a.bye()
        self.a.forget()
        if self.bridge is not None:
            self.bridge.stop()
        path = ""
        if self.recorder is not None:  # stored relative to the recordings root (CC-21 download checks it)
            path = str(self.recorder.close().relative_to(cdr.recordings_root(self.data_dir)))
        stats = {self.a: quality(self.a.ep)}
        if self.winner is not None:
            stats[self.winner] = quality(self.b_ep)
        for ep in (self.a.ep, self.b_ep):
            if ep is not None:
                ep.close()
        self.log.end(disposition=disposition, hangup_by=hangup_by, sip_cause=cause, recording_path=path,
                     quality={k: v for k, v in stats.items() if v is not None})
        if not self.ended.done():
            self.ended.set_result(disposition)
        self.b2bua.forget(self)
        log.info("call %s %s → %s: %s (%s by %s)", self.id, self.caller, self.called, disposition, cause, hangup_by)

    @property
    def recording_path(self) -> Path | None:
        return self.recorder.path if self.recorder is not None else None
