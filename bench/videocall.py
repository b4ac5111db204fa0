"""Benchmark of video calls (docs/BENCHMARKS.md, video section): N concurrent 1:1 recorded calls
through one real Janus, each party a headless Chromium page with a fake camera and microphone
running the SDK (ketnoi-video.js), the app served on loopback. Calls are started with signed
requests, answered through the API, held for a while, hung up, and their recordings built.

Measured while all calls are up: CPU (% of one core) and resident memory of Janus, of all
Chromium processes and of the app process; per page, video frames decoded per second and audio
energy received (both directions of every call). Afterwards: the recording job's time per call and
the length of each produced file (ffprobe).

    .venv/bin/python bench/videocall.py                  # 4 calls (8 pages) for 30 s
    .venv/bin/python bench/videocall.py --calls 8 --seconds 60
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if "KETNOI_DATA_DIR" not in os.environ:
    os.environ["KETNOI_DATA_DIR"] = tempfile.mkdtemp(prefix="ketnoi-bench-data-")
    atexit.register(shutil.rmtree, os.environ["KETNOI_DATA_DIR"], True)
os.environ.setdefault("KETNOI_ARGON2_TIME_COST", "1")
os.environ.setdefault("KETNOI_ARGON2_MEMORY_KIB", "1024")

MAX_CALLS = 16
CHROMIUM = os.environ.get("KETNOI_CHROMIUM", "/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
        "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required",
        "--disable-renderer-backgrounding", "--disable-background-timer-throttling",
        "--disable-backgrounding-occluded-windows"]
JOIN = """async ({creds, callId}) => {
  const m = await import('/static/videocall/ketnoi-video.js');
  const v = document.createElement('video');  // audio energy is measured where it is played out
  v.autoplay = true; v.playsInline = true; document.body.appendChild(v);
  window.call = new m.VideoCall({callId, participant: creds, remoteVideo: v});
  await window.call.connect();
}"""
STATS = """async () => {
  const c = window.call, out = {frames: 0, energy: 0, state: c && c.state};
  if (c && c.subPc) (await c.subPc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') out.frames = s.framesDecoded || 0;
    if (s.type === 'inbound-rtp' && s.kind === 'audio') out.energy = s.totalAudioEnergy || 0;
  });
  return out;
}"""
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


def proc_times(pids: list[int]) -> tuple[float, float]:
    """(CPU seconds, memory MB) summed over processes that still exist; memory is the proportional
    set size (shared pages split between their users), or the resident size where PSS is unknown."""
    cpu = mem = 0.0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(stat[11]) + int(stat[12])) / TICK
            pss = [line for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                   if line.startswith("Pss:")]
            if pss:
                mem += int(pss[0].split()[1]) / 1024
            else:
                mem += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * PAGE / 2**20
        except (OSError, IndexError, ValueError):
            continue
    return cpu, mem


def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    children = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def chromium_pids() -> list[int]:
    """Chromium processes started by this benchmark (not other users' browsers on the machine)."""
    pids = []
    for pid in descendants(os.getpid()):
        try:
            if "chrom" in Path(f"/proc/{pid}/comm").read_text():
                pids.append(pid)
        except OSError:
            continue
    return pids


def serve(app):
    import uvicorn

    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", log_level="warning", lifespan="on"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    return server, thread, f"http://127.0.0.1:{sock.getsockname()[1]}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--calls", type=int, default=4)
    ap.add_argument("--seconds", type=float, default=30)
    a = ap.parse_args()
    n = max(1, min(a.calls, MAX_CALLS))

    import httpx
    from playwright.sync_api import sync_playwright
    from tests.videocall.harness import start_janus, stop_janus, switchboard

    from ketnoi.app import create_app
    from ketnoi.bootstrap import prepare
    from ketnoi.db.session import Database
    from ketnoi.jobs.runner import JobRunner
    from ketnoi.settings import get_settings
    from ketnoi.videocall.signing import signed_headers

    settings = get_settings()
    db = Database(f"sqlite:///{settings.data_dir / 'bench.sqlite3'}")
    prepare(settings, db)
    janus = start_janus("janus-bench")
    settings.videocall_janus_instances = [janus.instance]
    settings.videocall_janus_autostart = False
    from tests.factory import World

    world = World(db)
    agents = {f"dtv{i:02d}": ["KHAC"] for i in range(n)}
    board = switchboard(world, agents=agents, max_wait=600)
    app = create_app(settings, db, background=False)
    server, thread, base = serve(app)
    http = httpx.Client(base_url=base, timeout=30)
    tokens = {}
    for name in agents:
        r = http.post("/api/v1/auth/login", json={"username": name, "password": "Mat-khau-2026!"})
        tokens[name] = {"Authorization": f"Bearer {r.json()['access_token']}"}
        http.post("/api/v1/videocall/agent/status", json={"status": "available"}, headers=tokens[name])

    print(f"videocall bench: {n} calls × 2 pages, {a.seconds:.0f} s held; {platform.node()}, "
          f"{os.cpu_count()} CPU, Python {platform.python_version()}")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
    pages, call_ids = [], []
    t_setup = time.monotonic()
    try:
        for i, name in enumerate(agents):
            body = json.dumps({"hotline": "1022", "caller": {"id": f"NV-{i}", "name": f"Người gọi {i}"}}).encode()
            path = "/api/v1/videocall/calls"
            h = signed_headers(board.key_id, board.secret, "POST", path, "", body)
            started = http.post(path, content=body, headers={**h, "Content-Type": "application/json"}).json()
            call_id = started["call"]["id"]
            call_ids.append(call_id)
            deadline = time.monotonic() + 30
            while not any(r["call_id"] == call_id for r in http.get("/api/v1/videocall/agent/me",
                                                                     headers=tokens[name]).json()["ringing"]):
                assert time.monotonic() < deadline, "agent never rang"
                time.sleep(0.3)
            accepted = http.post(f"/api/v1/videocall/calls/{call_id}/accept", headers=tokens[name]).json()
            for creds in (started["participant"], accepted["participant"]):
                page = browser.new_context(base_url=base).new_page()
                page.goto("/static/videocall/caller.html")
                page.evaluate(JOIN, {"creds": creds, "callId": call_id})
                pages.append(page)
        deadline = time.monotonic() + 60
        while sum(1 for p in pages if p.evaluate(STATS)["frames"] > 0) < len(pages):
            assert time.monotonic() < deadline, "not every page receives video"
            time.sleep(0.5)
        setup = time.monotonic() - t_setup
        janus_pid, app_pid = janus.process.proc.pid, os.getpid()
        chrome = chromium_pids()
        before = {k: proc_times(v) for k, v in (("janus", [janus_pid]), ("chromium", chrome), ("app", [app_pid]))}
        stats0 = [p.evaluate(STATS) for p in pages]
        t0 = time.monotonic()
        time.sleep(a.seconds)
        elapsed = time.monotonic() - t0
        stats1 = [p.evaluate(STATS) for p in pages]
        after = {k: proc_times(v) for k, v in (("janus", [janus_pid]), ("chromium", chrome), ("app", [app_pid]))}
        fps = [(s1["frames"] - s0["frames"]) / elapsed for s0, s1 in zip(stats0, stats1)]
        heard = sum(1 for s0, s1 in zip(stats0, stats1) if s1["energy"] > s0["energy"])
        print(f"setup (start, ring, answer, join, first frames) for all calls: {setup:.1f} s")
        for k in ("janus", "chromium", "app"):
            cpu = (after[k][0] - before[k][0]) / elapsed * 100
            print(f"  {k:9s} CPU {cpu:6.1f} % of one core   memory (PSS) {after[k][1]:7.1f} MB")
        print(f"  video received per page: mean {sum(fps) / len(fps):.1f} fps, min {min(fps):.1f} fps "
              f"({len(fps)} pages); audio energy rising on {heard}/{len(pages)} pages")
        for p in pages[::2]:
            p.evaluate("() => window.call.hangup()")
        time.sleep(2)
    finally:
        browser.close()
        pw.stop()
    runner = JobRunner(db)
    took = []
    for _ in call_ids:
        t = time.monotonic()
        if runner.run_once() is None:
            break
        took.append(time.monotonic() - t)
    from ketnoi.videocall.models import VcCall

    with db.session() as s:
        calls = [s.get(VcCall, c) for c in call_ids]
        lengths = [(c.recording_status, c.recording_seconds,
                    (c.ended_at - c.answered_at).total_seconds() if c.ended_at and c.answered_at else None)
                   for c in calls]
    if took:
        print(f"  recordings: {len(took)} built, {sum(took) / len(took):.1f} s each on average "
              f"(max {max(took):.1f} s), one job at a time")
    for status, secs, talk in lengths:
        print(f"    {status:8s} file {secs or 0:6.1f} s for a call of {talk or 0:6.1f} s")
    server.should_exit = True
    thread.join(10)
    stop_janus(janus)
    rec = subprocess.run(["du", "-sh", str(settings.data_dir / "recordings")], check=False, capture_output=True,
                         text=True)
    print(f"  recordings on disk: {rec.stdout.split()[0] if rec.stdout else '?'}")


if __name__ == "__main__":
    main()
