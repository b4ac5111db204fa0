"""`python -m ketnoi.telephony.engine`: the call engine alone, without the web console (a dedicated
PBX process, or the benchmark's engine pinned to one core). Settings and database as for
`ketnoi serve`; runs until SIGINT/SIGTERM, then hangs up the calls and unregisters the trunks.
A configuration applied in the console reaches it within KETNOI_TELEPHONY_APPLY_POLL_SECONDS."""

from __future__ import annotations

import asyncio
import logging
import signal

from ketnoi.db.session import init_database
from ketnoi.settings import get_settings
from ketnoi.telephony.engine.engine import TelephonyEngine


async def run() -> None:
    settings = get_settings()
    logging.basicConfig(level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    database = init_database(settings)
    engine = TelephonyEngine(settings, database)
    await engine.start(poll_seconds=settings.telephony_apply_poll_seconds)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = ", ".join(f"{org}: {t.endpoint.address('udp')}" for org, t in engine.tenants.items())
    print(f"ketnoi call engine ready ({serving or 'no applied PBX configuration'})", flush=True)
    await stop.wait()
    await engine.stop()


def main() -> None:
    asyncio.run(run())


if __name__ == "__main__":
    main()
