"""Video calls end to end (VC-01…14): two headless Chromium pages with fake camera and microphone, a
real Janus, the real app. The caller page signs the call, routing picks the group of the caller's
unit, the agent's console rings and answers, media flows both ways (WebRTC stats), the camera
switches, the caller's network drops and the call recovers, the call ends, the recording is one
playable file of about the call's length, and the call's API record holds the whole timeline."""

from __future__ import annotations

import json
import re
import subprocess
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from ketnoi.jobs.runner import JobRunner
from ketnoi.videocall.signing import signed_headers
from tests.browser_fixtures import CHROMIUM, CHROMIUM_ARGS, HUB_SPY, TIMEOUT_MS
from tests.conftest import PASSWORD
from tests.videocall.harness import JANUS_MISSING, start_janus, stop_janus, switchboard, use_janus

pytestmark = [pytest.mark.browser, pytest.mark.skipif(JANUS_MISSING, reason="Janus (Debian package 'janus') missing")]
MEDIA_ARGS = ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
              "--allow-loopback-in-peer-connection", "--autoplay-policy=no-user-gesture-required"]
MEDIA_WAIT_MS = 30_000  # ICE, DTLS and the first decoded frames on two busy cores


@pytest.fixture(scope="module")
def janus():
    server = start_janus()
    yield server
    stop_janus(server)


@pytest.fixture(scope="module")
def media_browser(browser):
    """A second Chromium of the same Playwright instance, with fake devices for getUserMedia."""
    b = browser.browser_type.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS + MEDIA_ARGS)
    yield b
    b.close()


@pytest.fixture
def media_page(media_browser, live_server, janus, monkeypatch):
    use_janus(monkeypatch, janus)
    contexts = []

    def make() -> Page:
        ctx = media_browser.new_context(base_url=live_server, locale="vi-VN", permissions=["camera", "microphone"])
        ctx.set_default_timeout(TIMEOUT_MS)
        ctx.add_init_script(HUB_SPY)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page).not_to_have_url(re.compile(r"/login"))


def open_desk(page: Page, username: str) -> None:
    sign_in(page, username)
    page.goto("/videocall/agent")
    page.wait_for_function("() => (window.__hubEvents || []).includes('hub.ready')")
    page.get_by_role("button", name="Sẵn sàng").click()
    expect(page.locator("#vc-agent-status")).to_have_attribute("data-status", "available")


def place_call(page: Page, board, caller_id: str, unit: str) -> None:
    page.goto("/static/videocall/caller.html")
    page.get_by_label("Mã khóa API").fill(board.key_id)
    page.get_by_label("Khóa bí mật").fill(board.secret)
    page.get_by_label("Mã tài khoản người gọi").fill(caller_id)
    page.get_by_label("Họ tên").fill("Nguyễn Văn Bán Hàng")
    page.get_by_label("Đơn vị").fill(unit)
    page.get_by_role("button", name="Gọi video").click()


MEDIA_STATS = """async () => {
  const call = window.__vc.call;
  const out = {frames: 0, energy: 0, sent: 0, state: call && call.state};
  if (!call || !call.subPc) return out;
  (await call.subPc.getStats()).forEach((s) => {
    if (s.type === 'inbound-rtp' && s.kind === 'video') out.frames = s.framesDecoded || 0;
    if (s.type === 'inbound-rtp' && s.kind === 'audio') out.energy = s.totalAudioEnergy || 0;
  });
  if (call.pubPc) (await call.pubPc.getStats()).forEach((s) => {
    if (s.type === 'outbound-rtp' && s.kind === 'video') out.sent = s.framesEncoded || 0;
  });
  return out;
}"""


def wait_media(page: Page, frames_above: int = 0) -> dict:
    """Until this page decodes video frames (more than ``frames_above``) and hears audio energy.
    (Polled from here: wait_for_function does not await a predicate's promise.)"""
    deadline = time.monotonic() + MEDIA_WAIT_MS / 1000
    while True:
        stats = page.evaluate(MEDIA_STATS)
        if stats["frames"] > frames_above and stats["energy"] > 0:
            return stats
        assert time.monotonic() < deadline, f"no media received: {stats}"
        time.sleep(0.5)


def signed_get(live_server: str, board, path: str) -> httpx.Response:
    return httpx.get(live_server + path, headers=signed_headers(board.key_id, board.secret, "GET", path))


