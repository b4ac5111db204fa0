"""Micro-benchmark of the media hot path: G.711 packets relayed through ``Bridge`` on loopback.

    .venv/bin/python bench/rtp_relay.py                         # 50, 150, 250 calls; ±recording
    .venv/bin/python bench/rtp_relay.py --calls 250 --seconds 20 --transcode

A child process (the system under test) opens 2·N ``RtpEndpoint``s on real UDP sockets and bridges
them in pairs, optionally recording every call to a stereo WAV. This process plays both phones of
every call: 50 packets/s per direction with phases spread evenly, each payload tagged with
(call, direction, sequence) in bytes that survive µ⇄A transcoding, so that each packet's one-way
delay through the bridge is known. Printed: packets/s relayed, the bridge process's CPU time per
packet (``time.process_time`` over the measured window), loss, and delay p50/p99 (added jitter).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import resource
import select
import shutil
import socket
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from ketnoi.telephony.media import g711

PTIME = 0.02
# payload bytes that come back unchanged after µ→A→µ and A→µ→A: the tag survives transcoding
_STABLE = [t for t in range(256) if g711.ALAW_TO_ULAW[g711.ULAW_TO_ALAW[t]] == t
           and g711.ULAW_TO_ALAW[g711.ALAW_TO_ULAW[t]] == t]
_INDEX = {v: i for i, v in enumerate(_STABLE)}
_BASE = len(_STABLE)


def _tag(value: int) -> bytes:
    out = []
    for _ in range(5):
        value, digit = divmod(value, _BASE)
        out.append(_STABLE[digit])
    return bytes(out)


def _untag(data: bytes) -> int | None:
    value = 0
    for b in reversed(data[:5]):
        i = _INDEX.get(b)
        if i is None:
            return None
        value = value * _BASE + i
    return value


# ---- the system under test (child process) --------------------------------------------------

def _bridge_process(conn, calls: int, port_start: int, phones: tuple[tuple, tuple], record: bool,
                    transcode: bool) -> None:
    asyncio.run(_bridge_main(conn, calls, port_start, phones, record, transcode))


async def _bridge_main(conn, calls, port_start, phones, record, transcode) -> None:
    from ketnoi.telephony.media import Bridge, PortAllocator, Recorder, RtpEndpoint
    from ketnoi.telephony.sdp import PCMA, PCMU, Direction, MediaParams

    ports = PortAllocator(port_start, port_start + 4 * calls + 200)
    tmp = Path(tempfile.mkdtemp(prefix="ketnoi-bench-rec-")) if record else None
    bridges, recorders, legs = [], [], []
    for i in range(calls):
        a = await RtpEndpoint.open(ports)
        b = await RtpEndpoint.open(ports)
        for ep, phone, codec in ((a, phones[0], PCMU), (b, phones[1], PCMA if transcode else PCMU)):
            ep.configure(MediaParams(phone[0], phone[1], phone[1] + 1, codec, 101, Direction.SENDRECV,
                                     receive_payload_types={codec.payload_type: codec},
                                     receive_telephone_event_pt=101))
        rec = Recorder(tmp / f"call-{i}.wav") if tmp else None
        br = Bridge(a, b, recorder=rec)
        br.start()
        bridges.append(br)
        recorders.append(rec)
        legs.append((a.port, b.port))
    conn.send(legs)
    loop = asyncio.get_running_loop()
    while True:
        msg = await loop.run_in_executor(None, conn.recv)
        if msg == "mark":
            ru = resource.getrusage(resource.RUSAGE_SELF)
            conn.send(((ru.ru_utime, ru.ru_stime), sum(b.forward.relayed + b.backward.relayed for b in bridges),
                       sum(b.forward.dropped + b.backward.dropped for b in bridges)))
        elif msg == "stop":
            break
    sizes = 0
    for br, rec in zip(bridges, recorders, strict=True):
        br.stop()
        if rec is not None:
            sizes += rec.close().stat().st_size
        br.a.close()
        br.b.close()
    conn.send(sizes)
    if tmp:
        shutil.rmtree(tmp, ignore_errors=True)


# ---- both phones of every call (this process) -------------------------------------------------

def _socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


def run(calls: int, seconds: float, *, record: bool, transcode: bool, warmup: float = 1.0,
        port_start: int = 40000) -> dict:
    caller, callee = _socket(), _socket()
    parent, child = mp.Pipe()
    proc = mp.get_context("fork").Process(
        target=_bridge_process, daemon=True,
        args=(child, calls, port_start, (caller.getsockname(), callee.getsockname()), record, transcode))
    proc.start()
    try:
        if not parent.poll(60):
            raise RuntimeError("the bridge process did not start")
        legs = parent.recv()
        ulaw_body = bytes([0xFE]) * 155  # a quiet µ-law payload; the first 5 bytes carry the tag
        alaw_body = g711.ulaw_to_alaw(ulaw_body)
        sent_at: dict[int, float] = {}
        delays: list[float] = []
        received = sent = 0
        seqs = [[0, 0] for _ in range(calls)]
        start = time.monotonic() + 0.2
        end = start + warmup + seconds
        measure_from = start + warmup
        marks: list[tuple] = []
        # each call sends both directions at its own phase within the 20 ms period
        phases = [start + (i / calls) * PTIME for i in range(calls)]
        socks = (caller, callee)
        # with transcoding the tag arrives in the other law: undo it (the tag bytes round-trip exactly)
        untranscode = {False: lambda b: b, True: lambda b: b}
        if transcode:
            untranscode = {False: lambda b: b.translate(g711.ULAW_TO_ALAW),
                           True: lambda b: b.translate(g711.ALAW_TO_ULAW)}
        k = tick = 0
        while True:
            now = time.monotonic()
            if not marks and now >= measure_from:
                parent.send("mark")
                marks.append((now, sent, received, *parent.recv()))
            if now >= end:
                break
            while phases[k] + tick * PTIME <= now:  # everything due (catches up after a stall)
                t = time.monotonic()
                for d in (0, 1):
                    seq = seqs[k][d]
                    seqs[k][d] = (seq + 1) & 0xFFFF
                    key = (k << 17) | (d << 16) | seq
                    pt, body = (8, alaw_body) if d == 1 and transcode else (0, ulaw_body)
                    packet = (bytes((0x80, pt)) + seq.to_bytes(2, "big") + (seq * 160).to_bytes(4, "big")
                              + (1000 + 2 * k + d).to_bytes(4, "big") + _tag(key) + body)
                    try:
                        socks[d].sendto(packet, ("127.0.0.1", legs[k][d]))
                    except BlockingIOError:
                        continue
                    if t >= measure_from:
                        sent_at[key] = t
                        sent += 1
                k += 1
                if k == calls:
                    k, tick = 0, tick + 1
            timeout = max(0.0, phases[k] + tick * PTIME - time.monotonic())
            ready, _, _ = select.select(socks, [], [], timeout)
            for s in ready:
                while True:
                    try:
                        data = s.recv(2048)
                    except BlockingIOError:
                        break
                    t = time.monotonic()
                    key = _untag(untranscode[s is callee](data[12:17]))
                    t0 = sent_at.pop(key, None) if key is not None else None
                    if t0 is not None:
                        received += 1
                        delays.append(t - t0)
        parent.send("mark")
        marks.append((time.monotonic(), sent, received, *parent.recv()))
        # let the last packets arrive
        deadline = time.monotonic() + 0.3
        while time.monotonic() < deadline:
            ready, _, _ = select.select(socks, [], [], 0.05)
            for s in ready:
                while True:
                    try:
                        data = s.recv(2048)
                    except BlockingIOError:
                        break
                    key = _untag(untranscode[s is callee](data[12:17]))
                    if key is not None and sent_at.pop(key, None) is not None:
                        received += 1
        parent.send("stop")
        rec_bytes = parent.recv() if parent.poll(60) else 0
    finally:
        proc.join(10)
        if proc.is_alive():
            proc.kill()
        caller.close()
        callee.close()
    (t_a, _, _, cpu_a, rel_a, drop_a), (t_b, _, _, cpu_b, rel_b, drop_b) = marks
    relayed = rel_b - rel_a
    wall = t_b - t_a
    delays.sort()
    p = (lambda q: delays[min(len(delays) - 1, int(q * len(delays)))] * 1000) if delays else (lambda q: 0.0)
    user, system = cpu_b[0] - cpu_a[0], cpu_b[1] - cpu_a[1]
    cpu = user + system
    return {
        "calls": calls, "record": record, "transcode": transcode, "seconds": round(wall, 2),
        "packets_per_s": relayed / wall if wall else 0.0,
        "cpu_us_per_packet": 1e6 * cpu / relayed if relayed else 0.0,
        "cpu_share": cpu / wall if wall else 0.0,
        "system_share_of_cpu": system / cpu if cpu else 0.0,
        "sent": sent, "received": received, "loss": (sent - received) / sent if sent else 0.0,
        "dropped_in_bridge": drop_b - drop_a,
        "delay_p50_ms": p(0.50), "delay_p99_ms": p(0.99),
        "added_jitter_p99_ms": p(0.99) - p(0.0),
        "recorded_bytes": rec_bytes,
    }


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--calls", default="50,150,250", help="comma-separated numbers of concurrent calls")
    ap.add_argument("--seconds", type=float, default=8.0, help="measured seconds per run")
    ap.add_argument("--record", choices=("both", "on", "off"), default="both")
    ap.add_argument("--transcode", action="store_true", help="caller PCMU, callee PCMA")
    ap.add_argument("--port-start", type=int, default=40000)
    args = ap.parse_args(argv)
    modes = {"both": (False, True), "on": (True,), "off": (False,)}[args.record]
    results = []
    print(f"# bench/rtp_relay.py  python {sys.version.split()[0]}  cpus {os.cpu_count()}  "
          f"transcode={'on' if args.transcode else 'off'}")
    print("| calls | recording | relayed pkt/s | CPU µs/pkt | bridge CPU | loss | delay p50 | delay p99 "
          "| est. calls/core |")
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|")
    for calls in [int(c) for c in args.calls.split(",") if c]:
        for record in modes:
            r = run(calls, args.seconds, record=record, transcode=args.transcode, port_start=args.port_start)
            per_call = r["cpu_us_per_packet"] * 100  # 2 directions × 50 packets/s
            r["calls_per_core"] = 1e6 / per_call if per_call else 0.0
            results.append(r)
            print(f"| {calls} | {'on' if record else 'off'} | {r['packets_per_s']:,.0f} | "
                  f"{r['cpu_us_per_packet']:.1f} | {100 * r['cpu_share']:.0f} % | {100 * r['loss']:.3f} % | "
                  f"{r['delay_p50_ms']:.2f} ms | {r['delay_p99_ms']:.2f} ms | {r['calls_per_core']:,.0f} |",
                  flush=True)
    return results


if __name__ == "__main__":
    main()
