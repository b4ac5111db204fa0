"""PBX test fixtures: an actor of organization A, a small helper that builds PBX objects through the
real services, and real audio (a WAV written here, an MP3 encoded by ffmpeg)."""

from __future__ import annotations

import io
import math
import shutil
import struct
import subprocess
import wave

import pytest

from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import extensions, routes, service, sounds
from ketnoi.telephony.pbx import schemas as S

TELEPHONY_ROLES = ["telephony.calls.read", "telephony.recordings", "telephony.extensions.write",
                   "telephony.trunks.write", "telephony.inbound.write", "telephony.outbound.write",
                   "telephony.pinsets.write", "telephony.sounds.write", "telephony.settings.write", "telephony.apply"]


def wav_bytes(seconds: float = 1.0, rate: int = 16000, channels: int = 2, freq: float = 440.0) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        frames = bytearray()
        for n in range(int(seconds * rate)):
            v = int(12000 * math.sin(2 * math.pi * freq * n / rate))
            frames += struct.pack("<h", v) * channels
        w.writeframes(bytes(frames))
    return buf.getvalue()


def mp3_bytes(tmp_path, seconds: float = 1.5) -> bytes:
    out = tmp_path / "tone.mp3"
    subprocess.run([shutil.which("ffmpeg") or "ffmpeg", "-nostdin", "-loglevel", "error", "-f", "lavfi", "-i",
                    f"sine=frequency=1000:duration={seconds}:sample_rate=44100", "-ac", "2", "-c:a", "libmp3lame",
                    "-b:a", "64k", "-y", str(out)], check=True, timeout=60)
    return out.read_bytes()


def actor_of(org_id: str, name: str = "kiemthu") -> Principal:
    return Principal(user_id="", username=name, full_name="Người kiểm thử", organization_id=org_id,
                     department_id=None, is_sysadmin=False)


class Pbx:
    """Builds one organization's PBX objects through the services, one transaction each."""

    def __init__(self, database, org_id: str):
        self.db, self.org = database, org_id
        self.p = actor_of(org_id)

    def _run(self, fn, *args, **kw):
        with self.db.session() as s:
            obj = fn(s, self.p, *args, **kw)
            return getattr(obj, "id", obj)

    def ext(self, number: str, secret: str | None = None, **kw) -> str:
        return self._run(extensions.create_extension, S.ExtensionIn(number=number, secret=secret or f"bimat{number}",
                                                                    **kw))

    def trunk(self, name: str, **kw) -> str:
        kw.setdefault("host", "sip.nhamang.vn")
        kw.setdefault("username", "tk-ketnoi")
        kw.setdefault("password", "mat-khau-trunk")
        return self._run(extensions.create_trunk, S.TrunkIn(name=name, **kw))

    def peer(self, name: str, networks: list[str], **kw) -> str:
        return self._run(extensions.create_trunk, S.TrunkIn(name=name, kind="peer", allowed_networks=networks, **kw))

    def sound(self, name: str, seconds: float = 0.5) -> str:
        with self.db.session() as s:
            return sounds.upload(s, self.p, wav_bytes(seconds), f"{name}.wav", name=name).id

    def inbound(self, name: str, did: str = "", kind: str = "extension", ref: str = "", **kw) -> str:
        return self._run(routes.create_inbound, S.InboundRouteIn(name=name, did_pattern=did,
                                                                 destination=S.DestinationIn(kind=kind, ref=ref), **kw))

    def outbound(self, name: str, patterns: list[dict], trunk_ids: list[str], **kw) -> str:
        return self._run(routes.create_outbound, S.OutboundRouteIn(name=name, patterns=patterns, trunk_ids=trunk_ids,
                                                                   **kw))

    def pin_set(self, name: str, pins: list[str]) -> str:
        return self._run(routes.create_pin_set, S.PinSetIn(name=name, pins=pins))

    def check(self) -> list[dict]:
        with self.db.session() as s:
            return service.check(s, self.org)

    def apply(self):
        with self.db.session() as s:
            return service.apply(s, self.p, self.org)

    def applied(self):
        with self.db.session() as s:
            return service.load_applied_config(s, self.org)

    def status(self):
        with self.db.session() as s:
            return service.status(s, self.org)


@pytest.fixture
def pbx(world, database) -> Pbx:
    return Pbx(database, world.org_a)


@pytest.fixture
def pbx_b(world, database) -> Pbx:
    return Pbx(database, world.org_b)


@pytest.fixture
def admin(world) -> str:
    """An org-A user holding every telephony role."""
    return world.user("tongdai", roles=TELEPHONY_ROLES)
