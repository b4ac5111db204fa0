"""``SERVICE_MODULES`` entry: `ketnoi serve` runs the call engine in the same process (off with
``--no-telephony`` / KETNOI_TELEPHONY=false). The running engine is ``app.state.telephony``."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


async def start(app):
    settings = app.state.settings
    app.state.telephony = None
    if not getattr(settings, "telephony", True):
        return None
    from ketnoi.telephony.engine.engine import TelephonyEngine

    engine = TelephonyEngine(settings, app.state.database)
    try:
        await engine.start()
    except Exception:  # the console and API stay up even when the PBX cannot start
        log.exception("the call engine could not start")
        await engine.stop()
        return None
    app.state.telephony = engine

    async def stop() -> None:
        await engine.stop()

    return stop
