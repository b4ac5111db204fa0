"""Real SIP peers for the call-engine tests (``/work/shared/testing/REAL_PEERS.md``): SIPp scenarios
and baresip softphones run as subprocesses on 127.0.0.1, driven from asyncio, on free ports.

Everything started here is bounded in time (SIPp ``-timeout``, baresip ``-t``) and stopped by the
fixture that started it; working files live in a temporary directory that is removed afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import random
import re
import shutil
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
LOOPBACK = "127.0.0.1"
_handed_out: set[int] = set()
_live: list = []  # every peer made here, until ``stop_all`` stops it and removes its directory


async def stop_all() -> None:
    """Stop every peer still running and remove every working directory (a fixture calls this after
    each test, so nothing is left behind even when a test fails half-way)."""
    while _live:
        peer = _live.pop()
        with contextlib.suppress(Exception):
            await peer.stop()
        peer.cleanup()


# ----------------------------------------------------------------------------------------- ports
def _bindable(port: int, *, udp: bool = True, tcp: bool = True) -> bool:
    kinds = ([socket.SOCK_DGRAM] if udp else []) + ([socket.SOCK_STREAM] if tcp else [])
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((LOOPBACK, port))
            except OSError:
                return False
    return True


def free_port(*, udp: bool = True, tcp: bool = True) -> int:
    """A port free on 127.0.0.1 for UDP and TCP, never handed out twice by this process."""
    return free_ports(1, udp=udp, tcp=tcp)[0]


def free_ports(count: int, *, udp: bool = True, tcp: bool = False, low: int = 20000, high: int = 60000) -> list[int]:
    """``count`` consecutive ports free on 127.0.0.1 (an RTP range, or a baresip SIP port + its TLS
    port). Random base so that parallel test runs of other developers rarely collide."""
    for _ in range(500):
        base = random.randrange(low, high - count)
        block = list(range(base, base + count))
        if _handed_out.intersection(block):
            continue
        if all(_bindable(p, udp=udp, tcp=tcp) for p in block):
            _handed_out.update(block)
            return block
    raise RuntimeError(f"no block of {count} free ports on {LOOPBACK}")


# ------------------------------------------------------------------------------------------ SIPp
@dataclass
class SippResult:
    returncode: int
    successful: int = 0
    failed: int = 0
    stats: dict[str, str] = field(default_factory=dict)
    errors: str = ""
    messages: str = ""
    logs: str = ""
    rtt_ms: list[float] = field(default_factory=list)
    output: str = ""

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and self.failed == 0 and self.successful > 0

    def explain(self) -> str:
        return (f"sipp exit {self.returncode}, {self.successful} ok / {self.failed} failed\n"
                f"--- errors ---\n{self.errors[-4000:]}\n--- messages ---\n{self.messages[-6000:]}\n"
                f"--- output ---\n{self.output[-2000:]}")


class Sipp:
    """One SIPp process running a scenario of ``tests/telephony/scenarios`` (or a path).

    ``remote`` is ``host:port`` for a UAC; None for a UAS waiting on ``port``. ``keys`` become
    ``[name]`` keywords in the scenario (``-key``). ``audio`` (raw µ-law) is what the scenario's
    ``rtp_stream="audio.ul"`` plays. Use ``await run()`` for a scenario that ends by itself, or
    ``start()`` … ``wait()`` around actions that need the peer to be listening.
    """

    def __init__(self, scenario: str | Path, *, remote: str | None = None, port: int | None = None,
                 service: str | None = None, user: str | None = None, password: str | None = None,
                 calls: int = 1, rate: float | None = None, rate_period_ms: int | None = None,
                 limit: int | None = None, duration_ms: int | None = None, transport: str = "u1",
                 media_port: int | None = None, rtp_echo: bool = False, audio: Path | None = None,
                 keys: dict[str, str] | None = None, local_ip: str = LOOPBACK, cpu: int | None = None,
                 prefix: list[str] | tuple = (),
                 timeout: float = 30, trace_messages: bool = True, extra: list[str] | tuple = ()) -> None:
        self.scenario = Path(scenario) if os.sep in str(scenario) else SCENARIOS / f"{scenario}.xml"
        self.remote = remote
        self.port = port or free_port()
        self.media_port = media_port
        self.timeout = timeout
        self.dir = Path(tempfile.mkdtemp(prefix="ketnoi-sipp-"))
        _live.append(self)
        self.local_ip = local_ip
        if audio is not None:
            (self.dir / "audio.ul").symlink_to(Path(audio).resolve())
            media_port = media_port or free_ports(4, udp=True)[0]
        args = ["sipp"] + ([remote] if remote else []) + [
            "-sf", str(self.scenario), "-i", local_ip, "-p", str(self.port), "-t", transport,
            "-m", str(calls), "-nostdin", "-ci", LOOPBACK, "-cp", str(free_port(tcp=False)),
            "-timeout", f"{int(timeout)}s", "-timeout_error", "-max_recv_loops", "10000",
            "-trace_stat", "-stf", str(self.dir / "stat.csv"), "-fd", "1",
            "-trace_err", "-error_file", str(self.dir / "errors.log"),
            "-trace_logs", "-log_file", str(self.dir / "logs.log"),
            "-trace_rtt", "-rtt_freq", "1", "-aa"]  # -aa: OPTIONS keep-alives/pings answered 200
        if trace_messages:
            args += ["-trace_msg", "-message_file", str(self.dir / "messages.log")]
        if service:
            args += ["-s", service]
        if user:
            args += ["-au", user, "-ap", password or ""]
        if rate is not None:
            args += ["-r", str(rate)]
        if rate_period_ms is not None:
            args += ["-rp", str(rate_period_ms)]
        if limit is not None:
            args += ["-l", str(limit)]
        if duration_ms is not None:
            args += ["-d", str(duration_ms)]
        if media_port is not None or rtp_echo:
            self.media_port = media_port or free_ports(4, udp=True)[0]
            args += ["-mi", local_ip, "-mp", str(self.media_port)]
        if rtp_echo:
            args.append("-rtp_echo")
        for name, value in (keys or {}).items():
            args += ["-key", name, str(value)]
        self.args = list(prefix) + (["taskset", "-c", str(cpu)] if cpu is not None else []) + args + list(extra)
        self.proc: asyncio.subprocess.Process | None = None
        self._output = b""

    async def start(self) -> Sipp:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, cwd=self.dir, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
        return self

    async def wait(self) -> SippResult:
        assert self.proc is not None, "start() first"
        try:
            self._output, _ = await asyncio.wait_for(self.proc.communicate(), self.timeout + 15)
        except TimeoutError:
            await self.stop()
        return self.result()

    async def run(self) -> SippResult:
        await self.start()
        return await self.wait()

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 5)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()

    def result(self) -> SippResult:
        res = SippResult(returncode=self.proc.returncode if self.proc and self.proc.returncode is not None else -1,
                         output=self._output.decode(errors="replace"))
        stat = self.dir / "stat.csv"
        if stat.exists():
            rows = list(csv.reader(stat.read_text(errors="replace").splitlines(), delimiter=";"))
            if len(rows) >= 2:
                res.stats = dict(zip(rows[0], rows[-1]))
                res.successful = int(res.stats.get("SuccessfulCall(C)", "0") or 0)
                res.failed = int(res.stats.get("FailedCall(C)", "0") or 0)
        for name, attr in (("errors.log", "errors"), ("messages.log", "messages"), ("logs.log", "logs")):
            p = self.dir / name
            if p.exists():
                setattr(res, attr, p.read_text(errors="replace"))
        for rtt in self.dir.glob("*_rtt.csv"):
            for row in list(csv.reader(rtt.read_text().splitlines(), delimiter=";"))[1:]:
                with contextlib.suppress(ValueError, IndexError):
                    res.rtt_ms.append(float(row[1]))
        return res

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()
        self.cleanup()


# --------------------------------------------------------------------------------------- baresip
class Baresip:
    """A headless baresip softphone registered to the engine, remote-controlled through ctrl_tcp
    (netstring JSON). Its microphone is a WAV (``aufile``); ``sndfile`` records what it sent and
    received to ``recordings`` as ``dump-*-enc.wav`` and ``dump-*-dec.wav``."""

    def __init__(self, user: str, password: str | None, registrar: str, *, source_wav: Path,
                 codecs: str = "PCMU,PCMA", answer: str = "auto", lifetime: int = 120,
                 extra_account: str = "", register: bool = True, local_ip: str = LOOPBACK) -> None:
        self.user = user
        self.registrar = registrar  # host:port of the engine
        self.dir = Path(tempfile.mkdtemp(prefix=f"ketnoi-baresip-{user}-"))
        _live.append(self)
        self.recordings = self.dir / "rec"
        self.recordings.mkdir()
        self.sip_port = free_ports(2, udp=True, tcp=True)[0]  # baresip also takes port+1 for TLS
        self.ctrl_port = free_port(udp=False)
        rtp = free_ports(20, udp=True)
        self.lifetime = lifetime
        (self.dir / "config").write_text("\n".join([
            "poll_method epoll", f"sip_listen {local_ip}:{self.sip_port}", f"net_interface {local_ip}",
            "audio_player alsa,null", "audio_alert alsa,null", f"audio_source aufile,{source_wav}",
            f"rtp_ports {rtp[0]}-{rtp[-1]}", "module_path /usr/lib/baresip/modules",
            "module g711.so", "module aufile.so", "module alsa.so", "module sndfile.so",
            "module_tmp account.so", "module_app menu.so", "module ctrl_tcp.so",
            f"ctrl_tcp_listen {LOOPBACK}:{self.ctrl_port}", f"snd_path {self.recordings}", ""]))
        params = [f"answermode={answer}", f"audio_codecs={codecs}", "regint=" + ("60" if register else "0")]
        if password is not None:
            params.append(f"auth_pass={password}")
        self.aor = f"sip:{user}@{registrar}"
        (self.dir / "accounts").write_text(f"<{self.aor}>;{';'.join(params)}{extra_account}\n")
        self.proc: asyncio.subprocess.Process | None = None
        self.events: list[dict] = []
        self.responses: dict[str, dict] = {}
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._pump: asyncio.Task | None = None
        self._changed = asyncio.Event()
        self._tokens = 0
        self.log = self.dir / "baresip.log"

    async def start(self) -> Baresip:
        with self.log.open("wb") as logf:
            self.proc = await asyncio.create_subprocess_exec(
                "baresip", "-f", str(self.dir), "-t", str(self.lifetime), stdin=asyncio.subprocess.DEVNULL,
                stdout=logf, stderr=asyncio.subprocess.STDOUT, cwd=self.dir)
        for _ in range(100):
            try:
                self._reader, self._writer = await asyncio.open_connection(LOOPBACK, self.ctrl_port)
                break
            except OSError:
                if self.proc.returncode is not None:
                    raise RuntimeError(f"baresip exited: {self.log.read_text(errors='replace')}") from None
                await asyncio.sleep(0.05)
        else:
            raise RuntimeError("baresip control port did not open")
        self._pump = asyncio.create_task(self._read_loop())
        return self

    async def _read_loop(self) -> None:
        assert self._reader is not None
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError, ValueError):
            while True:
                length = int((await self._reader.readuntil(b":"))[:-1])
                body = await self._reader.readexactly(length + 1)
                msg = json.loads(body[:-1])
                if msg.get("event"):
                    self.events.append(msg)
                elif msg.get("response"):
                    self.responses[msg.get("token", "")] = msg
                self._changed.set()

    async def command(self, name: str, params: str = "", timeout: float = 5) -> dict:
        """Send a menu command (``dial``, ``hangup``, ``accept``, ``hold``, ``resume``, ...)."""
        assert self._writer is not None
        self._tokens += 1
        token = f"t{self._tokens}"
        body = json.dumps({"command": name, "params": params, "token": token}).encode()
        self._writer.write(str(len(body)).encode() + b":" + body + b",")
        await self._writer.drain()
        await self._until(lambda: token in self.responses, timeout, f"response to {name}")
        return self.responses[token]

    async def _until(self, predicate, timeout: float, what: str) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not predicate():
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"baresip {self.user}: no {what} within {timeout}s; events: "
                                   f"{[e.get('type') for e in self.events]}\n{self.tail_log()}")
            self._changed.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), remaining)

    async def wait_event(self, kind: str, timeout: float = 10, *, after: int = 0) -> dict:
        """The first event of type ``kind`` (e.g. REGISTER_OK, CALL_ESTABLISHED, CALL_CLOSED) whose
        index is at least ``after`` (``len(events)`` taken before an action)."""
        found: list[dict] = []

        def seen() -> bool:
            found[:] = [e for e in self.events[after:] if e.get("type") == kind]
            return bool(found)

        await self._until(seen, timeout, f"event {kind}")
        return found[0]

    async def wait_registered(self, timeout: float = 10) -> None:
        """Until the account shows as registered (``reginfo`` says OK; the REGISTER_OK event may have
        been sent before the control connection was up)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self.has_event("REGISTER_OK"):
            info = await self.command("reginfo")
            if re.search(r"\sOK\b", re.sub(r"\x1b\[[0-9;]*m", "", info.get("data", ""))):
                return
            if loop.time() > deadline:
                raise TimeoutError(f"baresip {self.user} did not register: {info.get('data')}\n{self.tail_log()}")
            await asyncio.sleep(0.1)

    def has_event(self, kind: str) -> bool:
        return any(e.get("type") == kind for e in self.events)

    async def dial(self, number: str) -> None:
        host = self.registrar
        await self.command("dial", f"sip:{number}@{host}")

    async def send_dtmf(self, digits: str, gap: float = 0.25) -> None:
        """Key presses sent as RFC 4733 events by baresip (``sndcode``)."""
        for d in digits:
            await self.command("sndcode", d)
            await asyncio.sleep(gap)

    def recording(self, kind: str = "dec") -> Path | None:
        """The newest ``dump-*-dec.wav`` (received audio) or ``-enc.wav`` (sent audio)."""
        files = sorted(self.recordings.glob(f"dump-*-{kind}.wav"), key=lambda p: p.stat().st_mtime)
        return files[-1] if files else None

    def tail_log(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:] if self.log.exists() else ""

    async def stop(self) -> None:
        if self.proc and self.proc.returncode is None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.command("quit", timeout=2), 3)
            try:
                await asyncio.wait_for(self.proc.wait(), 3)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
        if self._writer:
            self._writer.close()
        if self._pump:
            self._pump.cancel()
            with contextlib.suppress(BaseException):
                await self._pump

    def cleanup(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc) -> None:
        await self.stop()
        self.cleanup()


def have_peers() -> bool:
    return bool(shutil.which("sipp") and shutil.which("baresip"))
