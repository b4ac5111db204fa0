"""Sans-I/O ESME side of one SMPP 3.4 session: framing, bind, submit_sm, deliver_sm, enquire_link.

Fed received bytes and a monotonic clock, it returns events and the bytes to send; it never
touches a socket (``smpp.py`` is the asyncio glue). PDUs are encoded and decoded with smpplib's
PDU classes (``smpplib.smpp.make_pdu`` / ``parse_pdu``); its blocking ``Client`` is not used.
Section numbers refer to the SMPP v3.4 specification (issue 1.2, 1999).
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar
from zoneinfo import ZoneInfo

from smpplib import command as smcmd
from smpplib import command_codes, consts, smpp
from smpplib.ptypes import ostr

from ketnoi.sms.providers.encoding import Concat, decode_payload, split_udh

MAX_PDU = 65536
ESME_ROK = consts.SMPP_ESME_ROK
ESME_RTHROTTLED = consts.SMPP_ESME_RTHROTTLED
ESME_RMSGQFUL = consts.SMPP_ESME_RMSGQFUL
ESME_RSYSERR = consts.SMPP_ESME_RSYSERR
ESME_RX_T_APPN = consts.SMPP_ESME_RX_T_APPN
ESME_RINVCMDLEN = consts.SMPP_ESME_RINVCMDLEN
ESME_RINVCMDID = consts.SMPP_ESME_RINVCMDID
ESME_RINVBNDSTS = consts.SMPP_ESME_RINVBNDSTS
ESME_RINVMSGLEN = consts.SMPP_ESME_RINVMSGLEN
# Errors after which the same submit may succeed later (§5.1.3); everything else is permanent.
TEMPORARY_STATUSES = {ESME_RTHROTTLED, ESME_RMSGQFUL, ESME_RSYSERR, ESME_RX_T_APPN,
                      consts.SMPP_ESME_RSUBMITFAIL, consts.SMPP_ESME_RUNKNOWNERR, ESME_RINVBNDSTS}
RESPONSE_OF = {"bind_transceiver": "bind_transceiver_resp", "bind_transmitter": "bind_transmitter_resp",
               "bind_receiver": "bind_receiver_resp", "submit_sm": "submit_sm_resp",
               "enquire_link": "enquire_link_resp", "unbind": "unbind_resp"}


class _Seq:
    """smpplib PDUs ask their client for a sequence; the session sets it explicitly."""

    sequence = 0

    def next_sequence(self) -> int:
        return 0


_SEQ = _Seq()


class _DeliverSM(smcmd.DeliverSM):
    """deliver_sm that accepts every TLV of §5.3.2 (smpplib's rejects e.g. dest_addr_subunit)."""

    params: ClassVar[dict] = {**smcmd.DeliverSM.params,
              **{k: smcmd.Param(type=ostr, max=65535) for k in consts.OPTIONAL_PARAMS
                 if k not in smcmd.DeliverSM.params}}


def status_text(status: int) -> str:
    return f"0x{status:08X} {consts.DESCRIPTIONS.get(status, 'Unknown status')}"


def encode_pdu(name: str, seq: int, status: int = ESME_ROK, **fields) -> bytes:
    pdu = smpp.make_pdu(name, client=_SEQ, status=status, **fields)
    pdu.sequence = seq
    return pdu.generate()


class Unsupported(ValueError):
    """A command this ESME does not implement (answered with generic_nack ESME_RINVCMDID)."""


def decode_pdu(data: bytes):
    """A parsed smpplib PDU; raises ValueError on an unknown command or a malformed body."""
    code = struct.unpack(">L", data[4:8])[0]
    try:
        name = command_codes.get_command_name(code)
        smcmd.factory(name, client=_SEQ)
    except Exception:
        raise Unsupported(f"unsupported command_id 0x{code:08X}") from None
    try:
        if name == "deliver_sm":
            pdu = _DeliverSM(name, client=_SEQ, allow_unknown_opt_params=True)
            pdu.parse(data)
            return pdu
        return smpp.parse_pdu(data, client=_SEQ, allow_unknown_opt_params=True)
    except Exception as exc:
        raise ValueError(f"malformed {name}: {exc}") from None


# -- events ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bound:
    system_id: str


@dataclass(frozen=True)
class BindFailed:
    status: int


@dataclass(frozen=True)
class Response:
    command: str  # the request it answers ("submit_sm", "enquire_link", …)
    seq: int
    status: int
    message_id: str | None = None


@dataclass(frozen=True)
class Deliver:
    seq: int
    pdu: object  # smpplib DeliverSM


@dataclass(frozen=True)
class Closed:
    reason: str


class SmppSession:
    """One ESME session. ``mode`` is "trx" (transceiver), "tx" or "rx" (§4.1)."""

    def __init__(self, *, mode: str, system_id: str, password: str = "", system_type: str = "",
                 enquire_interval: float = 30.0, response_timeout: float = 10.0, now: float = 0.0):
        self.mode = mode
        self.state = "open"  # open → binding → bound → unbinding → closed
        self._creds = (system_id, password, system_type)
        self.enquire_interval, self.response_timeout = enquire_interval, response_timeout
        self._seq = 0
        self._in = bytearray()
        self._out = bytearray()
        self._pending: dict[int, tuple[str, float]] = {}
        self._last_rx = now

    # -- outgoing requests -----------------------------------------------------------------------

    def _next(self) -> int:
        self._seq = self._seq % 0x7FFFFFFF + 1  # §5.1.4: 0x00000001 … 0x7FFFFFFF
        return self._seq

    def _request(self, name: str, now: float, **fields) -> int:
        seq = self._next()
        self._out += encode_pdu(name, seq, **fields)
        self._pending[seq] = (name, now)
        return seq

    def bind(self, now: float) -> int:
        name = {"trx": "bind_transceiver", "tx": "bind_transmitter", "rx": "bind_receiver"}[self.mode]
        system_id, password, system_type = self._creds
        self.state = "binding"
        return self._request(name, now, system_id=system_id, password=password, system_type=system_type,
                             addr_ton=0, addr_npi=0, address_range="")

    def submit(self, now: float, **fields) -> int:
        if self.state != "bound" or self.mode == "rx":
            raise RuntimeError("not bound as a transmitter")
        return self._request("submit_sm", now, **fields)

    def unbind(self, now: float) -> None:
        if self.state == "bound":
            self.state = "unbinding"
            self._request("unbind", now)

    def respond(self, seq: int, command: str, status: int = ESME_ROK, **fields) -> None:
        """Answer a request of the peer (deliver_sm_resp once the message is stored)."""
        if self.state != "closed":
            self._out += encode_pdu(command, seq, status=status, **fields)

    @property
    def in_flight(self) -> int:
        return sum(1 for name, _ in self._pending.values() if name == "submit_sm")

    def data_to_send(self) -> bytes:
        out, self._out = bytes(self._out), bytearray()
        return out

    # -- incoming --------------------------------------------------------------------------------

    def receive(self, data: bytes, now: float) -> list:
        self._in += data
        self._last_rx = now
        events: list = []
        while len(self._in) >= 4 and self.state != "closed":
            length = struct.unpack(">L", self._in[:4])[0]
            if length < 16 or length > MAX_PDU:
                self._out += encode_pdu("generic_nack", 0, status=ESME_RINVCMDLEN)
                return events + self._close(f"invalid command_length {length}")
            if len(self._in) < length:
                break
            raw, self._in = bytes(self._in[:length]), self._in[length:]
            events += self._handle(raw, now)
        return events

    def _handle(self, raw: bytes, now: float) -> list:
        code, status, seq = struct.unpack(">LLL", raw[4:16])
        try:
            pdu = decode_pdu(raw)
        except ValueError as exc:
            if code & 0x80000000:
                return self._answer(seq, "generic_nack", status or ESME_RSYSERR)
            nack = ESME_RINVCMDID if isinstance(exc, Unsupported) else ESME_RINVMSGLEN
            self._out += encode_pdu("generic_nack", seq, status=nack)
            return []
        name = pdu.command
        if name.endswith("_resp") or name == "generic_nack":
            return self._answer(seq, name, pdu.status, pdu)
        if name == "enquire_link":
            self.respond(seq, "enquire_link_resp")
            return []
        if name == "unbind":
            self.respond(seq, "unbind_resp")
            return self._close("peer unbound")
        if name == "deliver_sm":
            if self.state != "bound" or self.mode == "tx":
                self.respond(seq, "deliver_sm_resp", ESME_RINVBNDSTS)
                return []
            return [Deliver(seq, pdu)]
        if name == "alert_notification":
            return []  # §4.12: no response
        self._out += encode_pdu("generic_nack", seq, status=ESME_RINVCMDID)
        return []

    def _answer(self, seq: int, name: str, status: int, pdu=None) -> list:
        req = self._pending.pop(seq, None)
        if req is None:
            return []  # a late or unknown response: nothing waits for it
        req_name = req[0]
        if req_name.startswith("bind_"):
            if status == ESME_ROK and name != "generic_nack":
                self.state = "bound"
                sid = getattr(pdu, "system_id", b"") or b""
                return [Bound(sid.decode("latin-1") if isinstance(sid, bytes) else str(sid))]
            return [BindFailed(status)] + self._close(f"bind refused: {status_text(status)}")
        if req_name == "unbind":
            return self._close("unbound")
        mid = getattr(pdu, "message_id", None) if name == "submit_sm_resp" else None
        if isinstance(mid, bytes):
            mid = mid.decode("latin-1")
        return [Response(req_name, seq, status, mid or None)]

    def _close(self, reason: str) -> list:
        self.state = "closed"
        return [Closed(reason)]

    # -- timers ----------------------------------------------------------------------------------

    def tick(self, now: float) -> list:
        """Keep-alive (§4.11) and response timeouts: a silent peer closes the session."""
        if self.state == "closed":
            return []
        for name, sent in self._pending.values():
            if now - sent > self.response_timeout:
                return self._close(f"no {RESPONSE_OF.get(name, name + '_resp')} in {self.response_timeout:g}s")
        if self.state == "bound" and now - self._last_rx >= self.enquire_interval and not any(
                n == "enquire_link" for n, _ in self._pending.values()):
            self._request("enquire_link", now)
            self._last_rx = now
        return []


class TokenBucket:
    """Rate limit: ``rate`` tokens per second, at most ``capacity`` saved up; callers reserve a
    slot and wait the returned delay, so concurrent senders are spaced out without polling."""

    def __init__(self, rate: float, capacity: float, now: float):
        self.rate, self.capacity = rate, max(1.0, capacity)
        self.tokens, self.t = self.capacity, now

    def reserve(self, now: float) -> float:
        """Take a token (possibly borrowed from the future); return seconds to wait before using it."""
        if now > self.t:
            self.tokens = min(self.capacity, self.tokens + (now - self.t) * self.rate)
            self.t = now
        self.tokens -= 1.0
        wait = max(0.0, self.t - now)
        return wait if self.tokens >= 0 else wait + (-self.tokens) / self.rate

    def pause(self, now: float, until: float) -> None:
        """Nothing more before ``until`` (throttled by the peer), then restart from an empty bucket."""
        self.reserve(now)
        self.tokens = min(self.tokens + 1.0, 0.0)
        self.t = max(self.t, until)


# -- deliver_sm contents ---------------------------------------------------------------------------

_RECEIPT_KEYS = re.compile(r"(?i)\b(id|sub|dlvrd|submit date|done date|stat|err|text):")
_STATES = {"DELIVRD": "delivered", "EXPIRED": "expired", "DELETED": "failed", "UNDELIV": "failed",
           "ACCEPTD": "accepted", "ENROUTE": "accepted", "UNKNOWN": "failed", "REJECTD": "failed"}
_MESSAGE_STATE = {1: "accepted", 2: "delivered", 3: "expired", 4: "failed", 5: "failed", 6: "accepted",
                  7: "failed", 8: "failed"}  # §5.2.28


def parse_receipt_text(text: str) -> dict[str, str]:
    """Fields of an SMSC delivery receipt (§B, "id:… sub:… dlvrd:… submit date:… done date:… stat:… err:…")."""
    fields: dict[str, str] = {}
    matches = list(_RECEIPT_KEYS.finditer(text))
    for i, m in enumerate(matches):
        end = matches[i + 1].start() if i + 1 < len(matches) else len(text)
        fields[m.group(1).lower()] = text[m.end():end].strip()
    return fields


def receipt_date(value: str | None, tz: str = "Asia/Ho_Chi_Minh") -> datetime | None:
    """YYMMDDhhmm[ss] in the SMSC's (the platform's) zone."""
    if not value or not value.isdigit() or len(value) not in (10, 12):
        return None
    try:
        return datetime.strptime(value, "%y%m%d%H%M%S" if len(value) == 12 else "%y%m%d%H%M").replace(
            tzinfo=ZoneInfo(tz))
    except ValueError:
        return None


def _s(v) -> str:
    return v.decode("latin-1") if isinstance(v, bytes) else (v or "")


@dataclass(frozen=True)
class DeliverInfo:
    source: str
    destination: str
    is_receipt: bool
    payload: bytes = b""
    data_coding: int = 0
    concat: Concat | None = None
    receipt_id: str | None = None
    receipt_status: str | None = None
    receipt_error: str | None = None
    receipt_done: datetime | None = None


def parse_deliver(pdu, tz: str = "Asia/Ho_Chi_Minh") -> DeliverInfo:
    """What a deliver_sm carries: an incoming message (part) or a delivery receipt (§4.6.1, esm_class)."""
    esm = pdu.esm_class or 0
    data = pdu.short_message or getattr(pdu, "message_payload", None) or b""
    source, dest, dcs = _s(pdu.source_addr), _s(pdu.destination_addr), pdu.data_coding or 0
    if esm & 0x3C in (0x04, 0x10):  # SMSC delivery receipt / intermediate notification
        text = decode_payload(data, dcs)
        f = parse_receipt_text(text)
        rid = _s(getattr(pdu, "receipted_message_id", None)) or f.get("id") or None
        state = getattr(pdu, "message_state", None)
        status = _STATES.get((f.get("stat") or "").upper()[:7]) or _MESSAGE_STATE.get(state or 0) or "failed"
        err = f.get("err")
        error = None if status in ("delivered", "accepted") else (
            f"{f.get('stat') or 'state ' + str(state)}" + (f" err:{err}" if err else ""))
        return DeliverInfo(source, dest, True, data, dcs, None, rid, status, error,
                           receipt_date(f.get("done date"), tz))
    concat = None
    if esm & 0x40:
        try:
            concat, data = split_udh(data)
        except ValueError:
            concat = None
    ref, total, seq = (getattr(pdu, k, None) for k in ("sar_msg_ref_num", "sar_total_segments",
                                                           "sar_segment_seqnum"))
    if concat is None and total and seq and 1 <= seq <= total:
        concat = Concat(ref or 0, total, seq)  # §5.3.2.22-24 SAR TLVs
    return DeliverInfo(source, dest, False, data, dcs, concat)
