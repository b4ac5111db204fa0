"""The PBX console in headless Chromium: a sound file uploaded through the form is converted and then
decoded by the browser's own <audio> element (8 kHz WAV served with Range support), and a call's
recording plays on its detail page for a holder of ``telephony.recordings`` (CC-12, CC-21)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from ketnoi.telephony.pbx import cdr
from tests.conftest import PASSWORD
from tests.telephony.pbx.conftest import TELEPHONY_ROLES, wav_bytes

pytestmark = pytest.mark.browser

AUDIO_DURATION = """(sel) => new Promise((resolve, reject) => {
  const a = document.querySelector(sel);
  if (a.readyState >= 1) return resolve(a.duration);
  a.addEventListener('loadedmetadata', () => resolve(a.duration));
  a.addEventListener('error', () => reject(new Error('audio error ' + (a.error && a.error.code))));
  a.preload = 'metadata';
  a.load();
})"""


def sign_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_uploaded_prompt_plays_in_the_browser(new_page, world, tmp_path):
    world.user("tongdai", roles=TELEPHONY_ROLES)
    page = new_page()
    sign_in(page, "tongdai")
    page.goto("/telephony/sounds/new")
    source = tmp_path / "loi-chao.wav"
    source.write_bytes(wav_bytes(1.2, 22050, 2))
    page.set_input_files("#f-file", str(source))
    page.get_by_label("Tên").fill("Lời chào thử")
    page.get_by_role("button", name="Tải lên").click()
    expect(page.locator(".alert.ok")).to_contain_text("đã chuyển sang WAV 8 kHz")
    expect(page.get_by_role("cell", name="Lời chào thử", exact=True)).to_be_visible()
    duration = page.evaluate(AUDIO_DURATION, "audio[aria-label='Nghe Lời chào thử']")
    assert abs(duration - 1.2) < 0.05
    # the banner offers Apply, and Apply clears it
    banner = page.locator("#pbx-unapplied")
    expect(banner).to_contain_text("chưa được áp dụng")
    banner.get_by_role("button", name="Áp dụng cấu hình").click()
    expect(page.locator(".alert.ok")).to_contain_text("Đã áp dụng cấu hình tổng đài")
    expect(page.locator("#pbx-unapplied")).to_have_count(0)


def test_call_recording_plays_for_holders_of_the_role(new_page, world, database):
    world.user("nghe", roles=["telephony.recordings"])
    folder = cdr.recording_dir(world.org_a)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "b.wav").write_bytes(wav_bytes(2.0, 8000, 2))
    with database.session() as s:
        call = cdr.start_call(s, organization_id=world.org_a, direction="inbound", caller="0912345678",
                              called="1022")
        cdr.end_call(s, call, disposition="answered", hangup_by="caller", recording_path=folder / "b.wav")
    page = new_page()
    sign_in(page, "nghe")
    page.goto("/telephony/calls")
    page.get_by_role("link", name=re.compile(r"\d\d:\d\d:\d\d")).first.click()
    expect(page).to_have_url(re.compile(rf"/telephony/calls/{call}$"))
    assert abs(page.evaluate(AUDIO_DURATION, "#call-recording") - 2.0) < 0.05
