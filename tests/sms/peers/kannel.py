"""Real Kannel for the tests: bearerbox + smsbox with a generated configuration on free loopback ports,
and Kannel's own fake SMSC client (``fakesmsc``, package kannel-extras) as the mobile network.

``fakesmsc`` is both the receiver of what Kannel sends (it prints ``Got message N: <from to type
data>``) and the way to inject incoming messages (its command-line messages). Only one fakesmsc is
connected at a time: injecting restarts it with the message to send, and the new process goes on
receiving; messages Kannel sends in between wait in bearerbox's queue.
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote_to_bytes

BEARERBOX, SMSBOX = "/usr/sbin/bearerbox", "/usr/sbin/smsbox"
FAKESMSC = "/usr/lib/kannel/test/fakesmsc"
GOT = re.compile(r"Got message \d+: <(\S+) (\S+) (\S+) (.*)>\s*$")


def available() -> bool:
    return all(Path(p).exists() for p in (BEARERBOX, SMSBOX, FAKESMSC))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, proc: subprocess.Popen, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


@dataclass
class Received:
    sender: str
    to: str
    kind: str  # as fakesmsc prints it: text | data | udh | ucs-2
    udh: bytes
    data: bytes  # octets as fakesmsc received them


class KannelPeer:
    def __init__(self, workdir: Path, mo_get_url: str):
        self.dir, self.mo_get_url = workdir, mo_get_url
        self.admin, self.box, self.sendsms, self.fake = (free_port() for _ in range(4))
        self.procs: list[subprocess.Popen] = []
        self.fakesmsc: subprocess.Popen | None = None
        self._logs: list[Path] = []

    @property
    def sendsms_url(self) -> str:
        return f"http://127.0.0.1:{self.sendsms}/cgi-bin/sendsms"

    def config(self) -> str:
        d = self.dir
        return f"""group = core
admin-port = {self.admin}
admin-interface = 127.0.0.1
admin-password = adminpw
admin-allow-ip = 127.0.0.1
smsbox-port = {self.box}
smsbox-interface = 127.0.0.1
box-allow-ip = 127.0.0.1
log-file = "{d}/bearerbox.log"
log-level = 1
dlr-storage = internal

group = smsc
smsc = fake
smsc-id = FAKE
port = {self.fake}
our-host = 127.0.0.1
connect-allow-ip = 127.0.0.1

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = {self.box}
sendsms-port = {self.sendsms}
sendsms-interface = 127.0.0.1
mo-recode = true
log-file = "{d}/smsbox.log"
log-level = 1

group = sendsms-user
username = ketnoi
password = kannel-pw
max-messages = 1

group = sms-service
keyword = default
catch-all = true
max-messages = 0
get-url = "{self.mo_get_url}"
"""

    def start(self) -> KannelPeer:
        conf = self.dir / "kannel.conf"
        conf.write_text(self.config())
        bb = self._spawn([BEARERBOX, str(conf)], "bearerbox.out")
        wait_port(self.admin, bb)
        wait_port(self.fake, bb)
        sb = self._spawn([SMSBOX, str(conf)], "smsbox.out")
        wait_port(self.sendsms, sb)
        self._fakesmsc([])
        return self

    def _spawn(self, args: list[str], log: str) -> subprocess.Popen:
        out = self.dir / log
        self._logs.append(out)
        p = subprocess.Popen(args, stdout=out.open("ab"), stderr=subprocess.STDOUT, cwd=self.dir)
        self.procs.append(p)
        return p

    def _fakesmsc(self, messages: list[str]) -> None:
        if self.fakesmsc is not None:
            self.fakesmsc.terminate()
            self.fakesmsc.wait(timeout=5)
        args = [FAKESMSC, "-H", "127.0.0.1", "-r", str(self.fake), "-i", "0.05", "-m", str(len(messages))]
        self.fakesmsc = self._spawn(args + (messages or ["0 0 text unused"]), f"fakesmsc-{len(self._logs)}.out")

    def inject_mo(self, sender: str, to: str, text: str) -> None:
        """One incoming message from the 'network': plain text, or UCS-2 when not ASCII."""
        if text.isascii():
            msg = f"{sender} {to} text {text}"
        else:
            msg = f"{sender} {to} ucs2 {quote(text.encode('utf-16-be'), safe='')}"
        self._fakesmsc([msg])

    def received(self) -> list[Received]:
        """Everything fakesmsc got from Kannel so far."""
        out = []
        for log in self._logs:
            if not log.name.startswith("fakesmsc") or not log.exists():
                continue
            for line in log.read_text(errors="replace").splitlines():
                m = GOT.search(line)
                if not m:
                    continue
                sender, to, kind, rest = m.groups()
                udh = b""
                if kind == "udh":
                    udh_enc, _, rest = rest.partition(" ")
                    udh = unquote_to_bytes(udh_enc)
                    rest = rest.removeprefix("data ")
                out.append(Received(sender, to, kind, udh, unquote_to_bytes(rest.replace("+", "%20"))))
        return out

    def wait_received(self, count: int, timeout: float = 15.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.received()
            if len(got) >= count:
                return got
            time.sleep(0.1)
        return self.received()

    def stop(self) -> None:
        for p in reversed(self.procs):
            if p.poll() is None:
                p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
