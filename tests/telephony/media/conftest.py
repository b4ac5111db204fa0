"""Fixtures for media tests: a port allocator on a free range, endpoints closed after each test."""

from __future__ import annotations

import asyncio
import time

import pytest

from ketnoi.telephony.media.session import PortAllocator, RtpEndpoint
from ketnoi.telephony.sdp import PCMU, Codec, Direction, MediaParams
from tests.telephony.media.helpers import UdpPhone, free_port_block


def params_for(addr: tuple, codec: Codec = PCMU, *, te: int | None = 101, rx_te: int | None = None,
               direction: Direction = Direction.SENDRECV, ptime: int = 20) -> MediaParams:
    """What an SDP negotiation with a phone at ``addr`` would yield."""
    return MediaParams(remote_host=addr[0], remote_port=addr[1], remote_rtcp_port=addr[1] + 1, codec=codec,
                       telephone_event_pt=te, direction=direction, ptime=ptime,
                       receive_payload_types={codec.payload_type: codec},
                       receive_telephone_event_pt=rx_te if rx_te is not None else te)


async def wait_for(predicate, timeout: float = 5.0, step: float = 0.01) -> bool:
    """Poll until ``predicate()`` holds (bounded); the caller asserts the result."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        await asyncio.sleep(step)
    return predicate()


@pytest.fixture
def ports():
    base = free_port_block(40)
    return PortAllocator(base, base + 39)


@pytest.fixture
async def open_endpoint(ports):
    opened: list[RtpEndpoint] = []

    async def make(**kwargs) -> RtpEndpoint:
        ep = await RtpEndpoint.open(ports, **kwargs)
        opened.append(ep)
        return ep

    yield make
    for ep in opened:
        ep.close()


@pytest.fixture
def phones():
    made: list[UdpPhone] = []

    def make() -> UdpPhone:
        p = UdpPhone()
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()
