"""SMPP 3.4 provider: binds to an operator's SMSC, submits with a window and a rate limit, receives
incoming messages and delivery receipts (SMS-01, SMS-02, SMS-04).

Design. smpplib's ``Client`` is blocking (one thread per bind, handlers called synchronously from
its read loop, ``deliver_sm_resp`` sent as soon as the handler returns). We need to acknowledge a
``deliver_sm`` only after an *async* sink has stored it, and to pipeline up to ``window`` submits,
so we use smpplib for what it is right for — PDU encoding and decoding — inside a sans-I/O session
(``smpp_session.SmppSession``) driven by an ``asyncio.Protocol``: no threads, no blocking calls,
one event loop for every bind.

Per bind: a window (``asyncio.Semaphore``: max unacknowledged submit_sm), a token-bucket rate limit
(submit_sm per second; every part counts), enquire_link when the link is idle, reconnect with
exponential back-off (``reconnect_min`` doubling to ``reconnect_max``, ±20 % jitter). A throttling
answer (ESME_RTHROTTLED, ESME_RMSGQFUL) pauses the bind for ``throttle_backoff`` (doubling while it
repeats); on a message's first part it raises ``TemporaryFailure`` (nothing was sent, the core may
retry or fail over); on a later part the part is retried after the pause, since failing would make
the core resend the parts already accepted.

Lost responses. A submit_sm written to a connection that then drops before its submit_sm_resp is
*in doubt*: the SMSC may or may not have accepted it, and SMPP 3.4 has no idempotent resubmit.
Parts never written are simply sent on the next bind. For a part in doubt, ``in_doubt`` decides:
"resend" (default, at-least-once, as Kannel and Jasmin do) resubmits it — never silently: it is
logged, counted in ``status()["resent_in_doubt"]`` and returned in ``SubmitResult.resent_in_doubt``
so the core records it in the message's history; the resent part keeps its UDH reference and
sequence (the reference is derived from the message id), so a handset that received both copies
of a part of a long message reassembles one message. "fail" (at-most-once) raises
``PermanentFailure(code="in_doubt")`` and never resends.

Incoming. A receipt (esm_class 0x04) becomes a ``DeliveryReceipt``; a message becomes an
``IncomingSms``; ``deliver_sm_resp`` is sent only after the sink returned (ESME_RX_T_APPN, i.e.
"retry later", if it raised). Parts of a concatenated message are held unacknowledged until the
whole message is stored, at most ``mo_hold_seconds`` (an SMSC with a window of one would otherwise
stall); then acknowledged and kept in memory up to ``mo_timeout_seconds``, after which — or when
the provider stops — the incomplete text is stored with its gaps marked, so nothing acknowledged is
lost. SMPP gives an incoming message no id: the id used for de-duplication hashes sender,
recipient, payload and concatenation reference within a 10-minute bucket, so a redelivery after a
lost acknowledgement is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import random
import time
from datetime import UTC, datetime

from ketnoi.sms.providers import smpp_session as ss
from ketnoi.sms.providers.base import (
    DeliveryReceipt,
    IncomingSms,
    OutgoingSms,
    PermanentFailure,
    ProviderConfig,
    ProviderSink,
    SubmitResult,
    TemporaryFailure,
)
from ketnoi.sms.providers.common import SendTracker, encode_or_refuse
from ketnoi.sms.providers.config import SmppConfig
from ketnoi.sms.providers.encoding import reference_for
from ketnoi.sms.providers.reassembly import Reassembler

log = logging.getLogger(__name__)
THROTTLING = {ss.ESME_RTHROTTLED, ss.ESME_RMSGQFUL}
MAX_PART_RETRIES = 6  # throttled answers to one later part before giving up
MAX_PART_ATTEMPTS = 20  # connection losses / unusable binds while submitting one part


class _NotSent(Exception):
    """The bind was not usable; nothing was written."""


class _InDoubt(Exception):
    """The connection dropped after the submit_sm was written and before its response."""


class _Conn(asyncio.Protocol):
    """One bind (transceiver, transmitter or receiver): connection, session, window, rate limit."""

    def __init__(self, prov: SmppProvider, mode: str, index: int):
        self.prov, self.cfg, self.mode, self.index = prov, prov.settings, mode, index
        self.state = "connecting"
        self.session: ss.SmppSession | None = None
        self.transport: asyncio.Transport | None = None
        self.window = asyncio.Semaphore(self.cfg.window)
        self.bucket = ss.TokenBucket(self.cfg.rate, self.cfg.rate * 0.05, time.monotonic())
        self.paused_until = 0.0
        self.throttle_streak = 0
        self.waiting: dict[int, asyncio.Future] = {}
        self.lost = asyncio.Event()
        self.task: asyncio.Task | None = None
        self.last_error: str | None = None
        self.reconnects = 0

    # -- asyncio.Protocol ------------------------------------------------------------------------

    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        if self.session is not None:
            self._dispatch(self.session.receive(data, time.monotonic()))

    def connection_lost(self, exc):
        self._closed(f"connection lost: {exc}" if exc else "connection closed by the SMSC")

    # -- session events --------------------------------------------------------------------------

    def _flush(self) -> None:
        if self.session is not None and self.transport is not None and not self.transport.is_closing():
            out = self.session.data_to_send()
            if out:
                self.transport.write(out)

    def _dispatch(self, events: list) -> None:
        for ev in events:
            if isinstance(ev, ss.Bound):
                self.state = "bound"
                self.last_error = None
                self.prov._bound_changed()
            elif isinstance(ev, ss.BindFailed):
                self.last_error = f"bind refused: {ss.status_text(ev.status)}"
            elif isinstance(ev, ss.Response):
                fut = self.waiting.pop(ev.seq, None)
                if fut is not None and not fut.done():
                    fut.set_result(ev)
            elif isinstance(ev, ss.Deliver):
                t = asyncio.get_running_loop().create_task(self.prov._on_deliver(self, self.session, ev))
                self.prov._tasks.add(t)
                t.add_done_callback(self.prov._tasks.discard)
            elif isinstance(ev, ss.Closed):
                self.last_error = self.last_error or ev.reason
                if self.state == "bound":
                    self.state = "closing"  # no new submits while the transport goes down
                    self.prov._bound_changed()
                self._flush()
                if self.transport is not None:
                    self.transport.close()
        self._flush()

    def _closed(self, reason: str) -> None:
        if self.state == "bound":
            self.prov._bound_changed()
        if self.state != "stopped":
            self.state = "reconnecting"
        self.last_error = self.last_error or reason
        self.session, self.transport = None, None
        for fut in self.waiting.values():
            if not fut.done():
                fut.set_exception(_InDoubt(reason))
        self.waiting.clear()
        self.lost.set()

    def respond(self, session: ss.SmppSession, seq: int, status: int) -> None:
        """Acknowledge a deliver_sm on the session it came on (if that session still lives)."""
        if session is self.session:
            session.respond(seq, "deliver_sm_resp", status)
            self._flush()

    # -- lifecycle -------------------------------------------------------------------------------

    async def run(self) -> None:
        attempt = 0
        loop = asyncio.get_running_loop()
        while not self.prov._stopping:
            self.lost = asyncio.Event()
            self.last_error = None
            try:
                await asyncio.wait_for(loop.create_connection(lambda: self, self.cfg.host, self.cfg.port),
                                       timeout=self.cfg.response_timeout)
                self.session = ss.SmppSession(
                    mode=self.mode, system_id=self.cfg.system_id, password=self.cfg.password,
                    system_type=self.cfg.system_type, enquire_interval=self.cfg.enquire_link_interval,
                    response_timeout=self.cfg.response_timeout, now=time.monotonic())
                self.session.bind(time.monotonic())
                self._flush()
                tick = min(1.0, self.cfg.enquire_link_interval / 4, self.cfg.response_timeout / 4)
                while not self.lost.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self.lost.wait(), timeout=tick)
                    if self.session is not None:
                        self._dispatch(self.session.tick(time.monotonic()))
                        if self.state == "bound":
                            attempt = 0
            except (OSError, TimeoutError) as exc:
                self.last_error = f"cannot connect to {self.cfg.host}:{self.cfg.port}: {exc or 'timeout'}"
                if self.transport is not None:
                    self.transport.close()
                self.session = None
            if self.prov._stopping:
                break
            self.state, self.reconnects = "reconnecting", self.reconnects + 1
            delay = min(self.cfg.reconnect_max, self.cfg.reconnect_min * 2 ** attempt)
            attempt += 1
            log.warning("SMPP %s bind %s/%d down (%s); reconnecting in %.1fs", self.prov.name, self.mode,
                        self.index, self.last_error, delay)
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
        self.state = "stopped"

    async def close(self, timeout: float) -> None:
        """Unbind politely (§4.2), then close."""
        if self.session is not None and self.session.state == "bound" and self.transport is not None:
            self.session.unbind(time.monotonic())
            self._flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.lost.wait(), timeout=timeout)
        if self.transport is not None:
            self.transport.close()
        self.state = "stopped"

    # -- submit ----------------------------------------------------------------------------------

    @property
    def free(self) -> int:
        return self.cfg.window - len(self.waiting)

    def throttled(self) -> None:
        self.throttle_streak += 1
        backoff = min(self.cfg.throttle_backoff * 2 ** (self.throttle_streak - 1), 60.0)
        now = time.monotonic()
        self.paused_until = max(self.paused_until, now + backoff)
        self.bucket.pause(now, self.paused_until)

    async def submit(self, fields: dict) -> ss.Response:
        async with self.window:
            while True:
                delay = self.bucket.reserve(time.monotonic())
                if delay > 0:
                    await asyncio.sleep(delay)
                if time.monotonic() >= self.paused_until:
                    break
            session = self.session
            if session is None or session.state != "bound" or self.state != "bound":
                raise _NotSent()
            seq = session.submit(time.monotonic(), **fields)
            fut = asyncio.get_running_loop().create_future()
            self.waiting[seq] = fut
            self._flush()
            try:
                resp = await fut
            finally:
                self.waiting.pop(seq, None)
            if resp.status not in THROTTLING:
                self.throttle_streak = 0
            return resp


class SmppProvider:
    def __init__(self, cfg: ProviderConfig, settings: SmppConfig, tz: str = "Asia/Ho_Chi_Minh"):
        self.name, self.config, self.settings, self.tz = cfg.name, cfg, settings, tz
        self._sink: ProviderSink | None = None
        self._stopping = False
        self._tasks: set[asyncio.Task] = set()
        self._reasm = Reassembler(settings.mo_timeout_seconds)
        self._held: dict[tuple, asyncio.TimerHandle] = {}
        self._bound_event = asyncio.Event()
        self.counters = {"submitted": 0, "parts": 0, "failed": 0, "throttled": 0, "resent_in_doubt": 0,
                         "received": 0, "receipts": 0}
        self._sends = SendTracker(self.counters)
        modes = ["trx"] if settings.bind_mode == "transceiver" else ["tx", "rx"]
        self.conns = [_Conn(self, m, i) for i in range(settings.binds) for m in modes]
        self._janitor: asyncio.Task | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, sink: ProviderSink) -> None:
        self._sink, self._stopping = sink, False
        for c in self.conns:
            c.task = asyncio.create_task(c.run(), name=f"smpp-{self.name}-{c.mode}{c.index}")
        self._janitor = asyncio.create_task(self._sweep())

    async def stop(self) -> None:
        """Refuse new sends, let in-flight sends finish, store held incoming parts, unbind."""
        self._stopping = True
        self._bound_changed()
        await self._sends.wait_idle(self.settings.response_timeout + 1)
        for timer in self._held.values():
            timer.cancel()
        self._held.clear()
        for pend in self._reasm.all():
            await self._store_pending(pend, complete=False)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=self.settings.response_timeout)
        await asyncio.gather(*(c.close(min(2.0, self.settings.response_timeout)) for c in self.conns))
        for t in [c.task for c in self.conns] + [self._janitor]:
            if t is not None:
                t.cancel()
                with contextlib.suppress(BaseException):
                    await t

    def _bound_changed(self) -> None:
        self._bound_event.set()
        self._bound_event = asyncio.Event()

    def status(self) -> dict:
        states = [c.state for c in self.conns]
        state = "bound" if all(s == "bound" for s in states) else (
            "degraded" if "bound" in states else ("stopped" if self._stopping else "connecting"))
        return {"state": state, "in_flight": sum(len(c.waiting) for c in self.conns),
                "binds": [{"mode": c.mode, "state": c.state, "in_flight": len(c.waiting),
                           "reconnects": c.reconnects, "error": c.last_error} for c in self.conns],
                **self.counters}

    # -- sending ---------------------------------------------------------------------------------

    def _addresses(self, sms: OutgoingSms) -> dict:
        s = self.settings
        sender = sms.sender.strip()
        if s.source_ton is not None:
            ston, snpi = s.source_ton, s.source_npi if s.source_npi is not None else 0
        elif not sender.lstrip("+").isdigit():
            ston, snpi = 5, 0  # alphanumeric brandname (§5.2.5)
        else:
            ston, snpi = (1, 1) if len(sender.lstrip("+")) >= 10 else (0, 1)
        to = sms.to.lstrip("+")
        if s.address_format == "national" and to.startswith("84"):
            dest, dton = "0" + to[2:], 2
        else:
            dest, dton = to, 1
        return {"source_addr_ton": ston, "source_addr_npi": snpi, "source_addr": sender.lstrip("+"),
                "dest_addr_ton": dton, "dest_addr_npi": 1, "destination_addr": dest}

    async def _pick(self, deadline: float) -> _Conn:
        while True:
            usable = [c for c in self.conns if c.mode != "rx" and c.state == "bound"]
            if usable:
                return max(usable, key=lambda c: (c.free, -c.index))
            if self._stopping:
                raise TemporaryFailure("Nhà cung cấp SMPP đang dừng.", "stopping")
            left = deadline - time.monotonic()
            if left <= 0:
                errs = "; ".join(c.last_error for c in self.conns if c.last_error)
                raise TemporaryFailure(f"Chưa kết nối được SMSC ({errs or 'đang kết nối'}).", "not_bound")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._bound_event.wait(), timeout=min(left, 1.0))

    async def send(self, sms: OutgoingSms) -> SubmitResult:
        if self._stopping or self._sink is None:
            raise TemporaryFailure("Nhà cung cấp SMPP chưa chạy hoặc đang dừng.", "stopping")
        enc = encode_or_refuse(sms.text, reference=reference_for(sms.message_id), max_parts=self.settings.max_parts,
                               force_ucs2=self.settings.force_ucs2)
        with self._sends.sending():
            return await self._send(sms, enc)

    async def _send(self, sms: OutgoingSms, enc) -> SubmitResult:
        base = self._addresses(sms)
        base.update(data_coding=enc.data_coding, registered_delivery=1 if (
            sms.want_receipt and self.settings.registered_delivery) else 0)
        ids: list[str] = []
        resent = 0
        wait = self.settings.response_timeout
        for i, short in enumerate(enc.short_messages()):
            fields = {**base, "esm_class": 0x40 if enc.udhs[i] else 0x00, "short_message": short}
            retries = attempts = 0
            while True:
                attempts += 1
                if attempts > MAX_PART_ATTEMPTS:
                    raise TemporaryFailure(f"Kết nối SMSC chập chờn: phần {i + 1}/{enc.parts} chưa gửi được "
                                           f"sau {MAX_PART_ATTEMPTS} lần.", "unstable")
                conn = await self._pick(time.monotonic() + wait)
                try:
                    resp = await conn.submit(fields)
                except _NotSent:
                    await asyncio.sleep(0.01)  # the bind is going down: let its transport close
                    continue
                except _InDoubt as exc:
                    if self.settings.in_doubt == "fail":
                        raise PermanentFailure(
                            f"Mất kết nối SMSC khi chờ phản hồi phần {i + 1}/{enc.parts}; có thể đã gửi — "
                            "không gửi lại để tránh trùng.", "in_doubt") from None
                    resent += 1
                    self.counters["resent_in_doubt"] += 1
                    log.warning("SMPP %s: resending part %d/%d of %s after a lost response (%s)", self.name,
                                i + 1, enc.parts, sms.message_id, exc)
                    continue
                if resp.status == ss.ESME_ROK:
                    ids.append(resp.message_id or "")
                    self.counters["parts"] += 1
                    break
                reason = f"SMSC từ chối phần {i + 1}/{enc.parts}: {ss.status_text(resp.status)}"
                code = f"0x{resp.status:08X}"
                if resp.status in THROTTLING:
                    self.counters["throttled"] += 1
                    conn.throttled()
                    retries += 1
                    if i == 0 or retries > MAX_PART_RETRIES:
                        raise TemporaryFailure(reason, "throttled")
                    continue
                if resp.status in ss.TEMPORARY_STATUSES:
                    raise TemporaryFailure(reason, code)
                raise PermanentFailure(reason, code)
        self.counters["submitted"] += 1
        return SubmitResult(ids, enc.parts, enc.encoding, resent_in_doubt=resent)

    # -- receiving -------------------------------------------------------------------------------

    async def _on_deliver(self, conn: _Conn, session: ss.SmppSession, ev: ss.Deliver) -> None:
        info = ss.parse_deliver(ev.pdu, self.tz)
        sink = self._sink
        if sink is None:
            conn.respond(session, ev.seq, ss.ESME_RX_T_APPN)
            return
        if info.is_receipt:
            if not info.receipt_id:
                log.warning("SMPP %s: delivery receipt without a message id", self.name)
                conn.respond(session, ev.seq, ss.ESME_ROK)
                return
            try:
                await sink.receipt(DeliveryReceipt(self.name, info.receipt_id, info.receipt_status,  # type: ignore[arg-type]
                                                   info.receipt_error, info.receipt_done))
            except Exception:
                log.exception("SMPP %s: storing a delivery receipt failed", self.name)
                conn.respond(session, ev.seq, ss.ESME_RX_T_APPN)
                return
            self.counters["receipts"] += 1
            conn.respond(session, ev.seq, ss.ESME_ROK)
            return
        now = time.monotonic()
        if info.concat is None or info.concat.total == 1:
            pend = self._reasm.add(info.source, info.destination, -1, 1, 1, info.payload, info.data_coding,
                                   (conn, session, ev.seq), now)
            self._reasm.pop(pend.key)
            await self._store_pending(pend, complete=True)
            return
        c = info.concat
        pend = self._reasm.add(info.source, info.destination, c.reference, c.total, c.seq, info.payload,
                               info.data_coding, (conn, session, ev.seq), now)
        if pend.complete:
            self._reasm.pop(pend.key)
            timer = self._held.pop(pend.key, None)
            if timer:
                timer.cancel()
            await self._store_pending(pend, complete=True)
        elif pend.key not in self._held:
            self._held[pend.key] = asyncio.get_running_loop().call_later(
                self.settings.mo_hold_seconds, self._release, pend.key)

    def _release(self, key: tuple) -> None:
        """Hold time over: acknowledge the parts received so far; they wait in memory."""
        self._held.pop(key, None)
        pend = self._reasm.get(key)
        if pend is None:
            return
        for part in pend.parts.values():
            if not part.acked:
                conn, session, seq = part.token  # type: ignore[misc]
                conn.respond(session, seq, ss.ESME_ROK)
                part.acked = True

    async def _store_pending(self, pend, complete: bool) -> None:
        sender, recipient, ref, total = pend.key
        payload = b"|".join(p.payload for _, p in sorted(pend.parts.items()))
        bucket = int(time.time() // 600)
        digest = hashlib.sha256(f"{sender}|{recipient}|{ref}|{total}|{bucket}|".encode() + payload).hexdigest()
        sms = IncomingSms(self.name, f"mo-{digest[:24]}", sender, recipient, pend.text(),
                          datetime.now(UTC), total)
        status = ss.ESME_ROK
        try:
            await self._sink.incoming(sms)  # type: ignore[union-attr]
            self.counters["received"] += 1
        except Exception:
            log.exception("SMPP %s: storing an incoming message failed", self.name)
            if not complete:
                return  # unacknowledged parts come again from the SMSC
            status = ss.ESME_RX_T_APPN  # "retry later"
            if total > 1 and any(p.acked for p in pend.parts.values()):
                self._reasm.restore(pend)  # keep the acknowledged parts for the redelivered ones
        for part in pend.parts.values():
            if not part.acked:
                conn, session, seq = part.token
                conn.respond(session, seq, status)
                part.acked = True

    async def _sweep(self) -> None:
        while not self._stopping:
            await asyncio.sleep(min(5.0, self.settings.mo_timeout_seconds / 4))
            for pend in self._reasm.expired(time.monotonic()):
                timer = self._held.pop(pend.key, None)
                if timer:
                    timer.cancel()
                await self._store_pending(pend, complete=False)
