"""A strictly spec-following SMPP 3.4 SMSC for the tests (asyncio, 127.0.0.1, any free port).

Why hand-written: no SMPP *server* runs on this machine from Debian or the installed Python
packages (Kannel is an SMPP client, its fakesmsc speaks its own line protocol; smpplib is a client
library). Its PDU codec is written here from the SMPP v3.4 specification, independently of smpplib
(which the client uses), so an encoding mistake on either side shows up instead of cancelling out.

It binds (§4.1, checking system_id/password and bind state), answers submit_sm with unique
message ids (§4.4), sends delivery receipts (Appendix B) and MO messages as deliver_sm (§4.6),
answers enquire_link and unbind, and generic_nack for malformed or unknown PDUs (§4.3). Test
modes: ``throttle`` (a set of submit numbers answered ESME_RTHROTTLED), ``drop_after`` (close the
connection when the N-th PDU arrives, before handling it) and ``drop_after_accept`` (accept the
N-th submit_sm, then close without answering: the response is lost). Everything is recorded.
"""

from __future__ import annotations

import asyncio
import struct
import time
from dataclasses import dataclass, field

GENERIC_NACK = 0x80000000
CMD = {"bind_receiver": 0x1, "bind_transmitter": 0x2, "submit_sm": 0x4, "deliver_sm": 0x5, "unbind": 0x6,
       "bind_transceiver": 0x9, "enquire_link": 0x15}
NAME = {v: k for k, v in CMD.items()}
ROK, RINVMSGLEN, RINVCMDLEN, RINVCMDID, RINVBNDSTS, RALYBND = 0x0, 0x1, 0x2, 0x3, 0x4, 0x5
RINVPASWD, RINVSYSID, RTHROTTLED, RINVDSTADR = 0xE, 0xF, 0x58, 0xB


class Malformed(Exception):
    pass


class Reader:
    """Strict field reader over a PDU body (§3.1: C-Octet Strings end in NUL, max lengths incl. NUL)."""

    def __init__(self, data: bytes):
        self.d, self.i = data, 0

    def int(self, size: int) -> int:
        if self.i + size > len(self.d):
            raise Malformed("truncated integer")
        v = int.from_bytes(self.d[self.i:self.i + size], "big")
        self.i += size
        return v

    def cstr(self, max_len: int) -> str:
        end = self.d.find(b"\x00", self.i)
        if end < 0 or end - self.i + 1 > max_len:
            raise Malformed("C-Octet String not terminated within its maximum length")
        v = self.d[self.i:end]
        self.i = end + 1
        if any(b > 0x7E or b < 0x20 for b in v):
            raise Malformed("non-printable C-Octet String")
        return v.decode("ascii")

    def octets(self, n: int) -> bytes:
        if self.i + n > len(self.d):
            raise Malformed("truncated octet string")
        v = self.d[self.i:self.i + n]
        self.i += n
        return v

    def tlvs(self) -> dict[int, bytes]:
        out = {}
        while self.i < len(self.d):
            tag, length = self.int(2), self.int(2)
            out[tag] = self.octets(length)
        return out


def cstr(v: str) -> bytes:
    return v.encode("ascii") + b"\x00"


def pdu(command_id: int, status: int, seq: int, body: bytes = b"") -> bytes:
    return struct.pack(">LLLL", 16 + len(body), command_id, status, seq) + body


@dataclass
class Submit:
    conn: int
    seq: int
    source: str
    source_ton: int
    source_npi: int
    dest: str
    dest_ton: int
    esm_class: int
    registered_delivery: int
    data_coding: int
    short_message: bytes
    message_id: str = ""
    status: int = ROK
    at: float = 0.0


@dataclass
class Session:
    n: int
    writer: asyncio.StreamWriter
    bound: str | None = None
    pdus: list[tuple[str, int, float]] = field(default_factory=list)


