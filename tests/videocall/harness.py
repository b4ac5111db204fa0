"""Test harness of the video-call module: a real Janus on free loopback ports for one test module,
wired into the settings the app reads; and a switchboard configuration built through the services."""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ketnoi.settings import get_settings
from ketnoi.videocall.janus import JanusConfig, JanusProcess, default_ice_ip, free_port
from ketnoi.videocall.runtime import janus_secrets, recordings_root
from tests.factory import SYSTEM

JANUS_MISSING = shutil.which("janus") is None


@dataclass
class JanusServer:
    config: JanusConfig
    process: JanusProcess
    instance: dict[str, str]


def start_janus(name: str = "janus-test") -> JanusServer:
    """Janus with the secrets the app derives, an RTP range above the usual one, its own directory."""
    settings = get_settings()
    if not default_ice_ip():
        pytest.skip("Janus gathers no loopback ICE candidates and this host has no other IPv4 address")
    api, admin, room = janus_secrets(settings)
    base = 40000 + (free_port() % 200) * 100
    cfg = JanusConfig(name=name, ws_port=free_port(), admin_port=free_port(), api_secret=api, admin_secret=admin,
                      room_key=room, rtp_ports=(base, base + 99), ice_ip=default_ice_ip(),
                      rec_root=str(recordings_root(settings)))
    directory = Path(tempfile.mkdtemp(prefix="ketnoi-janus-"))
    proc = JanusProcess(cfg, directory).start()
    return JanusServer(cfg, proc, {"name": name, "url": cfg.url, "admin_url": cfg.admin_url, "public_url": ""})


def stop_janus(server: JanusServer) -> None:
    server.process.stop()
    shutil.rmtree(server.process.directory, ignore_errors=True)


def use_janus(monkeypatch, *servers: JanusServer) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings, "videocall_janus_instances", [s.instance for s in servers])
    monkeypatch.setattr(settings, "videocall_janus_autostart", False)


@dataclass
class Switchboard:
    """Partner ORG-A app, hotline 1022 → queue with groups HN (unit HN) then KHAC (anyone)."""

    partner_id: str
    key_id: str
    secret: str
    hotline: str
    queue_id: str
    groups: dict[str, str] = field(default_factory=dict)
    agents: dict[str, str] = field(default_factory=dict)  # username -> agent id
    files: dict[str, str] = field(default_factory=dict)  # waiting / greeting_start / greeting_end -> file id


def tone_wav(freq: int, seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A short sine tone as a WAV file (waiting music and greetings of the tests)."""
    import io
    import math
    import struct
    import wave

    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * i / rate)))
                               for i in range(int(rate * seconds))))
    return buf.getvalue()


def switchboard(world, *, agents: dict[str, list[str]], strategies: dict[str, str] | None = None,
                max_wait: int = 120, overflow: int = 45, fallback: dict[str, str] | None = None) -> Switchboard:
    """``agents``: username → group codes; groups HN (unit HN) and KHAC (no condition) exist."""
    from ketnoi.videocall import config
    from ketnoi.videocall import schemas as S

    strategies = strategies or {}
    users = {name: world.user(name, roles=["videocall.answer"]) for name in agents}
    with world.db.session() as s:
        partner, secret = config.create_partner(s, SYSTEM, S.PartnerIn(code="MSALE", name="mSale Pro",
                                                                        organization_id=world.org_a))
        groups = {}
        for code, cond in (("HN", {"unit": ["HN"]}), ("KHAC", {})):
            groups[code] = config.save_group(s, SYSTEM, S.GroupIn(
                code=code, name=f"Nhóm {code}", conditions=cond, strategy=strategies.get(code, "ring_all"),
                overflow_seconds=overflow, agent_ring_seconds=10), organization_id=world.org_a).id
        for code, target in (fallback or {}).items():
            g = config.save_group(s, SYSTEM, S.GroupIn(code=code, name=f"Nhóm {code}", conditions=(
                {"unit": ["HN"]} if code == "HN" else {}), strategy=strategies.get(code, "ring_all"),
                overflow_seconds=overflow, agent_ring_seconds=10, fallback_group_id=groups[target]),
                group_id=groups[code])
            groups[code] = g.id
        files = {kind: config.add_media_file(s, SYSTEM, f"{kind}.wav", "audio/wav", tone_wav(freq),
                                             organization_id=world.org_a).id
                 for kind, freq in (("waiting", 440), ("greeting_start", 660), ("greeting_end", 880))}
        queue = config.save_queue(s, SYSTEM, S.QueueIn(code="Q1022", name="Hàng đợi 1022", max_wait_seconds=max_wait,
                                                       group_ids=[groups["HN"], groups["KHAC"]],
                                                       waiting_file_id=files["waiting"]),
                                  organization_id=world.org_a)
        config.save_hotline(s, SYSTEM, S.HotlineIn(number="1022", name="Tổng đài 1022", queue_id=queue.id,
                                                   greeting_start_id=files["greeting_start"],
                                                   greeting_end_id=files["greeting_end"]),
                            organization_id=world.org_a)
        made = {}
        for name, codes in agents.items():
            a = config.save_agent(s, SYSTEM, S.AgentIn(user_id=users[name], display_name=f"ĐTV {name}",
                                                       group_ids=[groups[c] for c in codes]))
            made[name] = a.id
        return Switchboard(partner.id, partner.key_id, secret, "1022", queue.id, groups, made, files)
