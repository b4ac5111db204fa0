"""Call-engine benchmark (issue 5, CC-04): SIPp drives real calls with RTP through the engine on
loopback — one leg in (extension 1001, digest-authenticated, streaming a 700 Hz tone) and one leg
out to a SIPp UAS acting as the carrier trunk (echoing the RTP back). The engine runs alone
(`python -m ketnoi.telephony.engine`) pinned to CPU 0 with taskset; SIPp and the probes use CPU 1.

Measured:
  * concurrent bridged G.711 calls, without and with recording: all SIPp calls must succeed, and
    probe calls (a socket of this script as the caller's media, echoed by the trunk through the
    engine twice) must show loss < 0.1 % and round-trip delay variation p99 < 5 ms;
  * call setup rate: calls/s sustained without failure, p95 INVITE→200 latency (SIPp rtd);
  * CPU of the engine's core and memory (RSS) per call.

    .venv/bin/python bench/telephony.py                      # the sweep (about 10 minutes)
    .venv/bin/python bench/telephony.py --levels 50,100 --rates 25 --probe-seconds 5
Every SIPp run is bounded by -m and -timeout; the engine is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import select
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENGINE_CPU, LOAD_CPU = 0, 1
# Real-time priorities (SCHED_FIFO, root only) used with --realtime: the probe above the engine above
# SIPp, so that other users' processes on this shared machine do not show up as jitter.
RT = {"probe": 30, "engine": 20, "sipp": 10}
REALTIME = False


def rt(role: str) -> list[str]:
    return ["chrt", "-f", str(RT[role])] if REALTIME else []
NUMBER = "0912345678"
CLK = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------------------------------ setup
class Environment:
    """A throw-away data directory and SQLite database with one organization's PBX: extension 1001,
    a peer trunk at 127.0.0.2 (the SIPp carrier) and an outbound route _0X. through it."""

    def __init__(self, max_calls: int = 500) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="ketnoi-bench-tel-"))
        os.environ.update(KETNOI_DATA_DIR=str(self.dir / "data"),
                          KETNOI_DATABASE_URL=f"sqlite:///{self.dir / 'bench.sqlite3'}",
                          KETNOI_ARGON2_TIME_COST="1", KETNOI_ARGON2_MEMORY_KIB="1024")
        from tests.telephony.peers import free_port, free_ports

        from ketnoi.bootstrap import prepare
        from ketnoi.db.session import Database
        from ketnoi.identity import schemas as IS
        from ketnoi.identity.principal import Principal
        from ketnoi.identity.service import create_organization
        from ketnoi.settings import get_settings

        get_settings.cache_clear()
        self.settings = get_settings()
        self.db = Database(self.settings.effective_database_url)
        prepare(self.settings, self.db)
        system = Principal(user_id="", username="bench", full_name="Bench", organization_id=None, department_id=None,
                           is_sysadmin=True)
        with self.db.session() as s:
            self.org = create_organization(s, system, IS.OrganizationIn(code="BENCH", name="Tỉnh thử tải")).id
        self.actor = Principal(user_id="", username="bench", full_name="Bench", organization_id=self.org,
                               department_id=None, is_sysadmin=False)
        self.sip_port, self.trunk_port = free_port(), free_port()
        rtp = free_ports(4 * (max_calls + 10), udp=True)  # two RTP/RTCP pairs per bridged call
        from ketnoi.telephony.pbx import extensions, routes, service
        from ketnoi.telephony.pbx import schemas as S

        with self.db.session() as s:
            service.update_settings(s, self.actor, self.org, S.SettingsPatch(
                sip_udp_port=self.sip_port, sip_tcp_port=self.sip_port, rtp_port_min=rtp[0],
                rtp_port_max=rtp[-1], codecs=["PCMU", "PCMA"]))
            extensions.create_extension(s, self.actor, S.ExtensionIn(number="1001", secret="demo1001"))
            trunk = extensions.create_trunk(s, self.actor, S.TrunkIn(
                name="Nhà mạng", kind="peer", host="127.0.0.2", port=self.trunk_port,
                allowed_networks=["127.0.0.2/32"]))
            routes.create_outbound(s, self.actor, S.OutboundRouteIn(name="Gọi ra", patterns=[{"match": "_0X."}],
                                                                    trunk_ids=[trunk.id]))
        self.engine: subprocess.Popen | None = None

    def apply(self, recording: bool) -> None:
        from ketnoi.telephony.pbx import schemas as S
        from ketnoi.telephony.pbx import service

        with self.db.session() as s:
            service.update_settings(s, self.actor, self.org, S.SettingsPatch(recording_enabled=recording))
        with self.db.session() as s:
            service.apply(s, self.actor, self.org)

    def start_engine(self) -> int:
        env = dict(os.environ, KETNOI_SIP_BIND_ADDRESS="127.0.0.1", KETNOI_LOG_LEVEL="warning",
                   KETNOI_SIP_KEEPALIVE_SECONDS="0", KETNOI_SIP_TRUNK_PING_SECONDS="0")
        # nice -10 (root only; otherwise a warning and normal priority): the machine is shared with other
        # users' work, whose bursts would otherwise show up as engine jitter
        self.engine = subprocess.Popen(
            rt("engine") + ["nice", "-n", "-10", "taskset", "-c", str(ENGINE_CPU), sys.executable, "-m",
                            "ketnoi.telephony.engine"], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=ROOT)
        line = self.engine.stdout.readline()
        if "ready" not in line:
            raise RuntimeError(f"the engine did not start: {line}{self.engine.stdout.read()}")
        threading.Thread(target=lambda: [None for _ in self.engine.stdout], daemon=True).start()
        return self.engine.pid

    def stop_engine(self) -> None:
        if self.engine is not None and self.engine.poll() is None:
            self.engine.send_signal(signal.SIGTERM)
            try:
                self.engine.wait(30)
            except subprocess.TimeoutExpired:
                self.engine.kill()
                self.engine.wait()
        self.engine = None

    def close(self) -> None:
        import shutil

        self.stop_engine()
        self.db.dispose()
        shutil.rmtree(self.dir, ignore_errors=True)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


# ------------------------------------------------------------------------------------------ probe
class ProbeFailed(Exception):
    """The measuring call itself was refused or not answered."""


@dataclass
class ProbeResult:
    sent: int = 0
    received: int = 0
    rtt_ms: list[float] = field(default_factory=list)

    @property
    def loss(self) -> float:
        return 1 - self.received / self.sent if self.sent else 1.0

    def pdv_p99(self) -> float:
        """Round-trip delay variation: p99 of (delay − minimum delay), in ms (ITU-T Y.1540 style)."""
        if len(self.rtt_ms) < 10:
            return float("inf")
        base = min(self.rtt_ms)
        return statistics.quantiles([r - base for r in self.rtt_ms], n=100)[98]


def probe_process(port: int, target: tuple[str, int], seconds: float, queue) -> None:
    """The probe in its own process on the load CPU, at a raised priority when allowed."""
    os.sched_setaffinity(0, {LOAD_CPU})
    try:
        if REALTIME:
            os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT["probe"]))
        else:
            os.nice(-10)
    except OSError:
        pass
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", port))
    result = ProbeResult()
    try:
        probe(sock, target, seconds, result)
    finally:
        sock.close()
    queue.put((result.sent, result.received, result.rtt_ms))


def probe(sock: socket.socket, target: tuple[str, int], seconds: float, result: ProbeResult) -> None:
    """Send 20 ms PCMU packets (index in the payload) and time their echo through the engine."""
    sent_at: dict[int, float] = {}
    payload = bytearray(b"\xff" * 160)
    seq, ts, ssrc = 1000, 0, 0x4B45544E
    start = time.perf_counter()
    n, end = 0, start + seconds
    drain_until = end + 0.5
    while True:
        now = time.perf_counter()
        due = start + n * 0.020
        if now >= due and now < end:
            struct.pack_into("!I", payload, 0, n)
            packet = struct.pack("!BBHII", 0x80, 0, (seq + n) & 0xFFFF, (ts + 160 * n) & 0xFFFFFFFF, ssrc) + payload
            sent_at[n] = time.perf_counter()
            sock.sendto(packet, target)
            result.sent += 1
            n += 1
            continue
        if now >= drain_until:
            return
        wait = max(0.0, min(due, drain_until) - now) if now < end else drain_until - now
        ready, _, _ = select.select([sock], [], [], wait)
        if ready:
            data = sock.recv(2048)
            arrival = time.perf_counter()
            if len(data) >= 16:
                index = struct.unpack_from("!I", data, 12)[0]
                if index in sent_at:
                    result.received += 1
                    result.rtt_ms.append((arrival - sent_at.pop(index)) * 1000)


async def probe_call(env: Environment, seconds: float) -> ProbeResult:
    """One measuring call: SIPp signals it (extension 1001 → the trunk), this script is its media."""
    from tests.telephony.peers import Sipp, free_port

    port = free_port()
    sipp = Sipp("probe_uac", remote=f"127.0.0.1:{env.sip_port}", service=NUMBER, user="1001", password="demo1001",
                keys={"ext": "1001", "probe_port": str(port)}, duration_ms=int((seconds + 1.5) * 1000),
                timeout=seconds + 30, cpu=LOAD_CPU, trace_messages=False, prefix=rt("sipp"))
    result = ProbeResult()
    await sipp.start()
    try:
        log = sipp.dir / "logs.log"
        media = None
        for _ in range(200):
            text = log.read_text() if log.exists() else ""
            if "media=m=audio " in text:
                media = int(text.split("media=m=audio ")[1].split()[0])
                break
            await asyncio.sleep(0.05)
        if media is None:
            failed = await sipp.wait()
            raise ProbeFailed(failed.errors.split("received '")[-1].split("\n")[0][:80] or "no answer")
        ctx = multiprocessing.get_context("fork")
        queue = ctx.Queue()
        worker = ctx.Process(target=probe_process, args=(port, ("127.0.0.1", media), seconds, queue))
        worker.start()
        result.sent, result.received, result.rtt_ms = await asyncio.to_thread(queue.get, True, seconds + 30)
        await asyncio.to_thread(worker.join, 10)
        await sipp.wait()
    finally:
        await sipp.stop()
        sipp.cleanup()
    return result


# ------------------------------------------------------------------------------------------ runs
@dataclass
class Level:
    calls: int
    recording: bool
    ok: bool = False
    failed: int = 0
    loss: float = 1.0
    pdv_p99: float = float("inf")
    rtt_p50: float = 0.0
    cpu: float = 0.0
    rss_per_call_kb: float = 0.0
    note: str = ""

    @property
    def passed(self) -> bool:
        return self.ok and self.loss < 0.001 and self.pdv_p99 < 5.0 and self.cpu < 0.98


async def concurrency(env: Environment, pid: int, calls: int, recording: bool, *, ramp: float,
                      probe_seconds: float, probes: int) -> Level:
    from tests.telephony.peers import Sipp

    level = Level(calls, recording)
    idle_rss = rss_mb(pid)
    ramp_s = calls / ramp
    hold_ms = int((ramp_s + 2 + probe_seconds + 6) * 1000)
    audio = env.dir / "tone700.ul"
    load = Sipp("call_uac", remote=f"127.0.0.1:{env.sip_port}", service=NUMBER, user="1001", password="demo1001",
                keys={"ext": "1001"}, audio=audio, calls=calls, rate=ramp, limit=calls, duration_ms=hold_ms,
                timeout=ramp_s + hold_ms / 1000 + 60, cpu=LOAD_CPU, trace_messages=False, prefix=rt("sipp"))
    await load.start()
    try:
        await asyncio.sleep(ramp_s + 2)
        cpu0, t0 = cpu_seconds(pid), time.monotonic()
        try:
            results = await asyncio.gather(*(probe_call(env, probe_seconds) for _ in range(probes)))
        except ProbeFailed as exc:
            results, level.note = [], f"probe call refused: {exc}"
        level.cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
        level.rss_per_call_kb = max(0.0, (rss_mb(pid) - idle_rss) * 1024 / (calls + probes))
        result = await load.wait()
    finally:
        await load.stop()
        load.cleanup()
    merged = ProbeResult()
    for r in results:
        merged.sent += r.sent
        merged.received += r.received
        merged.rtt_ms += r.rtt_ms
    level.failed = result.failed
    level.ok = result.returncode == 0 and result.failed == 0 and result.successful == calls
    if not level.ok and not level.note:
        level.note = result.errors.splitlines()[1][:160] if result.errors.count("\n") else f"exit {result.returncode}"
    level.loss, level.pdv_p99 = merged.loss, merged.pdv_p99()
    if os.environ.get("BENCH_DEBUG"):
        for r in results:
            big = [(i, round(x, 1)) for i, x in enumerate(r.rtt_ms) if x > 5]
            print("    probe", r.sent, r.received, "min", round(min(r.rtt_ms), 2), "slow:", big[:20], flush=True)
    level.rtt_p50 = statistics.median(merged.rtt_ms) if merged.rtt_ms else 0.0
    return level


@dataclass
class Rate:
    rate: int
    calls: int
    ok: bool = False
    failed: int = 0
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    cpu: float = 0.0


async def setup_rate(env: Environment, pid: int, rate: int, seconds: float) -> Rate:
    from tests.telephony.peers import Sipp

    calls = int(rate * seconds)
    out = Rate(rate, calls)
    sipp = Sipp("call_uac", remote=f"127.0.0.1:{env.sip_port}", service=NUMBER, user="1001", password="demo1001",
                keys={"ext": "1001"}, audio=env.dir / "tone700.ul", calls=calls, rate=rate, limit=rate * 4,
                duration_ms=1000, timeout=seconds + 60, cpu=LOAD_CPU, trace_messages=False, prefix=rt("sipp"))
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    result = await sipp.run()
    out.cpu = (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0)
    sipp.cleanup()
    out.failed = result.failed
    out.ok = result.returncode == 0 and result.failed == 0 and result.successful == calls
    if len(result.rtt_ms) >= 20:
        q = statistics.quantiles(result.rtt_ms, n=100)
        out.p50_ms, out.p95_ms = statistics.median(result.rtt_ms), q[94]
    return out


# ------------------------------------------------------------------------------------------ main
async def run(args) -> dict:
    from tests.telephony.audio import tone_ulaw
    from tests.telephony.peers import Sipp

    env = Environment(max(args.levels) + args.probes)
    tone_ulaw(env.dir / "tone700.ul", 700, 20)
    out: dict = {"levels": [], "rates": []}
    carrier = Sipp("uas_echo", port=env.trunk_port, local_ip="127.0.0.2", rtp_echo=True, calls=1_000_000,
                   timeout=args.max_minutes * 60, cpu=LOAD_CPU, trace_messages=False, prefix=rt("sipp"))
    await carrier.start()
    try:
        for recording in (False, True):
            env.apply(recording)
            pid = env.start_engine()
            await asyncio.sleep(1)
            out["idle_rss_mb"] = rss_mb(pid)
            for calls in args.levels:
                level = await concurrency(env, pid, calls, recording, ramp=args.ramp,
                                          probe_seconds=args.probe_seconds, probes=args.probes)
                out["levels"].append(level)
                print(f"  {'recording' if recording else 'relay    '} {calls:4d} calls: ok={level.ok} "
                      f"loss={level.loss:.4%} pdv_p99={level.pdv_p99:.2f} ms cpu={level.cpu:.0%} "
                      f"rss/call={level.rss_per_call_kb:.0f} KiB {level.note}", flush=True)
                if not level.passed:
                    break
            if not recording:
                for rate in args.rates:
                    r = await setup_rate(env, pid, rate, args.rate_seconds)
                    out["rates"].append(r)
                    print(f"  setup {rate:3d}/s: ok={r.ok} failed={r.failed} p50={r.p50_ms:.0f} ms "
                          f"p95={r.p95_ms:.0f} ms cpu={r.cpu:.0%}", flush=True)
                    if not r.ok:
                        break
            env.stop_engine()
    finally:
        from tests.telephony.peers import stop_all

        await carrier.stop()
        await stop_all()
        env.close()
    return out


def report(out: dict) -> None:
    print("\n| Recording | Concurrent calls | SIPp calls OK | Probe loss | Round-trip PDV p99 (ms) | RTT p50 (ms) "
          "| Engine CPU | RSS per call (KiB) | Within targets |")
    print("|---|---|---|---|---|---|---|---|---|")
    for lv in out["levels"]:
        print(f"| {'on' if lv.recording else 'off'} | {lv.calls} | {'yes' if lv.ok else f'no ({lv.failed} failed)'} "
              f"| {lv.loss:.3%} | {lv.pdv_p99:.2f} | {lv.rtt_p50:.2f} | {lv.cpu:.0%} | {lv.rss_per_call_kb:.0f} "
              f"| {'yes' if lv.passed else 'no'} |")
    print("\n| Setup rate (calls/s) | Calls | All OK | p50 INVITE→200 (ms) | p95 INVITE→200 (ms) | Engine CPU |")
    print("|---|---|---|---|---|---|")
    for r in out["rates"]:
        print(f"| {r.rate} | {r.calls} | {'yes' if r.ok else f'no ({r.failed} failed)'} | {r.p50_ms:.0f} "
              f"| {r.p95_ms:.0f} | {r.cpu:.0%} |")
    for recording in (False, True):
        good = [lv for lv in out["levels"] if lv.recording == recording and lv.passed]
        if good:
            best = max(good, key=lambda lv: lv.calls)
            print(f"recording {'on' if recording else 'off'}: {best.calls} calls sustained; CPU per call "
                  f"{best.cpu / max(best.calls, 1):.2%} of a core")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--levels", default="50,100,150,200,250,300", help="concurrent calls to try, in order")
    parser.add_argument("--rates", default="25,50,75,100", help="call setup rates to try (calls/s)")
    parser.add_argument("--ramp", type=float, default=25.0, help="new calls per second while ramping up")
    parser.add_argument("--probe-seconds", type=float, default=10.0)
    parser.add_argument("--probes", type=int, default=2)
    parser.add_argument("--rate-seconds", type=float, default=10.0)
    parser.add_argument("--max-minutes", type=float, default=30.0)
    parser.add_argument("--realtime", action=argparse.BooleanOptionalAction, default=os.geteuid() == 0,
                        help="run the engine, SIPp and the probes with SCHED_FIFO (default: when root)")
    args = parser.parse_args(argv)
    global REALTIME
    REALTIME = args.realtime and subprocess.run(["chrt", "-f", "10", "true"], check=False,
                                                capture_output=True).returncode == 0
    args.levels = [int(x) for x in args.levels.split(",") if x]
    args.rates = [int(x) for x in args.rates.split(",") if x]
    print(f"ketnoi call engine benchmark: engine on CPU {ENGINE_CPU}, SIPp and probes on CPU {LOAD_CPU}; "
          f"real-time priorities {'on' if REALTIME else 'off'}; load average {os.getloadavg()[0]:.1f}", flush=True)
    out = asyncio.run(run(args))
    report(out)
    return out


if __name__ == "__main__":
    main()
