"""The media layer against real peers on loopback: SIPp (rtp_stream, rtp_echo) and baresip.

SIPp and baresip carry the SIP signalling between themselves; the SDP they exchange names our
``RtpEndpoint`` ports (SIPp's ``-key rtpport``), so the media flows through the code under test.
Audio is checked by signal in what the peers and the recorder received, not by packet counts.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import wave
from pathlib import Path

import pytest

from ketnoi.telephony.media import Bridge, Recorder, g711, tone
from ketnoi.telephony.media.rtp import RtpPacket, build_packet
from ketnoi.telephony.sdp import PCMA, PCMU
from tests.telephony.media.conftest import params_for, wait_for
from tests.telephony.media.helpers import (
    band_energy,
    free_port_block,
    free_udp_port,
    peak_frequency,
    read_wav,
    rms,
    write_wav,
)

SCENARIOS = Path(__file__).parent / "sipp"
needs_sipp = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp (sip-tester) not installed")
needs_baresip = pytest.mark.skipif(shutil.which("baresip") is None or not Path("/usr/lib/baresip/modules").exists(),
                                   reason="baresip not installed")


@contextlib.asynccontextmanager
async def process(*args: str, cwd: Path, timeout: float = 20.0):
    """A peer process with stdin closed; killed on exit if still running; yields it."""
    proc = await asyncio.create_subprocess_exec(*args, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(proc.wait(), timeout)


async def finish(proc, timeout: float = 20.0) -> tuple[int, str]:
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode("utf-8", "replace")[-2000:]


def sipp_uas(cwd: Path, sip_port: int, rtp_port: int) -> list[str]:
    return ["sipp", "-sf", str(SCENARIOS / "uas_answer_with_test_media.xml"), "-i", "127.0.0.1",
            "-p", str(sip_port), "-m", "1", "-key", "rtpport", str(rtp_port), "-cp", str(free_udp_port()),
            "-nostdin"]


def sipp_uac_stream(cwd: Path, uas_port: int, media_port: int, stream: str) -> list[str]:
    return ["sipp", f"127.0.0.1:{uas_port}", "-sf", str(SCENARIOS / "uac_stream_file.xml"), "-i", "127.0.0.1",
            "-p", str(free_udp_port()), "-m", "1", "-mi", "127.0.0.1", "-mp", str(media_port),
            "-key", "stream", stream, "-cp", str(free_udp_port()), "-nostdin"]


@needs_sipp
async def test_sipp_rtp_stream_into_an_endpoint(open_endpoint, tmp_path):
    """SIPp streams a 1 kHz µ-law file; the endpoint latches to it, counts it and hears the tone."""
    (tmp_path / "tone.ul").write_bytes(g711.pcm16_to_ulaw(tone.sine(1000, 1.0)))
    ep = await open_endpoint()
    media = free_port_block(4)
    ep.configure(params_for(("127.0.0.1", media), PCMU))
    got: list[bytes] = []
    ep.handler = lambda data, *rest: got.append(data)
    uas_port = free_udp_port()
    async with process(*sipp_uas(tmp_path, uas_port, ep.port), cwd=tmp_path) as uas:
        await asyncio.sleep(0.3)
        async with process(*sipp_uac_stream(tmp_path, uas_port, media, "tone.ul,1,0"), cwd=tmp_path) as uac:
            rc, log = await finish(uac)
            assert rc == 0, log
        assert (await finish(uas))[0] == 0
    packets = [RtpPacket.parse(d) for d in got]
    assert len(packets) == 50 and ep.latched and ep.remote == ("127.0.0.1", media)
    stats = ep.stats()
    assert stats.packets_lost == 0 and stats.packets_received == 49 and stats.jitter_ms >= 0
    pcm = g711.ulaw_to_pcm16(b"".join(p.payload for p in packets))
    assert abs(peak_frequency(pcm) - 1000) < 10 and band_energy(pcm, 1000) > 0.9


@needs_sipp
async def test_bridge_round_trip_through_sipp_rtp_echo(open_endpoint, phones, tmp_path):
    """phone (A-law) → leg a → bridge → leg b (µ-law) → SIPp echoes → leg b → bridge → leg a → phone."""
    echo_port = free_port_block(4)
    a, b = await open_endpoint(), await open_endpoint()
    phone = phones()
    a.configure(params_for(phone.addr, PCMA))
    b.configure(params_for(("127.0.0.1", echo_port), PCMU))
    rec = Recorder(tmp_path / "echo.wav")
    bridge = Bridge(a, b, recorder=rec)
    bridge.start()
    args = ["sipp", "-sn", "uas", "-i", "127.0.0.1", "-p", str(free_udp_port()), "-m", "1", "-mi", "127.0.0.1",
            "-mp", str(echo_port), "-rtp_echo", "-cp", str(free_udp_port()), "-nostdin"]
    async with process(*args, cwd=tmp_path):
        await asyncio.sleep(0.5)  # SIPp opens its echo socket at start-up
        alaw = g711.pcm16_to_alaw(tone.sine(1000, 1.0))
        heard: list[bytes] = []
        for i in range(50):
            phone.send(build_packet(8, i, i * 160, 0xABC, alaw[i * 160:(i + 1) * 160], i == 0), a.local_addr)
            heard += [d for d, _ in phone.drain()]
            await asyncio.sleep(0.02)
        await wait_for(lambda: heard.extend(d for d, _ in phone.drain()) or len(heard) >= 50, timeout=3)
    bridge.stop()
    packets = [RtpPacket.parse(d) for d in heard]
    assert len(packets) >= 45 and {p.payload_type for p in packets} == {8} and {p.ssrc for p in packets} == {a.ssrc}
    assert b.latched and b.remote == ("127.0.0.1", echo_port)
    back = g711.alaw_to_pcm16(b"".join(p.payload for p in packets))
    assert abs(peak_frequency(back) - 1000) < 10
    _, _, x = read_wav(rec.close())
    assert band_energy(x[:, 0], 1000) > 0.8 and band_energy(x[:, 1], 1000) > 0.8


def baresip_config(root: Path, sip_port: int, rtp_base: int, source: Path) -> Path:
    cfg = root / "baresip"
    (root / "heard").mkdir()
    cfg.mkdir()
    (cfg / "config").write_text(
        "poll_method epoll\n"
        f"sip_listen 127.0.0.1:{sip_port}\n"
        "audio_player alsa,null\naudio_alert alsa,null\n"
        f"audio_source aufile,{source}\n"
        f"rtp_ports {rtp_base}-{rtp_base + 19}\n"
        "module_path /usr/lib/baresip/modules\n"
        "module g711.so\nmodule aufile.so\nmodule alsa.so\nmodule sndfile.so\n"
        f"snd_path {root / 'heard'}\n"
        "module_tmp account.so\nmodule_app menu.so\n")
    (cfg / "accounts").write_text("<sip:bob@127.0.0.1>;regint=0;answermode=auto;audio_codecs=PCMA\n")
    return cfg


@needs_sipp
@needs_baresip
async def test_baresip_and_sipp_bridged_with_transcoding_and_recorded(open_endpoint, tmp_path):
    """baresip (PCMA, speaks 700 Hz) ⇄ leg a ⇄ Bridge ⇄ leg b ⇄ SIPp (PCMU, streams 1 kHz).

    baresip's own recording of what it heard holds the 1 kHz tone (µ-law → A-law by the bridge);
    the call recording holds baresip's 700 Hz on the left and SIPp's 1 kHz on the right.
    """
    source = write_wav(tmp_path / "speech.wav", tone.sine(700, 8.0))  # longer than the call: baresip
    (tmp_path / "tone.ul").write_bytes(g711.pcm16_to_ulaw(tone.sine(1000, 2.0)))  # hangs up at EOF
    a, b = await open_endpoint(), await open_endpoint()
    sipp_media = free_port_block(4)
    # leg a: baresip's RTP address is in its 200 OK, which SIPp keeps; symmetric RTP finds it
    a.configure(params_for(("127.0.0.1", 9), PCMA))
    b.configure(params_for(("127.0.0.1", sipp_media), PCMU))
    rec = Recorder(tmp_path / "call.wav")
    bridge = Bridge(a, b, recorder=rec)
    bridge.start()
    bs_port, uas_port = free_udp_port(), free_udp_port()
    cfg = baresip_config(tmp_path, bs_port, free_port_block(20), source)
    async with process("baresip", "-f", str(cfg), "-t", "12", cwd=tmp_path) as bs:
        assert await wait_for(lambda: _udp_port_busy(bs_port), timeout=10), "baresip did not start"
        to_baresip = ["sipp", f"127.0.0.1:{bs_port}", "-sf", str(SCENARIOS / "uac_offer_test_media.xml"),
                      "-i", "127.0.0.1", "-p", str(free_udp_port()), "-m", "1", "-key", "rtpport", str(a.port),
                      "-cp", str(free_udp_port()), "-nostdin"]
        async with process(*to_baresip, cwd=tmp_path) as call_bs, \
                process(*sipp_uas(tmp_path, uas_port, b.port), cwd=tmp_path) as uas:
            assert await wait_for(lambda: a.latched, timeout=10), "baresip sent no RTP"
            async with process(*sipp_uac_stream(tmp_path, uas_port, sipp_media, "tone.ul,1,0"),
                               cwd=tmp_path) as uac:
                rc, log = await finish(uac)
                assert rc == 0, log
            rc, log = await finish(call_bs)
            assert rc == 0, log
            await finish(uas)
        # baresip closes its recording when the call ends (the BYE): wait until the file is complete
        assert await wait_for(lambda: _complete_wavs(tmp_path / "heard", "*-dec.wav"), timeout=10)
        bs.terminate()
    bridge.stop()
    assert bridge.stats["relayed_ab"] > 50 and bridge.stats["relayed_ba"] > 50
    assert bridge.stats["transcoded"] == bridge.stats["relayed_ab"] + bridge.stats["relayed_ba"]
    heard = sorted(_complete_wavs(tmp_path / "heard", "*-dec.wav"))
    assert heard, "baresip recorded nothing"
    rate, _, x = read_wav(heard[-1])
    loud = x[:, 0][abs(x[:, 0]) > 200]
    assert rate == 8000 and len(loud) > 4000
    assert abs(peak_frequency(x[:, 0]) - 1000) < 15
    _, channels, y = read_wav(rec.close())
    assert channels == 2
    left, right = y[:, 0], y[:, 1]
    assert abs(peak_frequency(left) - 700) < 10 and band_energy(left, 700) > 0.8
    assert abs(peak_frequency(right) - 1000) < 10 and band_energy(right, 1000) > 0.8
    assert rms(left) > 1000 and rms(right) > 1000


def _complete_wavs(folder: Path, pattern: str) -> list[Path]:
    done = []
    for path in folder.glob(pattern):
        try:
            with wave.open(str(path), "rb") as w:
                if w.getnframes() > 0:
                    done.append(path)
        except (wave.Error, EOFError):
            pass
    return done


def _udp_port_busy(port: int) -> bool:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.bind(("127.0.0.1", port))
        return False
    except OSError:
        return True
    finally:
        s.close()