class Smsc:
    def __init__(self, system_id: str = "ketnoi", password: str = "secret", *, receipts: bool = True,
                 receipt_stat: str = "DELIVRD"):
        self.system_id, self.password = system_id, password
        self.receipts, self.receipt_stat = receipts, receipt_stat
        self.throttle: set[int] = set()  # submit numbers (1-based, counted over all sessions) to throttle
        self.drop_after: int | None = None  # close when the N-th PDU (all sessions) arrives
        self.drop_after_accept: int | None = None  # accept the N-th submit_sm, then close unanswered
        self.submits: list[Submit] = []  # every submit_sm received, with the status answered
        self.nacks_sent: list[tuple[int, int]] = []
        self.throttled_at: list[float] = []
        self.binds: list[tuple[str, str]] = []
        self.sessions: list[Session] = []
        self.deliver_resps: dict[int, asyncio.Future] = {}
        self._pdu_count = 0
        self._submit_count = 0
        self._next_id = 0x1000
        self._seq = 0
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def accepted(self) -> list[Submit]:
        return [s for s in self.submits if s.status == ROK]

    async def start(self) -> Smsc:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server:
            self._server.close()
            for s in self.sessions:
                s.writer.close()
            await self._server.wait_closed()

    def disconnect_all(self) -> None:
        for s in self.sessions:
            s.writer.close()

    def _next_seq(self) -> int:
        self._seq += 1
        return self._seq

    # -- server side ----------------------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sess = Session(len(self.sessions), writer)
        self.sessions.append(sess)
        try:
            while True:
                head = await reader.readexactly(4)
                length = struct.unpack(">L", head)[0]
                if length < 16 or length > 65536:
                    self._send(sess, pdu(GENERIC_NACK, RINVCMDLEN, 0))
                    self.nacks_sent.append((0, RINVCMDLEN))
                    break
                raw = head + await reader.readexactly(length - 4)
                if not await self._handle(sess, raw):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            sess.bound = None
            writer.close()

    def _send(self, sess: Session, data: bytes) -> None:
        if not sess.writer.is_closing():
            sess.writer.write(data)

    async def _handle(self, sess: Session, raw: bytes) -> bool:
        cid, status, seq = struct.unpack(">LLL", raw[4:16])
        name = NAME.get(cid, f"0x{cid:08X}")
        sess.pdus.append((name, seq, time.monotonic()))
        self._pdu_count += 1
        if self.drop_after is not None and self._pdu_count == self.drop_after:
            return False
        body = Reader(raw[16:])
        if cid & 0x80000000:
            if cid == 0x80000005:  # deliver_sm_resp: §4.6.2 body is message_id (unused, NUL)
                fut = self.deliver_resps.pop(seq, None)
                if fut and not fut.done():
                    fut.set_result(status)
            return True
        if cid not in NAME:
            self._send(sess, pdu(GENERIC_NACK, RINVCMDID, seq))
            self.nacks_sent.append((seq, RINVCMDID))
            return True
        try:
            if name.startswith("bind_"):
                return self._bind(sess, cid, seq, body)
            if name == "enquire_link":
                self._send(sess, pdu(cid | 0x80000000, ROK, seq))
            elif name == "unbind":
                self._send(sess, pdu(cid | 0x80000000, ROK, seq))
                return False
            elif name == "submit_sm":
                return await self._submit(sess, seq, body)
            else:
                self._send(sess, pdu(GENERIC_NACK, RINVCMDID, seq))
        except Malformed:
            self._send(sess, pdu(GENERIC_NACK, RINVMSGLEN, seq))
            self.nacks_sent.append((seq, RINVMSGLEN))
        return True

    def _bind(self, sess: Session, cid: int, seq: int, r: Reader) -> bool:
        system_id, password, system_type = r.cstr(16), r.cstr(9), r.cstr(13)
        version, _ton, _npi, _range = r.int(1), r.int(1), r.int(1), r.cstr(41)
        mode = {0x1: "rx", 0x2: "tx", 0x9: "trx"}[cid]
        status = ROK
        if sess.bound:
            status = RALYBND
        elif system_id != self.system_id:
            status = RINVSYSID
        elif password != self.password:
            status = RINVPASWD
        self.binds.append((mode, system_type))
        body = cstr("KETNOI-TEST-SMSC") + (struct.pack(">HHB", 0x0210, 1, 0x34) if version >= 0x34 else b"")
        self._send(sess, pdu(cid | 0x80000000, status, seq, body if status == ROK else b""))
        if status == ROK:
            sess.bound = mode
        return True

    async def _submit(self, sess: Session, seq: int, r: Reader) -> bool:
        if sess.bound not in ("tx", "trx"):
            self._send(sess, pdu(0x80000004, RINVBNDSTS, seq))
            return True
        r.cstr(6)
        ston, snpi, src = r.int(1), r.int(1), r.cstr(21)
        dton, _dnpi, dst = r.int(1), r.int(1), r.cstr(21)
        esm, _pid, _prio = r.int(1), r.int(1), r.int(1)
        r.cstr(17), r.cstr(17)
        reg, _rep, dcs, _def = r.int(1), r.int(1), r.int(1), r.int(1)
        sm_len = r.int(1)
        if sm_len > 254:
            raise Malformed("sm_length > 254")
        short = r.octets(sm_len)
        r.tlvs()
        self._submit_count += 1
        n = self._submit_count
        sub = Submit(sess.n, seq, src, ston, snpi, dst, dton, esm, reg, dcs, short, at=time.monotonic())
        self.submits.append(sub)
        if n in self.throttle:
            sub.status = RTHROTTLED
            self._send(sess, pdu(0x80000004, RTHROTTLED, seq))
            self.throttled_at.append(time.monotonic())
            return True
        if not dst.isdigit() or not 8 <= len(dst) <= 15:
            sub.status = RINVDSTADR
            self._send(sess, pdu(0x80000004, RINVDSTADR, seq))
            return True
        self._next_id += 1
        sub.message_id = f"{self._next_id:X}"
        if self.drop_after_accept is not None and n == self.drop_after_accept:
            return False  # accepted, but the response never leaves
        self._send(sess, pdu(0x80000004, ROK, seq, cstr(sub.message_id)))
        if self.receipts and reg & 0x01:
            asyncio.get_running_loop().call_later(0.01, self._receipt, sub)
        return True

    def _receipt(self, sub: Submit) -> None:
        sess = next((s for s in self.sessions if s.bound in ("rx", "trx") and not s.writer.is_closing()), None)
        if sess is None:
            return
        stamp = time.strftime("%y%m%d%H%M")
        text = (f"id:{sub.message_id} sub:001 dlvrd:{'001' if self.receipt_stat == 'DELIVRD' else '000'} "
                f"submit date:{stamp} done date:{stamp} stat:{self.receipt_stat} err:000 text:")
        state = {"DELIVRD": 2, "EXPIRED": 3, "UNDELIV": 5, "REJECTD": 8}.get(self.receipt_stat, 7)
        tlvs = (struct.pack(">HH", 0x001E, len(sub.message_id) + 1) + cstr(sub.message_id)
                + struct.pack(">HHB", 0x0427, 1, state))
        self._deliver(sess, sub.dest, sub.source, text.encode("ascii"), 0x04, 0, tlvs)

    # -- MO --------------------------------------------------------------------------------------

    def _deliver(self, sess: Session, source: str, dest: str, short: bytes, esm: int, dcs: int,
                 tlvs: bytes = b"") -> asyncio.Future:
        seq = self._next_seq()
        body = (cstr("") + bytes((1, 1)) + cstr(source) + bytes((0, 1)) + cstr(dest)
                + bytes((esm, 0, 0)) + cstr("") + cstr("") + bytes((0, 0, dcs, 0, len(short))) + short + tlvs)
        fut = asyncio.get_running_loop().create_future()
        self.deliver_resps[seq] = fut
        self._send(sess, pdu(CMD["deliver_sm"], ROK, seq, body))
        return fut

    def deliver_mo(self, source: str, dest: str, payload: bytes, dcs: int, udh: bytes = b"") -> asyncio.Future:
        """Send one deliver_sm (one part) to a bound receiver; the future gets the deliver_sm_resp status."""
        sess = next(s for s in self.sessions if s.bound in ("rx", "trx") and not s.writer.is_closing())
        return self._deliver(sess, source, dest, udh + payload, 0x40 if udh else 0x00, dcs)

    async def flood_mo(self, n: int, window: int, text: str = "PA Đường Láng ngập sâu, xin xử lý gấp") -> float:
        """Send ``n`` incoming messages (distinct texts) with at most ``window`` unanswered; seconds taken."""
        while not any(s.bound in ("rx", "trx") for s in self.sessions):
            await asyncio.sleep(0.01)
        sem = asyncio.Semaphore(window)
        start = time.monotonic()

        async def one(i: int) -> None:
            async with sem:
                fut = self.deliver_mo(f"8491{i % 10000000:07d}", "1022", f"{text} #{i}".encode("utf-16-be"), 8)
                await fut

        await asyncio.gather(*(one(i) for i in range(n)))
        return time.monotonic() - start


async def _main(argv: list[str]) -> None:
    """``python -m tests.sms.peers.smsc [--no-receipts] [--mo N --mo-window W]``: serve on a free
    port (printed first), optionally flood N incoming messages once a receiver binds; for bench/sms.py."""
    import argparse

    ap = argparse.ArgumentParser()
    ap.add_argument("--no-receipts", action="store_true")
    ap.add_argument("--mo", type=int, default=0)
    ap.add_argument("--mo-window", type=int, default=10)
    args = ap.parse_args(argv)
    smsc = await Smsc(receipts=not args.no_receipts).start()
    print(smsc.port, flush=True)
    if args.mo:
        took = await smsc.flood_mo(args.mo, args.mo_window)
        print(f"mo {args.mo} {took:.3f}", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    import sys

    asyncio.run(_main(sys.argv[1:]))