def test_signed_call_routed_answered_recorded(media_page, new_page, world, database, live_server, janus):
    board = switchboard(world, agents={"dpvhn": ["HN"], "dpvkhac": ["KHAC"]})
    agent = media_page()
    open_desk(agent, "dpvhn")
    other = media_page()  # an agent of another group: must not ring
    open_desk(other, "dpvkhac")

    caller = media_page()
    place_call(caller, board, "NV-0001", "HN")
    expect(caller.locator('[data-f="connection"]')).to_have_attribute("data-state", re.compile("ringing|waiting"))
    # the queue's waiting file plays while the call rings (VC-16)
    announcer = caller.locator("#vc-announcer")
    expect(announcer).to_have_attribute("data-src", f"/api/v1/videocall/media/{board.files['waiting']}")
    assert caller.evaluate("document.querySelector('#vc-announcer').loop") is True
    ring = agent.locator("[data-ring]")
    expect(ring).to_contain_text("Nguyễn Văn Bán Hàng")
    ring.get_by_role("button", name="Nhận").click()

    # media both ways, through Janus; the start greeting replaces the waiting file (VC-18)
    expect(announcer).to_have_attribute("data-src", f"/api/v1/videocall/media/{board.files['greeting_start']}")
    expect(caller.locator('[data-f="connection"]')).to_have_attribute("data-state", "connected", timeout=MEDIA_WAIT_MS)
    expect(agent.locator('[data-f="connection"]')).to_have_attribute("data-state", "connected", timeout=MEDIA_WAIT_MS)
    at_caller = wait_media(caller)
    at_agent = wait_media(agent)
    assert at_caller["frames"] > 0 and at_caller["energy"] > 0
    assert at_agent["frames"] > 0 and at_agent["energy"] > 0
    assert "ringing" not in other.evaluate("window.__vc.events")
    # live status on both sides (VC-07)
    expect(caller.locator('[data-f="callee"]')).to_have_text("ĐTV dpvhn")
    expect(agent.locator('[data-f="caller"]')).to_have_text("Nguyễn Văn Bán Hàng")
    expect(agent.locator('[data-f="hotline"]')).to_contain_text("1022")

    # camera switch without dropping the call (VC-05)
    before = caller.evaluate("window.__vc.call.local.getVideoTracks()[0].id")
    caller.get_by_role("button", name="Đổi camera").click()
    caller.wait_for_function("() => window.__vc.events.includes('camera:environment')")
    after = caller.evaluate("window.__vc.call.videoTx.sender.track.id")
    assert after != before
    wait_media(agent, frames_above=agent.evaluate(MEDIA_STATS)["frames"] + 10)
    assert caller.evaluate("window.__vc.call.state") == "connected"

    # the caller's network goes down for a few seconds; the call recovers (VC-08, 14)
    caller.evaluate("window.__vc.call.simulateNetworkLoss(4000)")
    caller.wait_for_function("() => window.__vc.events.some((e) => e.startsWith('reconnected:'))", timeout=MEDIA_WAIT_MS)
    wait_media(agent, frames_above=agent.evaluate(MEDIA_STATS)["frames"] + 10)
    time.sleep(1)

    # a slow link: the caller drops to audio only, then back to video (VC-15)
    caller.evaluate("window.__vc.call.setMode('audio')")
    time.sleep(2)
    paused = wait_media(agent)
    time.sleep(2)
    still = wait_media(agent)
    assert still["frames"] - paused["frames"] < 10 and still["energy"] > paused["energy"], (paused, still)
    caller.evaluate("window.__vc.call.setMode('video')")
    wait_media(agent, frames_above=still["frames"] + 10)

    caller.get_by_role("button", name="Kết thúc").click()
    expect(agent.locator("#vc-message")).to_contain_text("Người gọi kết thúc", timeout=MEDIA_WAIT_MS)
    expect(announcer).to_have_attribute("data-src", f"/api/v1/videocall/media/{board.files['greeting_end']}")

    # the call's record (VC-12), as the partner sees it
    call_id = caller.evaluate("window.__vc.started.call.id")
    rec = signed_get(live_server, board, f"/api/v1/videocall/calls/{call_id}")
    assert rec.status_code == 200, rec.text
    call = rec.json()
    types = [e["type"] for e in call["timeline"]]
    for t in ("created", "queued", "routed", "ringing", "answered", "joined", "media_connected", "camera",
              "reconnecting", "reconnected", "quality_mode", "ended"):
        assert t in types, (t, [(e["type"], e["message"]) for e in call["timeline"]])
    assert call["routing_path"][0]["group"] == "HN"
    ringing = next(e for e in call["timeline"] if e["type"] == "ringing")
    assert ringing["data"]["agents"] == [board.agents["dpvhn"]]
    assert call["agent_name"] == "ĐTV dpvhn" and call["end_reason"] == "caller_hangup"
    assert call["reconnects"] >= 1 and call["recording_status"] == "pending"

    # the recording: one file with video and audio of about the call's length (VC-12)
    runner = JobRunner(database)
    assert runner.run_once() is not None
    call = signed_get(live_server, board, f"/api/v1/videocall/calls/{call_id}").json()
    assert call["recording_status"] == "ready", call
    path = f"/api/v1/videocall/calls/{call_id}/recording"
    r = httpx.get(live_server + path, headers=signed_headers(board.key_id, board.secret, "GET", path))
    assert r.status_code == 200 and r.headers["content-type"] == "video/webm"
    probe = json.loads(subprocess.run(["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", "-"],
                                      input=r.content, capture_output=True, check=True).stdout)
    kinds = {s["codec_type"] for s in probe["streams"]}
    assert kinds == {"video", "audio"}, probe["streams"]
    length = float(probe["format"]["duration"])
    talk = call["talk_seconds"]
    assert talk * 0.5 <= length <= talk + 5, (length, talk)


def test_agent_login_on_another_device_ends_the_first_session_and_its_call(media_page, world):
    """VC-10: one account, one device. The agent's second login ends the first console session, which
    is told why; the call that session was serving ends with that reason on the caller's screen."""
    board = switchboard(world, agents={"dpvhn": ["HN"]})
    first = media_page()
    open_desk(first, "dpvhn")
    caller = media_page()
    place_call(caller, board, "NV-0002", "HN")
    first.locator("[data-ring]").get_by_role("button", name="Nhận").click()
    expect(caller.locator('[data-f="connection"]')).to_have_attribute("data-state", "connected", timeout=MEDIA_WAIT_MS)

    second = media_page()
    sign_in(second, "dpvhn")
    expect(first.locator(".toast")).to_contain_text("đăng nhập trên thiết bị khác")
    expect(first).to_have_url(re.compile(r"/login\?ended="))
    expect(caller.locator("#vc-message")).to_contain_text("Tài khoản đăng nhập trên thiết bị khác")
    expect(caller.locator('[data-f="connection"]')).to_have_attribute("data-state", "ended")
