"""Benchmark of the SMS channel's SMPP path (docs/BENCHMARKS.md):

* outgoing: sustained submit_sm rate through one bind with the window open, to the test SMSC
  (tests/sms/peers/smsc.py) running in its own process on loopback; single-part GSM-7 messages,
  three-part Vietnamese (UCS-2) messages, and with delivery receipts flowing back;
* incoming: the SMSC floods deliver_sm (UCS-2 MO) with its own window; each message goes through
  the core's sink (``worker.DbSink`` → ``service.store_incoming``: one committed transaction per
  message) before its deliver_sm_resp, and the ``sms.received`` events published to the hub are
  counted.

    .venv/bin/python bench/sms.py                     # defaults, SQLite
    .venv/bin/python bench/sms.py --db postgresql --n 5000 --window 50
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if "KETNOI_DATA_DIR" not in os.environ:
    os.environ["KETNOI_DATA_DIR"] = tempfile.mkdtemp(prefix="ketnoi-bench-data-")
    atexit.register(shutil.rmtree, os.environ["KETNOI_DATA_DIR"], True)

from ketnoi.sms.providers.base import OutgoingSms, ProviderConfig
from ketnoi.sms.providers.registry import build_provider

VI = ("Kính gửi ông/bà: phản ánh về việc ngập úng tại phường Cầu Giấy đã được tiếp nhận và chuyển đến Ủy ban "
      "nhân dân quận xử lý trong 05 ngày làm việc. Mã phản ánh: PA-2026-000123.")


class Peer:
    def __init__(self, *args: str):
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.sms.peers.smsc", *args], cwd=ROOT,
                                     stdout=subprocess.PIPE, text=True)
        self.port = int(self.proc.stdout.readline())

    def line(self) -> str:
        return self.proc.stdout.readline().strip()

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


class ReceiptCounter:
    def __init__(self):
        self.n = 0

    async def incoming(self, sms):
        pass

    async def receipt(self, r):
        self.n += 1


def smpp(port: int, window: int, **over):
    cfg = {"host": "127.0.0.1", "port": port, "system_id": "ketnoi", "password": "secret", "window": window,
           "rate": 10000, "response_timeout": 30, **over}
    return build_provider(ProviderConfig(id="b", name="bench-smpp", kind="smpp", config=cfg))


async def bound(p) -> None:
    for _ in range(500):
        if p.status()["state"] == "bound":
            return
        await asyncio.sleep(0.01)
    raise RuntimeError(f"no bind: {p.status()}")


async def outgoing(n: int, window: int, text: str, receipts: bool) -> tuple[float, int]:
    peer = Peer() if receipts else Peer("--no-receipts")
    sink = ReceiptCounter()
    p = smpp(peer.port, window, registered_delivery=receipts)
    await p.start(sink)
    try:
        await bound(p)
        sem = asyncio.Semaphore(window * 2)

        async def one(i: int) -> None:
            async with sem:
                await p.send(OutgoingSms(f"b-{i}", f"+8490{i % 10000000:07d}", text, "UBND-HN"))

        t0 = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(n)))
        took = time.perf_counter() - t0
        parts = p.status()["parts"]
        if receipts:
            deadline = time.monotonic() + 60
            while sink.n < parts and time.monotonic() < deadline:
                await asyncio.sleep(0.01)
        return took, parts
    finally:
        await p.stop()
        peer.stop()


async def incoming(n: int, window: int, db_kind: str) -> tuple[float, int, int]:
    from sqlalchemy import func, select

    from ketnoi.bootstrap import prepare
    from ketnoi.db.session import Database
    from ketnoi.events import bus
    from ketnoi.identity import schemas as IS
    from ketnoi.identity.principal import Principal
    from ketnoi.identity.service import create_organization
    from ketnoi.settings import get_settings
    from ketnoi.sms import config as sms_config
    from ketnoi.sms import schemas as S
    from ketnoi.sms.models import SmsMessage
    from ketnoi.sms.worker import DbSink

    cluster = None
    if db_kind == "postgresql":
        from tests.pg import PgCluster

        cluster = PgCluster().start()
        url = cluster.url()
    else:
        url = f"sqlite:///{os.environ['KETNOI_DATA_DIR']}/bench-sms.sqlite3"
    db = Database(url)
    prepare(get_settings(), db)
    system = Principal(user_id="", username="bench", full_name="Bench", organization_id=None, department_id=None,
                       is_sysadmin=True)
    with db.session() as s:
        org = create_organization(s, system, IS.OrganizationIn(code="BENCH", name="Tỉnh Bench")).id
        sms_config.create_provider(s, system, S.ProviderIn(name="bench-smpp", kind="http", organization_id=org,
                                                           config={"url": "http://127.0.0.1:9/x"}))
    events = []
    bus.subscribe(lambda e: events.append(e.type) if e.type == "sms.received" else None)
    peer = Peer("--no-receipts", "--mo", str(n), "--mo-window", str(window))
    p = smpp(peer.port, 10)
    await p.start(DbSink(db))
    try:
        line = await asyncio.to_thread(peer.line)
        took = float(line.split()[2])
        with db.session() as s:
            stored = s.scalar(select(func.count()).select_from(SmsMessage).where(SmsMessage.direction == "in"))
        return took, stored, len(events)
    finally:
        await p.stop()
        peer.stop()
        db.dispose()
        if cluster:
            cluster.stop()


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=5000, help="messages per outgoing run")
    ap.add_argument("--window", type=int, default=50)
    ap.add_argument("--mo", type=int, default=2000, help="incoming messages")
    ap.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    args = ap.parse_args()
    print(f"# bench/sms.py — {platform.node()} {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
    for label, text, receipts in (("GSM-7, 1 part", "Ma PA-2026-000123: da tiep nhan", False),
                                  ("Vietnamese UCS-2, 3 parts", VI, False),
                                  ("GSM-7, 1 part, with delivery receipts", "Ma PA-2026-000123: da tiep nhan", True)):
        took, parts = await outgoing(args.n, args.window, text, receipts)
        print(f"outgoing  {label:40s} window {args.window:3d}: {args.n} messages, {parts} submit_sm in "
              f"{took:.2f} s = {args.n / took:,.0f} messages/s, {parts / took:,.0f} submit_sm/s")
    took, stored, events = await incoming(args.mo, 10, args.db)
    print(f"incoming  UCS-2 MO stored on {args.db:10s} window  10: {stored} stored, {events} hub events in "
          f"{took:.2f} s = {stored / took:,.0f} messages/s")


if __name__ == "__main__":
    asyncio.run(main())
