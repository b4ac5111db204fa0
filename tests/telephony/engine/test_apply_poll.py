"""An engine started on its own (``python -m ketnoi.telephony.engine``) is not on the console's
event bus: it finds a configuration applied in the console by polling the applied revisions
(KETNOI_TELEPHONY_APPLY_POLL_SECONDS), and swaps it in like the in-process engine does."""

from __future__ import annotations

import asyncio

from ketnoi.events import bus
from ketnoi.telephony.engine.engine import TelephonyEngine


async def test_a_separate_engine_takes_an_apply_by_polling(harness, database):
    harness.extensions("1001")
    harness.pbx.apply()
    engine = TelephonyEngine(harness.settings, database)
    harness.engine = engine  # stopped by the fixture
    await engine.start(poll_seconds=0.05)
    bus.unsubscribe(engine._on_bus)  # as in another process: the console's events never arrive
    engine._subscribed = False
    first = engine.tenants[harness.org].cfg.revision
    assert engine.revisions == {harness.org: first}

    harness.extensions("1002")
    revision = harness.pbx.apply().applied_revision
    assert revision > first
    for _ in range(200):
        if engine.tenants[harness.org].cfg.revision == revision:
            break
        await asyncio.sleep(0.02)
    tenant = engine.tenants[harness.org]
    assert tenant.cfg.revision == revision and {e.number for e in tenant.cfg.extensions} == {"1001", "1002"}
    assert engine.revisions[harness.org] == revision
    assert await engine.poll_applied() == []  # nothing new: nothing reloaded


async def test_poll_reloads_only_what_changed(harness, database):
    harness.extensions("1001")
    await harness.start()
    assert await harness.engine.poll_applied() == []
    harness.engine.revisions[harness.org] = -1  # as if this engine ran an older revision
    assert await harness.engine.poll_applied() == [harness.org]
    assert harness.engine.revisions[harness.org] == harness.tenant.cfg.revision
