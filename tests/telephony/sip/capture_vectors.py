"""Regenerate the captured test vectors: real SIPp and baresip talk to the test UAS and every
datagram they send is saved byte for byte under vectors/captured/ (run by hand, not by pytest):

    .venv/bin/python -m tests.telephony.sip.capture_vectors
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import tempfile
from pathlib import Path

from tests.telephony.sip.uas import MiniUas

OUT = Path(__file__).parent / "vectors" / "captured"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def record(uas: MiniUas, prefix: str) -> list[bytes]:
    seen: list[bytes] = []
    original = uas.endpoint._on_datagram

    def hook(data, source):
        seen.append(data)
        original(data, source)

    uas.endpoint._on_datagram = hook
    for transport in uas.endpoint.transports.values():
        transport.receiver = hook
    return seen


async def run(*argv: str, cwd: str) -> int:
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(proc.wait(), 60)


def save(prefix: str, packets: list[bytes]) -> None:
    for n, data in enumerate(packets):
        method = data.split(b" ", 1)[0].decode("ascii", "replace").strip("/").replace("/", "_")
        (OUT / f"{prefix}-{n:02d}-{method}.bin").write_bytes(data)


async def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    work = tempfile.mkdtemp(prefix="ketnoi-capture-")
    try:
        # SIPp 3.6 answers only MD5 challenges and takes the first one offered.
        uas = MiniUas(passwords={"1001": "demo1001"}, algorithms=("MD5",))
        port = await uas.start()
        seen = record(uas, "sipp")
        await run("sipp", "-sn", "uac", f"127.0.0.1:{port}", "-i", "127.0.0.1", "-p", str(free_port()),
                  "-m", "1", "-nostdin", "-timeout", "20", cwd=work)
        save("sipp-uac", seen)
        seen.clear()
        await run("sipp", f"127.0.0.1:{port}", "-sf", str(Path(__file__).parent / "scenarios" / "register.xml"),
                  "-i", "127.0.0.1", "-p", str(free_port()), "-m", "1", "-s", "1001", "-au", "1001", "-ap", "demo1001",
                  "-nostdin", "-timeout", "20", cwd=work)
        save("sipp-register", seen)
        seen.clear()
        config = Path(work) / "baresip"
        config.mkdir()
        (config / "config").write_text(
            "poll_method epoll\nsip_listen 127.0.0.1:0\naudio_player null\naudio_source null\n"
            "module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule_tmp account.so\n"
            "module_app menu.so\n")
        (config / "accounts").write_text(
            f"<sip:1001@127.0.0.1:{port}>;auth_pass=demo1001;regint=60;audio_codecs=PCMU\n")
        await run("baresip", "-f", str(config), "-e", f"/dial sip:2000@127.0.0.1:{port}", "-t", "4",
                  cwd=work)
        save("baresip", seen)
        await uas.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main())
