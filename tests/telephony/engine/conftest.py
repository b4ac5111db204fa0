"""Call-engine test harness: organization A's PBX built through the real services (extensions,
trunks, routes, Apply), the engine running in the test's event loop on free loopback ports, and the
call records it wrote. Real peers (SIPp, baresip) come from ``tests/telephony/peers.py``."""

from __future__ import annotations

import asyncio
import shutil

import pytest
from sqlalchemy import select

from ketnoi.settings import get_settings
from ketnoi.telephony.engine.engine import TelephonyEngine
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx import service
from ketnoi.telephony.pbx.models import CallRecord
from tests.telephony.audio import tone_ulaw, tone_wav
from tests.telephony.pbx.conftest import Pbx
from tests.telephony.peers import LOOPBACK, free_port, free_ports, stop_all

needs_peers = pytest.mark.skipif(not (shutil.which("sipp") and shutil.which("baresip")),
                                 reason="SIPp and baresip are installed by `make system-test-deps`")
SECRETS = {n: f"demo{n}" for n in ("1001", "1002", "1003")}


class EngineHarness:
    """One organization's PBX plus a running engine. ``address`` is where phones register."""

    def __init__(self, database, org_id: str, tmp_path) -> None:
        self.database = database
        self.org = org_id
        self.pbx = Pbx(database, org_id)
        self.tmp = tmp_path
        self.sip_port = free_port()
        rtp = free_ports(60, udp=True)
        self.rtp = (rtp[0], rtp[-1])
        self.settings = get_settings().model_copy(update={
            "data_dir": tmp_path / "data", "sip_bind_address": LOOPBACK, "sip_keepalive_seconds": 0,
            "sip_ring_timeout_seconds": 20, "sip_trunk_ping_seconds": 0})
        self.engine: TelephonyEngine | None = None
        with database.session() as s:
            service.update_settings(s, self.pbx.p, org_id, S.SettingsPatch(
                sip_udp_port=self.sip_port, sip_tcp_port=self.sip_port, rtp_port_min=self.rtp[0],
                rtp_port_max=self.rtp[1]))

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.sip_port}"

    def settings_patch(self, **changes) -> None:
        with self.database.session() as s:
            service.update_settings(s, self.pbx.p, self.org, S.SettingsPatch(**changes))

    def extensions(self, *numbers: str, **kw) -> dict[str, str]:
        return {n: self.pbx.ext(n, SECRETS.get(n, f"demo{n}"), **kw) for n in numbers}

    async def start(self) -> TelephonyEngine:
        self.pbx.apply()
        self.engine = TelephonyEngine(self.settings, self.database)
        await self.engine.start()
        assert self.org in self.engine.tenants, "the PBX did not start"
        return self.engine

    async def apply(self) -> None:
        """Apply staged changes; the engine swaps them in through the event bus."""
        revision = self.pbx.apply().applied_revision
        for _ in range(100):
            tenant = self.engine.tenants.get(self.org)
            if tenant is not None and tenant.cfg.revision == revision:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("the engine did not take the applied configuration")

    @property
    def tenant(self):
        return self.engine.tenants[self.org]

    async def calls(self, count: int = 1, timeout: float = 10.0) -> list[CallRecord]:
        """The finished call records (waits until ``count`` of them are written)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            await asyncio.to_thread(self.engine.records.flush)
            with self.database.session() as s:
                rows = list(s.scalars(select(CallRecord).where(CallRecord.organization_id == self.org,
                                                               CallRecord.ended_at.is_not(None))
                                      .order_by(CallRecord.started_at)))
                for r in rows:
                    _ = r.legs  # loaded before the session closes
                s.expunge_all()
            if len(rows) >= count or loop.time() > deadline:
                return rows
            await asyncio.sleep(0.1)

    async def wait_registered(self, number: str, contacts: int = 1, timeout: float = 10.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while len(self.tenant.registrar.contacts(number)) < contacts:
            if loop.time() > deadline:
                raise AssertionError(f"extension {number} did not register")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        if self.engine is not None:
            await self.engine.stop()


@pytest.fixture
async def harness(world, database, tmp_path):
    h = EngineHarness(database, world.org_a, tmp_path)
    yield h
    await h.stop()
    await stop_all()  # SIPp and baresip processes and their working directories


@pytest.fixture(scope="session")
def audio_dir(tmp_path_factory):
    """Test audio: 700 Hz and 1100 Hz tones as WAV (baresip microphones) and µ-law (SIPp rtp_stream)."""
    d = tmp_path_factory.mktemp("audio")
    for f in (700, 1100):
        tone_wav(d / f"tone{f}.wav", f, 30)
        tone_ulaw(d / f"tone{f}.ul", f, 20)
    return d
