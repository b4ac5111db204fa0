"""Peer fixtures of the SMS provider tests: the test SMSC (SMPP 3.4, tests/sms/peers/smsc.py), real
Kannel with fakesmsc (tests/sms/peers/kannel.py), and a recording ``ProviderSink``."""

from __future__ import annotations

import asyncio

import pytest

from tests.sms.peers import kannel as kannel_peer
from tests.sms.peers.smsc import Smsc


class RecordingSink:
    """``ProviderSink`` that records; ``gate`` (when set) holds every call until opened, ``fail``
    makes calls raise (as a database outage would)."""

    def __init__(self):
        self.incoming_sms: list = []
        self.receipts: list = []
        self.gate: asyncio.Event | None = None
        self.fail = False
        self.calls = 0

    async def _enter(self):
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail:
            raise RuntimeError("database unavailable")

    async def incoming(self, sms) -> None:
        await self._enter()
        self.incoming_sms.append(sms)

    async def receipt(self, receipt) -> None:
        await self._enter()
        self.receipts.append(receipt)


@pytest.fixture
def sink() -> RecordingSink:
    return RecordingSink()


@pytest.fixture
async def smsc():
    peer = await Smsc().start()
    yield peer
    await peer.stop()


@pytest.fixture
def kannel(tmp_path):
    """A Kannel peer with its ports chosen; set ``mo_get_url`` then call ``start()``."""
    if not kannel_peer.available():
        pytest.skip("Kannel (bearerbox, smsbox, fakesmsc) is not installed")
    peer = kannel_peer.KannelPeer(tmp_path, mo_get_url="http://127.0.0.1:9/unused")
    yield peer
    peer.stop()
